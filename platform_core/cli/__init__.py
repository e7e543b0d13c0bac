"""The implementations behind ``manage.py``'s commands."""
