#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, types, unit and end-to-end tests
# (the end-to-end tests start the real tritonserver and run the real perf_analyzer).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check gate tests benchmarks fixtures
.venv/bin/mypy
# pytest exits 5 when it collects no tests: that is a failure here, never a silent pass.
.venv/bin/pytest "$@"
