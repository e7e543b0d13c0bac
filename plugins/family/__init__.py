"""The family plugin."""
