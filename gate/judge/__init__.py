"""The judge: pure functions from policy and evidence to checks and one verdict."""
