"""Benchmarks: chatapp against a hand-written baseline (`make bench`, see docs/BENCHMARKS.md)."""
