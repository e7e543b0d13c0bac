"""The notifications plugin."""
