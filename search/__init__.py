"""Global search: one ranked search box over patients, practitioners, medications and any
content a plugin registers, always narrowed to what the caller may see.

``search.backend`` is the interface; ``search.embedded`` answers it from the app's own
database (SQLite FTS5, PostgreSQL full text with pg_trgm) and ``search.elastic`` from an
Elasticsearch cluster. ``search.plugin`` wires it into Fireside (``docs/global_search.md``).
"""
