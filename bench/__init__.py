"""Benchmarks for Fireside: synthetic data, load generators and profiles (see README.md)."""
