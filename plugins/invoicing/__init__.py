"""The invoicing plugin."""
