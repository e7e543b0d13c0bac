"""The prescriptions plugin."""
