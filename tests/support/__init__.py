"""Test helpers that are real infrastructure, not fakes (e.g. a TCP proxy)."""
