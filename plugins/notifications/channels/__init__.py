"""Delivery channels: email, SMS and push, each behind a small adapter."""
