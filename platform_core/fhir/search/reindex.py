"""The background reindex of a custom SearchParameter: resumable, never blocking writes.

The job walks the parameter's base types in ``rid`` order, a batch per short transaction,
recording its cursor and progress in ``fhir_search_param`` after each batch, so a restarted
process resumes where the last one stopped. A lease (owner and expiry) keeps two processes from
working on the same parameter. Each batch locks its rows (PostgreSQL ``FOR UPDATE``), so a
concurrent update of one of them waits a moment instead of racing the reindex. When the cursor
passes the last resource the parameter becomes ``active``: searchable.

Until the jobs system exists (it will run this through the outbox), the embedded default runs
it in a background thread of the process that wrote the SearchParameter; every process resumes
unfinished reindexes when it starts.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from platform_core.db.schema import INDEX_TABLES, resource_table, search_param_table
from platform_core.fhir import jsonio
from platform_core.fhir.instants import now_utc
from platform_core.fhir.search.custom import decode_components
from platform_core.fhir.search.extract import index_rows
from platform_core.fhir.search.model import SearchParameterDef
from platform_core.fhir.search.registry import compile_custom
from platform_core.fhir.storage import store

if TYPE_CHECKING:
    from platform_core.fhir.repository import Repository

log = logging.getLogger(__name__)
S = search_param_table.c
R = resource_table.c
BATCH = 500
LEASE = timedelta(seconds=60)


class Reindexer:
    """Runs custom-parameter reindexes for one repository."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, resource_id: str) -> None:
        """Run the reindex of ``resource_id`` in a background thread (once per process)."""
        with self._lock:
            running = self._threads.get(resource_id)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(
                target=self.run, args=(resource_id,), name=f"reindex-{resource_id}", daemon=True
            )
            self._threads[resource_id] = thread
            thread.start()

    def resume_all(self) -> None:
        """Start every reindex left unfinished (by this or another process)."""
        try:
            with self.repository.engine.connect() as conn:
                ids = (
                    conn.execute(sa.select(S.resource_id).where(S.status == "reindexing"))
                    .scalars()
                    .all()
                )
        except sa.exc.SQLAlchemyError:
            log.info("no custom search parameters to resume (schema not ready)")
            return
        for resource_id in ids:
            self.start(resource_id)

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for this process's running reindexes (tests, CLI)."""
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def run(self, resource_id: str) -> None:
        """Work batches until the parameter is active, failed, changed, or leased elsewhere."""
        try:
            while self.step(resource_id):
                pass
        except Exception as exc:  # a broken job is recorded, never silently lost
            log.exception("reindex of SearchParameter/%s failed", resource_id)
            with self.repository.transaction() as conn:
                conn.execute(
                    sa.update(search_param_table)
                    .where(S.resource_id == resource_id)
                    .values(status="failed", error=str(exc)[:2000], updated_at=now_utc())
                )
        finally:
            self.repository.custom.invalidate()

    def step(self, resource_id: str, batch: int = BATCH) -> bool:
        """Index one batch; True while there is more to do."""
        with self.repository.transaction() as conn:
            now = now_utc()
            leased = conn.execute(
                sa.update(search_param_table)
                .where(
                    S.resource_id == resource_id,
                    S.status == "reindexing",
                    sa.or_(
                        S.lease_until.is_(None), S.lease_until < now, S.lease_owner == self.owner
                    ),
                )
                .values(lease_owner=self.owner, lease_until=now + LEASE)
            ).rowcount
            if not leased:
                return False
            row = conn.execute(
                sa.select(
                    S.code,
                    S.type,
                    S.expression,
                    S.components,
                    S.bases,
                    S.cursor_rid,
                    S.processed,
                ).where(S.resource_id == resource_id)
            ).one()
            bases = row.bases.split()
            stmt = (
                sa.select(R.rid, R.resource_type, R.content)
                .where(R.resource_type.in_(bases), R.deleted.is_(False), R.rid > row.cursor_rid)
                .order_by(R.rid)
                .limit(batch)
            )
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            resources = conn.execute(stmt).all()
            if not resources:
                conn.execute(
                    sa.update(search_param_table)
                    .where(S.resource_id == resource_id)
                    .values(status="active", lease_owner=None, lease_until=None, updated_at=now)
                )
                log.info("SearchParameter/%s is active", resource_id)
                return False
            param = SearchParameterDef(
                row.code, row.type, row.expression, components=decode_components(row.components)
            )
            table = INDEX_TABLES[row.type]
            rids = [r.rid for r in resources]
            conn.execute(sa.delete(table).where(table.c.rid.in_(rids), table.c.param == row.code))
            if row.type in {"token", "reference"}:
                # Rows a token or reference parameter derives (``:of-type``, ``:identifier``).
                derived = [f"{row.code}:of-type", f"{row.code}:identifier"]
                tokens = INDEX_TABLES["token"]
                conn.execute(
                    sa.delete(tokens).where(tokens.c.rid.in_(rids), tokens.c.param.in_(derived))
                )
            rows: dict[str, list[dict[str, object]]] = {}
            for rid, resource_type, content in resources:
                compiled = compile_custom(param, resource_type)
                if compiled is None:
                    continue
                found = index_rows(
                    resource_type,
                    rid,
                    jsonio.loads_stored(content),
                    ((param, compiled),),
                    self.repository.base_url,
                )
                for kind, values in found.items():
                    rows.setdefault(kind, []).extend(values)
            store.insert_index_rows(conn, rows)
            conn.execute(
                sa.update(search_param_table)
                .where(S.resource_id == resource_id)
                .values(
                    cursor_rid=rids[-1],
                    processed=row.processed + len(resources),
                    updated_at=now_utc(),
                )
            )
            return True
