"""Benchmarks; each names the command that produced its figures."""
