"""An example Fireside plugin (see docs/writing_plugins.md)."""
