"""The embedded backend: global search in the app's own database (SQLite or PostgreSQL)."""
