"""Spiders of the benchmark project."""
