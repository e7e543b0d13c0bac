"""The core's own plugins: fallbacks that answer when no installed plugin does."""
