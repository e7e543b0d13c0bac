"""Reviews as stored: writing one, listing them, hiding them, and the ratings.

Reads take a connection; writes take the app's core and run in its write transaction
(``core.repository.transaction()``: ``BEGIN IMMEDIATE`` on SQLite), so a check-then-update
such as hiding cannot interleave with another writer's. The API module decides who may
call them.

"One review per appointment" is the database's unique key, not a check before the insert:
of two reviews posted at once for one appointment exactly one commits, the other gets
:class:`AlreadyReviewed`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from platform_core.fhir.instants import format_instant, now_utc
from plugins.reviews.schema import review_table

_R = review_table.c
_VISIBLE = _R.hidden_at.is_(None)
_NEWEST_FIRST = (_R.created_at.desc(), _R.id.desc())


class AlreadyReviewed(Exception):
    """The appointment has a review already."""


class ReviewNotFound(Exception):
    """No review has this id."""


class WrongVisibility(Exception):
    """Hiding a hidden review, or showing a visible one."""


@dataclass(frozen=True)
class Review:
    """One stored review."""

    id: str
    appointment_id: str
    practitioner_id: str
    patient_id: str
    author_user_id: str
    stars: int
    text: str | None
    created_at: datetime
    hidden_at: datetime | None = None
    hidden_reason: str | None = None
    hidden_by: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Review:
        return cls(
            id=str(row.id),
            appointment_id=row.appointment_id,
            practitioner_id=row.practitioner_id,
            patient_id=row.patient_id,
            author_user_id=row.author_user_id,
            stars=int(row.stars),
            text=row.text,
            created_at=row.created_at,
            hidden_at=row.hidden_at,
            hidden_reason=row.hidden_reason,
            hidden_by=row.hidden_by,
        )

    @property
    def hidden(self) -> bool:
        return self.hidden_at is not None

    def public_json(self, author: str) -> dict[str, Any]:
        """What anyone signed in sees: no ids of people, the author as a display name."""
        return {
            "id": self.id,
            "practitioner": self.practitioner_id,
            "stars": self.stars,
            "text": self.text,
            "created_at": format_instant(self.created_at),
            "author": author,
        }

    def own_json(self) -> dict[str, Any]:
        """What the author sees of their own review, moderation included."""
        return {
            "id": self.id,
            "appointment": self.appointment_id,
            "practitioner": self.practitioner_id,
            "patient": self.patient_id,
            "stars": self.stars,
            "text": self.text,
            "created_at": format_instant(self.created_at),
            "hidden": self.hidden,
            "hidden_at": _instant(self.hidden_at),
            "hidden_reason": self.hidden_reason,
        }

    def admin_json(self) -> dict[str, Any]:
        """Everything, for the admin who moderates."""
        return {
            **self.own_json(),
            "author_user_id": self.author_user_id,
            "hidden_by": self.hidden_by,
        }


@dataclass(frozen=True)
class Rating:
    """A practitioner's visible reviews summed up."""

    average: float | None
    """Mean stars rounded half-up to 2 decimals; None without reviews."""
    count: int

    @classmethod
    def of(cls, count: int, stars_sum: int) -> Rating:
        if count == 0:
            return cls(None, 0)
        mean = (Decimal(stars_sum) / Decimal(count)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return cls(float(mean), count)

    def as_json(self) -> dict[str, Any]:
        return {"average": self.average, "count": self.count}


def _instant(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


def create_review(
    core: Any,
    *,
    appointment_id: str,
    practitioner_id: str,
    patient_id: str,
    author_user_id: str,
    stars: int,
    text: str | None,
) -> Review:
    """Store a review; :class:`AlreadyReviewed` when the appointment has one."""
    review = Review(
        id=str(uuid.uuid4()),
        appointment_id=appointment_id,
        practitioner_id=practitioner_id,
        patient_id=patient_id,
        author_user_id=author_user_id,
        stars=stars,
        text=text,
        created_at=now_utc(),
    )
    try:
        with core.repository.transaction() as conn:
            conn.execute(
                review_table.insert().values(
                    id=review.id,
                    appointment_id=review.appointment_id,
                    practitioner_id=review.practitioner_id,
                    patient_id=review.patient_id,
                    author_user_id=review.author_user_id,
                    stars=review.stars,
                    text=review.text,
                    created_at=review.created_at,
                )
            )
    except IntegrityError:
        # The input was checked before, so only the unique appointment can have failed;
        # make sure, on a fresh connection (PostgreSQL aborted the failed transaction).
        with core.db.connect() as conn:
            if _find(conn, _R.appointment_id == appointment_id) is not None:
                raise AlreadyReviewed(appointment_id) from None
        raise
    return review


def get_review(conn: Connection, review_id: str) -> Review | None:
    """The review with this id (hidden or not), or None."""
    return _find(conn, _R.id == review_id)


def _find(conn: Connection, condition: Any) -> Review | None:
    row = conn.execute(sa.select(review_table).where(condition)).first()
    return None if row is None else Review.from_row(row)


def visible_reviews(
    conn: Connection, practitioner_id: str, *, limit: int, offset: int
) -> list[Review]:
    """A page of a practitioner's visible reviews, newest first."""
    rows = conn.execute(
        sa.select(review_table)
        .where(_R.practitioner_id == practitioner_id, _VISIBLE)
        .order_by(*_NEWEST_FIRST)
        .limit(limit)
        .offset(offset)
    )
    return [Review.from_row(row) for row in rows]


def reviews_by_author(
    conn: Connection, author_user_id: str, *, limit: int, offset: int
) -> list[Review]:
    """A page of the reviews one account wrote (hidden ones too), newest first."""
    rows = conn.execute(
        sa.select(review_table)
        .where(_R.author_user_id == author_user_id)
        .order_by(*_NEWEST_FIRST)
        .limit(limit)
        .offset(offset)
    )
    return [Review.from_row(row) for row in rows]


def ratings(conn: Connection, practitioner_ids: list[str]) -> dict[str, Rating]:
    """The ratings of those of ``practitioner_ids`` that have visible reviews, in one
    query; practitioners without any are left out."""
    ids = sorted(set(practitioner_ids))
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(_R.practitioner_id, sa.func.count(), sa.func.sum(_R.stars))
        .where(_R.practitioner_id.in_(ids), _VISIBLE)
        .group_by(_R.practitioner_id)
    )
    return {pid: Rating.of(int(count), int(total)) for pid, count, total in rows}


def rating(conn: Connection, practitioner_id: str) -> Rating:
    """One practitioner's rating (average None and count 0 without visible reviews)."""
    return ratings(conn, [practitioner_id]).get(practitioner_id, Rating.of(0, 0))


def hide_review(core: Any, review_id: str, *, reason: str, by: str | None) -> Review:
    """Hide a visible review; :class:`ReviewNotFound`, or :class:`WrongVisibility` when it
    is hidden already."""
    return _set_visibility(
        core,
        review_id,
        _VISIBLE,
        {"hidden_at": now_utc(), "hidden_reason": reason, "hidden_by": by},
        "already hidden",
    )


def unhide_review(core: Any, review_id: str) -> Review:
    """Show a hidden review again; :class:`ReviewNotFound`, or :class:`WrongVisibility`
    when it is not hidden."""
    return _set_visibility(
        core,
        review_id,
        _R.hidden_at.is_not(None),
        {"hidden_at": None, "hidden_reason": None, "hidden_by": None},
        "not hidden",
    )


def _set_visibility(
    core: Any, review_id: str, precondition: Any, values: dict[str, Any], refusal: str
) -> Review:
    with core.repository.transaction() as conn:
        changed = conn.execute(
            review_table.update().where(_R.id == review_id, precondition).values(**values)
        ).rowcount
        review = get_review(conn, review_id)
    if review is None:
        raise ReviewNotFound(review_id)
    if not changed:
        raise WrongVisibility(refusal)
    return review
