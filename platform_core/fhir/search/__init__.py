"""FHIR search: parameter definitions, index extraction on write, and query execution.

Flow: :mod:`.registry` knows every search parameter per resource type (from the official R4
definitions); :mod:`.extract` turns a resource into index rows on every write; :mod:`.parse`
turns query parameters into a typed :class:`.model.SearchRequest`; :mod:`.sql` builds the SQL.
"""
