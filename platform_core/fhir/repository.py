"""The repository: the one choke point for every read and write of a FHIR resource.

Whoever calls it (REST, a transaction bundle, a plugin, an import, a job), every interaction
goes through here, so access checks, validation, server-owned metadata, versioning and the
search index happen the same way each time. Each public method: check access, do the work
on the caller's connection, and turn storage conflicts into FHIR errors.

Writes take a connection from :meth:`Repository.transaction`, so several writes (a
transaction Bundle) commit or roll back together.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from platform_core.config import Settings
from platform_core.db import aliases
from platform_core.db.engine import after_commit, write_transaction
from platform_core.db.schema import match_key_table, resource_table
from platform_core.fhir import definitions, error_codes, jsonio
from platform_core.fhir.access import AccessFilter, AccessPolicy, AllowAll
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError, Issue
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.fhir.provenance import provenance_for
from platform_core.fhir.search import custom
from platform_core.fhir.search.custom import CustomParameters
from platform_core.fhir.search.extract import index_rows
from platform_core.fhir.search.includes import resolve_includes
from platform_core.fhir.search.model import Criterion, SearchRequest
from platform_core.fhir.search.parse import TEXT_PARAMETERS, parse_search
from platform_core.fhir.search.registry import SearchRegistry
from platform_core.fhir.search.reindex import Reindexer
from platform_core.fhir.search.sql import Page, count_matches, estimate_matches, run_search
from platform_core.fhir.search.valuesets import expand_in_criteria
from platform_core.fhir.storage import history as history_sql
from platform_core.fhir.storage import store
from platform_core.fhir.storage.records import StoredResource
from platform_core.plugin_api import PendingWrite, RejectWrite, ResourceChange, TextSearch

log = logging.getLogger(__name__)

TEXT_SEARCH_LIMIT = 10_000
"""Most matches a ``_text``/``_content`` criterion narrows a search to (best first)."""

Validator = Callable[..., list[Issue]]
"""Key in ``Connection.info`` of the callbacks to run once the transaction has committed."""


@dataclass(frozen=True)
class WriteResult:
    """The outcome of a write: the stored version and whether a resource was created."""

    stored: StoredResource
    created: bool


@dataclass(frozen=True)
class SearchPage:
    """One page of search results."""

    matches: list[StoredResource]
    next_cursor: str | None
    total: int | None
    included: list[StoredResource] = field(default_factory=list)
    previous_cursor: str | None = None


class ItemFailed(Exception):
    """Item ``index`` of a multi-item write failed with ``error``."""

    def __init__(self, index: int, error: FhirError) -> None:
        super().__init__(f"item {index}: {error}")
        self.index = index
        self.error = error


def new_id() -> str:
    """A server-assigned logical id."""
    return str(uuid.uuid4())


def match_key(request: SearchRequest) -> str:
    """The normalised, hashed form of a conditional-create condition."""
    parts = sorted((c.raw_name, ",".join(sorted(c.values))) for c in request.criteria)
    text = request.resource_type + "?" + "&".join(f"{k}={v}" for k, v in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Repository:
    """Stores and retrieves FHIR resources under an access policy."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        validator: Validator,
        policy: AccessPolicy | None = None,
        read_engine: Engine | None = None,
        side_engine: Engine | None = None,
        hooks: Any = None,
    ) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine
        self.settings = settings
        self.base_url = settings.fhir_base_url
        self.policy: AccessPolicy = policy or AllowAll()
        self._validator = validator
        self.side_engine = side_engine or engine
        """Where the snapshot of custom search parameters is loaded from: its own
        connection (``db.engine.create_side_engine``), since the snapshot may be refreshed
        in the middle of a write transaction."""
        self.custom = CustomParameters(self.side_engine)
        self.reindexer = Reindexer(self)
        self.hooks = hooks
        """The plugin hooks (``PluginHost.hook``), or None: no plugins."""
        self.write_listeners: list[
            Callable[[Connection, ResourceChange, dict[str, Any] | None], None]
        ] = []
        """Called inside each write's transaction with the resource as stored (None for a
        delete): the jobs service triggers its jobs from here."""
        self.core: Any = None
        """The core services this repository belongs to (set by ``build_core``), handed to
        plugins in :class:`PendingWrite`."""

    # --- connections -------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed when the block ends cleanly (then
        the work registered with ``db.engine.after_commit`` runs)."""
        with write_transaction(self.engine) as conn:
            yield conn

    @contextmanager
    def _reader(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.read_engine.connect() as own:
            yield own

    # --- search parameters -------------------------------------------------------------
    def registry(self) -> SearchRegistry:
        """The search parameters in force: official R4 plus custom SearchParameters."""
        return self.custom.registry()

    def parse_search(
        self, resource_type: str, params: list[tuple[str, str]], *, lenient: bool = False
    ) -> SearchRequest:
        """Parse a search against the parameters in force."""
        return parse_search(
            resource_type, params, self.settings, lenient=lenient, reg=self.registry()
        )

    def _after_write(
        self,
        ctx: RequestContext,
        conn: Connection,
        stored: StoredResource,
        body: dict[str, Any] | None,
    ) -> None:
        """Effects of a write that belong to its transaction: the Provenance of a write made
        through the API, what a SearchParameter changes, the jobs the write triggers; and
        the ``fhir_resource_after_commit`` hook, once it has committed."""
        change = ResourceChange(
            "delete" if body is None else "create" if stored.version_id == 1 else "update",
            stored.resource_type,
            stored.id,
            stored.version_id,
            stored.last_updated,
            body is None,
            ctx.actor,
        )
        for listener in self.write_listeners:
            listener(conn, change, body)
        if self.hooks is not None and self.hooks.fhir_resource_after_commit.get_hookimpls():
            after_commit(conn, lambda: self._fire_after_commit(change))
        if not ctx.internal:
            provenance_id = new_id()
            provenance = with_meta(
                provenance_for(ctx, stored), provenance_id, 1, stored.last_updated
            )
            content = jsonio.dumps(provenance).decode("utf-8")
            store.insert_new_indexed(
                conn,
                "Provenance",
                provenance_id,
                stored.last_updated,
                content,
                "POST",
                self._index_rows("Provenance", provenance),
            )
        if stored.resource_type != "SearchParameter":
            return
        if body is None:
            custom.retire(conn, stored.id)
            after_commit(conn, self.custom.invalidate)
        elif custom.register(conn, stored.id, body):
            after_commit(conn, self.custom.invalidate)
            after_commit(conn, lambda: self.reindexer.start(stored.id))

    def _fire_after_commit(self, change: ResourceChange) -> None:
        try:
            # hook: fhir_resource_after_commit
            self.hooks.fhir_resource_after_commit(change=change)
        except Exception:  # documented: logged, the write stands
            log.exception(
                "a plugin failed in fhir_resource_after_commit for %s/%s",
                change.resource_type,
                change.resource_id,
            )

    def _before_write(
        self,
        ctx: RequestContext,
        interaction: str,
        resource_type: str,
        resource_id: str | None,
        resource: dict[str, Any] | None,
        conn: Connection,
    ) -> dict[str, Any] | None:
        """Let the plugins change or refuse a write; the resource as they left it."""
        if self.hooks is None or not self.hooks.fhir_resource_before_write.get_hookimpls():
            return resource
        write = PendingWrite(
            interaction, resource_type, resource_id, resource, ctx, conn, self.core
        )
        try:
            # hook: fhir_resource_before_write
            self.hooks.fhir_resource_before_write(write=write)
        except RejectWrite as exc:
            raise FhirError.of(
                exc.status, error_codes.PLUGIN_REJECTED, exc.message, exc.expression
            ) from None
        except FhirError:
            raise
        except Exception:
            log.exception("a plugin failed in fhir_resource_before_write")
            raise FhirError.of(
                500,
                error_codes.PLUGIN_FAILED,
                "A plugin failed while checking this write; nothing was written",
            ) from None
        return write.resource

    # --- validation --------------------------------------------------------------------
    def validate(self, resource: Any, *, expect_type: str | None = None) -> list[Issue]:
        """Every validation issue of ``resource`` (empty when valid)."""
        return self._validator(resource, expect_type=expect_type)

    def _require_valid(self, resource: Any, expect_type: str) -> None:
        issues = self.validate(resource, expect_type=expect_type)
        errors = [i for i in issues if i.severity in {"error", "fatal"}]
        if errors:
            raise FhirError(400, errors)

    # --- reads -------------------------------------------------------------------------
    def read(
        self,
        ctx: RequestContext,
        resource_type: str,
        resource_id: str,
        *,
        conn: Connection | None = None,
    ) -> StoredResource:
        """The current version; 404 if it never existed, 410 if deleted."""
        access = self.policy.check(ctx, "read", resource_type)
        with self._reader(conn) as c:
            stored = store.read_current(c, resource_type, resource_id)
            if stored is not None and not self._reaches(c, access, [stored]):
                stored = None  # out of reach reads exactly like unknown
        if stored is None:
            raise FhirError.of(
                404, error_codes.NOT_FOUND, f"{resource_type}/{resource_id} is not known"
            )
        if stored.deleted:
            raise FhirError.of(
                410,
                error_codes.GONE,
                f"{resource_type}/{resource_id} was deleted",
                headers={"ETag": stored.etag},
            )
        return stored

    def vread(
        self,
        ctx: RequestContext,
        resource_type: str,
        resource_id: str,
        version_id: str,
        *,
        conn: Connection | None = None,
    ) -> StoredResource:
        """One version; 404 if unknown, 410 if that version is a delete. ``conn``: read in
        the caller's transaction (a job's) instead of on a connection of its own."""
        access = self.policy.check(ctx, "vread", resource_type)
        if not version_id.isdigit() or len(version_id) > 9:
            raise FhirError.of(
                404, error_codes.VERSION_NOT_FOUND, f"Version {version_id!r} is not known"
            )
        with self._reader(conn) as c:
            stored = store.read_version(c, resource_type, resource_id, int(version_id))
            if stored is not None and not self._reaches(c, access, [stored]):
                stored = None
        if stored is None:
            raise FhirError.of(
                404,
                error_codes.VERSION_NOT_FOUND,
                f"{resource_type}/{resource_id} has no version {version_id}",
            )
        if stored.deleted:
            raise FhirError.of(
                410,
                error_codes.GONE,
                f"{resource_type}/{resource_id} version {version_id} is a delete",
            )
        return stored

    def search(
        self,
        ctx: RequestContext,
        request: SearchRequest,
        *,
        conn: Connection | None = None,
        limit: int | None = None,
    ) -> SearchPage:
        """One page of matches of a parsed search."""
        request.access = self.policy.check(ctx, "search", request.resource_type)
        self._resolve_text(ctx, request)
        with self._reader(conn) as c, aliases.statements():
            expand_in_criteria(c, request)
            if request.summary == "count":
                found = Page([], None, None)  # the count alone is asked for
            else:
                found = run_search(c, request, self.base_url, limit=limit)
            matches, cursor = found.matches, found.next_cursor
            total = None
            if request.total == "accurate" or request.summary == "count":
                total = count_matches(c, request, self.base_url)
            elif request.total == "estimate":
                total = estimate_matches(c, request, self.base_url)
            elif request.total != "none" and cursor is None and request.cursor is None:
                total = len(matches)
            included = []
            if request.includes and matches:
                included = self._reachable_only(
                    ctx, c, resolve_includes(c, request.includes, matches)
                )
                if request.include_types is not None:
                    included = [i for i in included if i.resource_type in request.include_types]
                if request.since is not None:
                    included = [i for i in included if i.last_updated >= request.since]
        return SearchPage(matches, cursor, total, included, found.previous_cursor)

    def _resolve_text(self, ctx: RequestContext, request: SearchRequest) -> None:
        """Replace ``_text``/``_content`` criteria by the ids the global search finds."""
        if not any(c.param.code in TEXT_PARAMETERS for c in request.criteria):
            return
        id_param = self.registry().parameters_for(request.resource_type)["_id"]
        resolved = []
        for criterion in request.criteria:
            if criterion.param.code not in TEXT_PARAMETERS:
                resolved.append(criterion)
                continue
            search = TextSearch(
                request.resource_type,
                criterion.param.code,
                criterion.values[0],
                ctx,
                TEXT_SEARCH_LIMIT,
            )
            # hook: fhir_text_search
            ids = None if self.hooks is None else self.hooks.fhir_text_search(search=search)
            if ids is None:
                raise FhirError.of(
                    400,
                    error_codes.UNSUPPORTED_SEARCH_FEATURE,
                    f"{criterion.param.code} is not supported: no global search is active",
                    criterion.raw_name,
                )
            # "" is no resource's id (ids have 1 to 64 characters): no match then. (Not a NUL
            # character: PostgreSQL refuses those in text.)
            values = tuple(ids[:TEXT_SEARCH_LIMIT]) or ("",)
            resolved.append(Criterion(id_param, None, values, criterion.raw_name))
        request.criteria = resolved

    def find(
        self,
        ctx: RequestContext,
        resource_type: str,
        query: str,
        *,
        conn: Connection | None = None,
    ) -> list[StoredResource]:
        """Resources matching a condition (``identifier=x&...``), at most two (enough to
        tell none, one and many apart). Used by conditional interactions and references."""
        request = self.parse_condition(resource_type, query)
        return self.search(ctx, request, conn=conn, limit=2).matches

    def find_one(
        self,
        ctx: RequestContext,
        resource_type: str,
        query: str,
        *,
        conn: Connection | None = None,
    ) -> StoredResource | None:
        """The one resource matching a condition, None when none does; 412 when several do
        (the answer FHIR gives for conditional interactions)."""
        matches = self.find(ctx, resource_type, query, conn=conn)
        if len(matches) > 1:
            raise multiple_matches(resource_type, query)
        return matches[0] if matches else None

    def parse_condition(self, resource_type: str, query: str) -> SearchRequest:
        """Parse the search in a conditional interaction; it must have criteria."""
        pairs = parse_qsl(query, keep_blank_values=True)
        request = self.parse_search(resource_type, pairs)
        if not request.criteria:
            raise FhirError.of(
                400,
                error_codes.CONDITION_REQUIRED,
                f"The condition {query!r} has no search criteria",
            )
        return request

    def history(
        self,
        ctx: RequestContext,
        resource_type: str | None,
        resource_id: str | None,
        *,
        since: datetime | None,
        at: tuple[datetime, datetime] | None,
        count: int,
        cursor: str | None,
    ) -> tuple[list[StoredResource], str | None]:
        """A page of versions, newest first, and the cursor of the next page."""
        interaction = "history-instance" if resource_id else "history"
        access = self.policy.check(ctx, interaction, resource_type or "*")
        with self._reader(None) as c:
            if resource_type and resource_id:
                current = store.read_current(c, resource_type, resource_id)
                if current is None or not self._reaches(c, access, [current]):
                    raise FhirError.of(
                        404, error_codes.NOT_FOUND, f"{resource_type}/{resource_id} is not known"
                    )
                access = None  # the one resource is in reach
            types = [resource_type] if resource_type else list(definitions.resource_types())
            with aliases.statements():
                reach = None if access is None else access.clause(resource_table, types)
            return history_sql.page(
                c,
                resource_type,
                resource_id,
                since=since,
                at=at,
                count=count,
                cursor=cursor,
                reach=reach,
            )

    # --- writes ------------------------------------------------------------------------
    def create(
        self,
        ctx: RequestContext,
        conn: Connection,
        resource: dict[str, Any],
        *,
        resource_id: str | None = None,
        method: str = "POST",
    ) -> StoredResource:
        """Store a new resource (a client-given id only through update-as-create)."""
        resource_type = resource.get("resourceType", "")
        access = self.policy.check(ctx, "create", resource_type, resource)
        before = self._before_write(ctx, "create", resource_type, resource_id, resource, conn)
        resource = before or {}
        self._require_valid(resource, resource_type)
        rid_text = resource_id or new_id()
        now = now_utc()
        body = with_meta(resource, rid_text, 1, now)
        content = jsonio.dumps(body).decode("utf-8")
        index = self._index_rows(resource_type, body)
        stored = store.insert_new_indexed(
            conn, resource_type, rid_text, now, content, method, index
        )
        self._require_reach(conn, access, [stored])
        self._after_write(ctx, conn, stored, body)
        return stored

    def create_many(
        self,
        ctx: RequestContext,
        conn: Connection,
        items: list[tuple[dict[str, Any], str]],
        *,
        validate: bool = True,
    ) -> list[StoredResource]:
        """Store several new resources with pre-assigned ids in a few statements.

        Same checks and results as calling :meth:`create` for each, but the rows are written
        with one multi-row insert per table: a transaction Bundle of 200 creates costs a
        handful of round trips instead of 600. Raises :class:`ItemFailed` naming the item.
        ``validate=False`` skips validation for resources the server itself built (audit
        events), and only for internal callers.
        """
        now = now_utc()
        prepared: list[tuple[str, str, dict[str, Any], str]] = []
        filters: list[AccessFilter | None] = []
        for index, (resource, resource_id) in enumerate(items):
            resource_type = resource.get("resourceType", "")
            try:
                filters.append(self.policy.check(ctx, "create", resource_type, resource))
                if validate or not ctx.internal:
                    before = self._before_write(
                        ctx, "create", resource_type, resource_id, resource, conn
                    )
                    resource = before or {}
                    self._require_valid(resource, resource_type)
            except FhirError as exc:
                raise ItemFailed(index, exc) from None
            body = with_meta(resource, resource_id, 1, now)
            prepared.append((resource_type, resource_id, body, jsonio.dumps(body).decode()))
        stored = store.insert_new_many(
            conn, [(rtype, rid, now, content) for rtype, rid, _, content in prepared], "POST"
        )
        rows: dict[str, list[dict[str, Any]]] = {}
        for item, (resource_type, _, body, _) in zip(stored, prepared, strict=True):
            params = self.registry().indexed_parameters(resource_type)
            for kind, values in index_rows(
                resource_type, item.rid, body, params, self.base_url
            ).items():
                rows.setdefault(kind, []).extend(values)
        store.insert_index_rows(conn, rows)
        for index, (item, access) in enumerate(zip(stored, filters, strict=True)):
            try:
                self._require_reach(conn, access, [item])
            except FhirError as exc:
                raise ItemFailed(index, exc) from None
        for item, (_, _, body, _) in zip(stored, prepared, strict=True):
            self._after_write(ctx, conn, item, body)
        return stored

    def conditional_create(
        self,
        ctx: RequestContext,
        conn: Connection,
        resource: dict[str, Any],
        condition: str,
        *,
        resource_id: str | None = None,
    ) -> WriteResult:
        """Create unless a resource matches ``condition``; race-free through a match key."""
        resource_type = resource.get("resourceType", "")
        request = self.parse_condition(resource_type, condition)
        key = match_key(request)
        for _ in range(3):
            matches = self.search(ctx, request, conn=conn, limit=2).matches
            if len(matches) > 1:
                raise multiple_matches(resource_type, condition)
            if matches:
                return WriteResult(matches[0], created=False)
            try:
                with conn.begin_nested():
                    stored = self.create(ctx, conn, resource, resource_id=resource_id)
                    conn.execute(
                        sa.insert(match_key_table).values(
                            key_hash=key,
                            resource_type=resource_type,
                            match_url=f"{resource_type}?{condition}"[:2000],
                            rid=stored.rid,
                            created_at=stored.last_updated,
                        )
                    )
                return WriteResult(stored, created=True)
            except IntegrityError:
                # Another transaction claimed this condition and has committed by now (the
                # unique index waited for it). Search again: it normally finds that winner.
                if not self.search(ctx, request, conn=conn, limit=2).matches:
                    # The claim is stale: its resource no longer matches. Drop it.
                    conn.execute(
                        sa.delete(match_key_table).where(match_key_table.c.key_hash == key)
                    )
        raise FhirError.of(
            409, error_codes.CONCURRENT_WRITE, f"Conditional create on {condition!r} kept racing"
        )

    def update(
        self,
        ctx: RequestContext,
        conn: Connection,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any],
        *,
        if_match: int | None = None,
        method: str = "PUT",
        current: StoredResource | None = None,
    ) -> WriteResult:
        """Write a new version (or create with this id when none exists).

        ``current``: the current version of this resource as the caller read it with
        :meth:`read_for_update` in this same transaction, so it is not read a second time
        (a read-modify-write costs one read). Safe even if it is stale: the new version is
        written only on top of ``current.version_id`` (otherwise 409, nothing written)."""
        access = self.policy.check(ctx, "update", resource_type, resource)
        before = self._before_write(ctx, "update", resource_type, resource_id, resource, conn)
        resource = before or {}
        self._require_valid(resource, resource_type)
        if current is None or current.reference != f"{resource_type}/{resource_id}":
            current = store.read_current(conn, resource_type, resource_id, for_update=True)
        if current is not None and not current.deleted:
            self._require_reach(conn, access, [current])
        check_if_match(current, if_match, resource_type, resource_id)
        now = now_utc()
        if current is None:
            body = with_meta(resource, resource_id, 1, now)
            content = jsonio.dumps(body).decode("utf-8")
            try:
                with conn.begin_nested():
                    stored = store.insert_new(
                        conn, resource_type, resource_id, now, content, method
                    )
                    self._write_index(conn, stored, body)
                    self._require_reach(conn, access, [stored])
                self._after_write(ctx, conn, stored, body)
                return WriteResult(stored, created=True)
            except IntegrityError:
                # A concurrent update-as-create won the id: write on top of it instead.
                current = store.read_current(conn, resource_type, resource_id, for_update=True)
                if current is None:  # pragma: no cover - the winner rolled back meanwhile
                    raise _conflict(resource_type, resource_id) from None
                check_if_match(current, if_match, resource_type, resource_id)
        body = with_meta(resource, resource_id, current.version_id + 1, now)
        content = jsonio.dumps(body).decode("utf-8")
        params = self.registry().indexed_parameters(resource_type)
        index = index_rows(resource_type, current.rid, body, params, self.base_url)
        try:
            stored = store.write_next_version_indexed(conn, current, now, content, method, index)
        except (store.StaleVersionError, IntegrityError):
            raise _conflict(resource_type, resource_id) from None
        self._require_reach(conn, access, [stored])
        self._after_write(ctx, conn, stored, body)
        return WriteResult(stored, created=current.deleted)

    def delete(
        self,
        ctx: RequestContext,
        conn: Connection,
        resource_type: str,
        resource_id: str,
        *,
        if_match: int | None = None,
    ) -> StoredResource:
        """Soft-delete: a deleted version; the resource then reads as 410 Gone."""
        access = self.policy.check(ctx, "delete", resource_type)
        current = self._locked_in_reach(conn, access, resource_type, resource_id)
        check_if_match(current, if_match, resource_type, resource_id)
        if current.deleted:
            return current
        self._before_write(ctx, "delete", resource_type, resource_id, None, conn)
        try:
            stored = store.write_next_version_indexed(conn, current, now_utc(), None, "DELETE", {})
        except (store.StaleVersionError, IntegrityError):
            raise _conflict(resource_type, resource_id) from None
        store.delete_match_keys(conn, stored.rid)
        self._after_write(ctx, conn, stored, None)
        return stored

    def read_for_update(
        self, ctx: RequestContext, conn: Connection, resource_type: str, resource_id: str
    ) -> StoredResource:
        """The current version, locked for a read-modify-write (PATCH)."""
        access = self.policy.check(ctx, "patch", resource_type)
        current = self._locked_in_reach(conn, access, resource_type, resource_id)
        if current.deleted:
            raise FhirError.of(410, error_codes.GONE, f"{resource_type}/{resource_id} was deleted")
        return current

    # --- reach ---------------------------------------------------------------------------
    def _locked_in_reach(
        self,
        conn: Connection,
        access: AccessFilter | None,
        resource_type: str,
        resource_id: str,
    ) -> StoredResource:
        """The current version, locked for a write; 404 when it is unknown or out of reach
        (the two answer alike, so a write reveals nothing either)."""
        current = store.read_current(conn, resource_type, resource_id, for_update=True)
        if current is None or (not current.deleted and not self._reaches(conn, access, [current])):
            raise FhirError.of(
                404, error_codes.NOT_FOUND, f"{resource_type}/{resource_id} is not known"
            )
        return current

    @staticmethod
    def _reaches(
        conn: Connection, access: AccessFilter | None, resources: list[StoredResource]
    ) -> bool:
        """Whether every one of ``resources`` is within ``access`` (judged on the current
        row and its index, so a version is reached when its resource is)."""
        if access is None or not resources:
            return True
        fast = getattr(access, "reaches_one", None)
        if fast is not None and len(resources) == 1:
            one = resources[0]
            answer = fast(conn, one.resource_type, one.id, one.rid)
            if answer is not None:
                return bool(answer)
        rids = {r.rid for r in resources}
        types = sorted({r.resource_type for r in resources})
        with aliases.statements():
            reach = access.clause(resource_table, types)
        found = conn.execute(
            sa.select(resource_table.c.rid).where(resource_table.c.rid.in_(rids), reach)
        ).scalars()
        return set(found) == rids

    def _require_reach(
        self, conn: Connection, access: AccessFilter | None, resources: list[StoredResource]
    ) -> None:
        """Refuse (403, rolling the write back) a write that leaves its resource outside the
        caller's reach, such as a patient's token writing into another patient's record."""
        if not self._reaches(conn, access, resources):
            raise FhirError.of(
                403,
                error_codes.OUT_OF_REACH,
                "The resource is outside what this token may write "
                "(its patient compartment or its scope's query)",
            )

    def _reachable_only(
        self, ctx: RequestContext, conn: Connection, resources: list[StoredResource]
    ) -> list[StoredResource]:
        """The included resources the caller may read; the others are left out silently."""
        keep: set[int] = set()
        for resource_type in {r.resource_type for r in resources}:
            of_type = [r for r in resources if r.resource_type == resource_type]
            try:
                access = self.policy.check(ctx, "read", resource_type)
            except FhirError:
                continue
            if access is None:
                keep.update(r.rid for r in of_type)
                continue
            found = conn.execute(
                sa.select(resource_table.c.rid).where(
                    resource_table.c.rid.in_([r.rid for r in of_type]),
                    access.clause(resource_table, [resource_type]),
                )
            ).scalars()
            keep.update(found)
        return [r for r in resources if r.rid in keep]

    def _index_rows(
        self, resource_type: str, body: dict[str, Any]
    ) -> dict[str, list[dict[str, Any]]]:
        """Index rows of a resource not stored yet (``rid`` is filled in by the store)."""
        params = self.registry().indexed_parameters(resource_type)
        return index_rows(resource_type, 0, body, params, self.base_url)

    def _write_index(self, conn: Connection, stored: StoredResource, body: dict[str, Any]) -> None:
        params = self.registry().indexed_parameters(stored.resource_type)
        rows = index_rows(stored.resource_type, stored.rid, body, params, self.base_url)
        store.insert_index_rows(conn, rows)


