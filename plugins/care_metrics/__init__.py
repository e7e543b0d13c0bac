"""The care_metrics plugin."""
