"""SQL storage of resources, versions and match keys (no policy: the repository owns that)."""
