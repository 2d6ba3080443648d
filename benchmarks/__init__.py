"""Throughput and overhead measurements (benchmarks, not tests)."""
