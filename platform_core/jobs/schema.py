"""The jobs outbox table.

A job is a row written in the same transaction as the change that asks for it, so it exists
exactly when that change committed. Its ``state`` walks ``pending`` (waiting to be handed
over, or waiting for its retry at ``available_at``) -> ``dispatched`` (handed to a broker or
to this process's runner at ``dispatched_at``) -> ``done`` or ``failed`` (after its last
attempt). A failed attempt puts the row back to ``pending`` with a later ``available_at``.

The two partial indexes make the sweeper's questions cheap however many finished rows the
table holds: "pending jobs that are due" and "dispatched jobs past their lease".
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.schema import Base
from platform_core.db.types import BigIntPK, UTCDateTime

PENDING = "pending"
DISPATCHED = "dispatched"
DONE = "done"
FAILED = "failed"
STATES = (PENDING, DISPATCHED, DONE, FAILED)
"""Every state a job can be in."""

NAME_LENGTH = 200
KEY_LENGTH = 255
ERROR_LENGTH = 2000
"""``last_error`` keeps at most this many characters."""


class JobRow(Base):
    """One background job."""

    __tablename__ = "job_outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_LENGTH))
    """The ``JobDefinition.name`` to run."""
    payload: Mapped[str] = mapped_column(sa.Text)
    """JSON text handed to the job as ``ctx.payload``."""
    idempotency_key: Mapped[str | None] = mapped_column(
        sa.String(KEY_LENGTH), nullable=True, unique=True
    )
    """When set, a second enqueue with the same key is a no-op (while the first row exists)."""
    state: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    """Attempts that ended (failed or done); a run killed mid-way is not counted."""
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When a pending job may be handed over (next try)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)

    __table_args__ = (
        sa.CheckConstraint(
            "state IN ('pending', 'dispatched', 'done', 'failed')", name="state_known"
        ),
        sa.Index(
            "ix_job_outbox_pending_due",
            "available_at",
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        ),
        sa.Index(
            "ix_job_outbox_dispatched_lease",
            "dispatched_at",
            postgresql_where=sa.text("state = 'dispatched'"),
            sqlite_where=sa.text("state = 'dispatched'"),
        ),
        sa.Index("ix_job_outbox_state_finished", "state", "finished_at"),
    )


job_table = JobRow.__table__
