"""Benchmarks (`make bench`): each bench_*.py module measures side by side and prints its figures."""
