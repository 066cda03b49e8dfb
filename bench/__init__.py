"""Benchmarks: measured by scripts, never by timed tests."""
