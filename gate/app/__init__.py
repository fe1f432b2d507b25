"""The application layer: one gate run from config to RunResult (prepare, serve, measure, judge)."""
