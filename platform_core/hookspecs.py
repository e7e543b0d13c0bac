"""Every hook a Fireside plugin can implement.

A plugin is a module or object with functions marked ``@hookimpl`` (``from platform_core
import hookimpl``) and named after the hooks below. Each spec says when it fires, what of
its effect persists, and what an exception does: either it **aborts** the operation (the
caller gets a clear error, nothing is written) or it is **logged** and the operation goes on.
``docs/plugin_hooks.md`` has one section per hook with an example; a test checks each hook
is documented there and has a test of its own.

Call sites in the core carry a ``# hook: NAME`` comment, so ``grep "hook: "`` finds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from platform_core import hookspec

if TYPE_CHECKING:
    from collections.abc import Callable

    import pluggy
    from flask import Blueprint

    from platform_core.fhir.context import RequestContext
    from platform_core.jobs.definitions import JobDefinition
    from platform_core.plugin_api import (
        Command,
        DocumentSource,
        FhirOperation,
        PendingWrite,
        ReadinessCheck,
        ResourceChange,
        ScopeDefinition,
        TextSearch,
    )


# --- setup: called once while an app, a worker or a command starts ---------------------


@hookspec
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    """Publish hooks of your own: call ``pm.add_hookspecs(your_specs_module)``.

    Fires once, after every plugin is registered and before any other hook is called, so
    other plugins' implementations of your hooks are validated against your specs.

    :param pm: the app's plugin manager.

    An exception aborts start-up: the specs of a plugin are part of its contract.
    """


@hookspec
def register_migrations() -> list[str]:
    """Alembic version directories of tables your plugin owns.

    Each directory holds a branch of its own (``branch_labels`` on its first revision,
    ``depends_on`` a core revision if it references core tables). ``python manage.py
    migrate`` and the app's start-up apply every branch.

    :return: absolute paths of version directories.

    An exception aborts the migration.
    """


@hookspec
def register_blueprints() -> list[Blueprint]:
    """Flask blueprints your plugin serves, by convention under ``/api/<plugin>``.

    Fires once when the web app is created. The views authorize their callers themselves
    (``platform_core.web.api_auth``).

    An exception aborts start-up.
    """


@hookspec
def register_commands() -> list[Command]:
    """Commands added to ``python manage.py``.

    Fires once when ``manage.py`` builds its parser. A name already taken by the core or by
    another plugin is refused at start-up.

    An exception aborts ``manage.py``.
    """


@hookspec
def register_scopes() -> list[ScopeDefinition]:
    """OAuth scopes your API checks (``pharmacy/orders.write``).

    The authorization server grants them to clients registered with them and lists them in
    ``scopes_supported`` of the SMART configuration.

    An exception aborts start-up.
    """


@hookspec
def register_operations() -> list[FhirOperation]:
    """Custom FHIR ``$operations``, each with its OperationDefinition.

    The FHIR router serves them at the levels the definition names, and the
    CapabilityStatement lists them. A code that clashes with a core operation is refused.

    An exception aborts start-up. An exception raised by a handler while it serves a call
    answers that call with an OperationOutcome (a ``FhirError`` keeps its status; anything
    else is a 500) and rolls back what the handler wrote.
    """


@hookspec
def register_search_backends() -> dict[str, Callable[[Any], Any]]:
    """Global search backends by name: ``{"elasticsearch": factory}``.

    A factory takes the core and returns a ``search.backend.SearchBackend``. The setting
    ``search_backend`` picks the one in use.

    An exception aborts start-up.
    """


@hookspec
def register_search_documents() -> list[DocumentSource]:
    """What your plugin wants to be found through ``/api/search``.

    FHIR types named here are indexed on every write (through the outbox) and by ``python
    manage.py reindex``; plugin-owned kinds are loaded by a reindex and kept current by the
    plugin (see ``docs/global_search.md``).

    An exception aborts start-up.
    """


@hookspec
def register_jobs() -> list[JobDefinition]:
    """Background jobs your plugin runs (``platform_core.jobs.JobDefinition``).

    A job runs after the commit of the transaction that enqueued it, in the web process
    (embedded default) or in a Celery worker; a job with ``resource_types`` is enqueued by
    every FHIR write of those types, in the write's own transaction; one with
    ``schedule_s`` runs periodically (``python manage.py beat``).

    An exception aborts start-up. A job that raises is retried with backoff and kept as
    failed after its last attempt (see ``docs/jobs.md``).
    """


@hookspec
def register_readiness_checks(core: Any) -> list[ReadinessCheck]:
    """Dependencies ``/readyz`` should check (a broker, a search cluster, a gateway).

    :param core: the app's core services (``platform_core.app.Core``).

    Fires once when the web app is created; each check runs on every ``/readyz`` call.
    A check that fails or raises makes ``/readyz`` answer 503 naming it.
    """


# --- FHIR: called while the FHIR API serves requests -----------------------------------


@hookspec
def prepare_capability_statement(statement: dict[str, Any]) -> None:
    """Adjust the CapabilityStatement served at ``/fhir/metadata`` in place.

    Fires each time the statement is built (every ``/metadata`` call, after the plugins'
    operations are added); the changes are part of the statement served.

    An exception is logged and the statement is served without that plugin's changes.
    """


@hookspec
def fhir_resource_before_write(write: PendingWrite) -> None:
    """A FHIR resource is about to be created, updated, patched or deleted.

    Fires inside the write's transaction, before validation, for writes through the API,
    transaction and batch Bundles, and imports. Changes made to ``write.resource`` persist:
    the changed resource is validated and stored.

    :param write: the pending write; ``write.resource`` is None for a delete.

    Raise ``platform_core.plugin_api.RejectWrite`` to refuse the write with a message (422
    by default); any other exception aborts the write with a 500. Nothing is written either
    way.
    """


@hookspec
def fhir_resource_after_commit(change: ResourceChange) -> None:
    """A FHIR write has been committed.

    Fires in the writing process right after the commit, once per written resource. It
    cannot undo the write. It is not retried if the process dies: work that must happen
    belongs in a job with ``resource_types`` (``register_jobs``), which the outbox delivers.

    An exception is logged; the caller still gets its success.
    """


@hookspec
def fhir_search_narrowing(ctx: RequestContext, resource_type: str) -> str | None:
    """An extra access filter: a FHIR query every resource of ``resource_type`` must match
    to be seen by ``ctx``.

    Fires for every read, search, history and include of ``resource_type`` by a caller who
    is not internal. Return a query string (``organization=Organization/7``) or None. It is
    ANDed with the SMART scopes: it narrows, never widens.

    An exception aborts the request with a 500 (a filter that fails must not let data out).
    """


@hookspec(firstresult=True)
def fhir_text_search(search: TextSearch) -> list[str] | None:
    """Answer a FHIR ``_text`` or ``_content`` search: the ids that match, best first.

    Stops at first non-None result. The core's fallback (``trylast``) answers 400
    "not supported" when no global search plugin is active.

    Raise ``FhirError`` to answer with an error; any other exception is a 500.
    """
