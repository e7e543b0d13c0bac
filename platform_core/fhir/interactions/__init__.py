"""Handlers of the FHIR RESTful interactions, one module per family.

Every handler has the same shape, ``handler(env, request, route, conn) -> FhirResponse``:
``conn`` is the open write transaction of a transaction Bundle, or None for a standalone
request, which then opens its own.
"""