def with_meta(
    resource: dict[str, Any], resource_id: str, version_id: int, last_updated: datetime
) -> dict[str, Any]:
    """A copy of ``resource`` with the server-owned id, versionId and lastUpdated set.

    Everything else stays exactly as the client sent it, in the client's order.
    """
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = format_instant(last_updated)
    body: dict[str, Any] = {"resourceType": resource["resourceType"], "id": resource_id}
    body["meta"] = meta
    for key, value in resource.items():
        if key not in body:
            body[key] = value
    return body


def check_if_match(
    current: StoredResource | None, if_match: int | None, resource_type: str, resource_id: str
) -> None:
    """412 unless the current version is the one the client expects."""
    if if_match is None:
        return
    if current is None or current.deleted or current.version_id != if_match:
        have = (
            "no current version"
            if current is None or current.deleted
            else (f"version {current.version_id}")
        )
        raise FhirError.of(
            412,
            error_codes.PRECONDITION_FAILED,
            f"If-Match expects version {if_match} of {resource_type}/{resource_id}, "
            f"but the server has {have}",
        )


def _conflict(resource_type: str, resource_id: str) -> FhirError:
    return FhirError.of(
        409,
        error_codes.CONCURRENT_WRITE,
        f"{resource_type}/{resource_id} was changed by a concurrent request; retry",
    )


def multiple_matches(resource_type: str, condition: str) -> FhirError:
    """412: a conditional interaction matched more than one resource."""
    return FhirError.of(
        412,
        error_codes.MULTIPLE_MATCHES,
        f"More than one {resource_type} matches {condition!r}",
    )
