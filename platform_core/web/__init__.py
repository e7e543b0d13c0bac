"""HTTP adapters: Flask blueprints that translate HTTP to and from the core's services."""
