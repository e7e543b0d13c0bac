"""What a serving process does once, after building its app and before taking requests.

A worker's heap after start-up holds about a quarter of a million long-lived objects: the
FHIR definitions, the search parameters, the plugins, SQLAlchemy's tables. CPython's
collector traverses all of them on every full (oldest-generation) collection, about 140 ms
on the development VM, and a busy worker triggers one every few seconds: the audit writer's
batches alone make enough survivors. That is CPU taken from requests and a pause of the
whole worker, the requests it holds included. Loading what the first requests would load
lazily and then freezing the heap (``gc.freeze``) takes those objects out of every later
collection. Tests and tools that build many apps in one process never call this: what is
frozen is never collected.
"""

from __future__ import annotations

import gc

from platform_core.fhir.definitions import (
    element_model,
    invariants,
    required_value_sets,
    resource_types,
    search_parameters,
)
from platform_core.fhir.search.registry import OFFICIAL


def prepare_to_serve() -> None:
    """Load the lazily built state every worker ends up with, then freeze the heap; call
    it once the app is built.

    Only static state is loaded, never from the database: a worker must boot (and answer
    503 on ``/readyz``) while its database is away."""
    search_parameters()
    invariants()
    required_value_sets()
    for resource_type in resource_types():
        element_model(resource_type)
        OFFICIAL.indexed_parameters(resource_type)
    gc.collect()
    gc.freeze()
