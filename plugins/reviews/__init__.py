"""The reviews plugin."""
