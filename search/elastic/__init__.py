"""The Elasticsearch backend (``search_backend = \"elasticsearch\"``)."""
