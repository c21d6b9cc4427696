"""Helpers for the tests and benchmarks (not needed to train or run a model)."""
