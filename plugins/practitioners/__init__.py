"""The practitioners plugin."""
