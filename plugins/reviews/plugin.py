"""The reviews plugin's hook implementations (entry point ``reviews``).

After a fulfilled consultation the patient, or a child's guardian, reviews it once (1 to
5 stars, optional text); anyone signed in reads a practitioner's visible reviews with their
average; admins hide and unhide. The plugin owns one table (``reviews_review``, its own
migration branch), serves ``/api/reviews``, and answers the directory's
``practitioner_ratings`` hook, which the ``practitioners`` plugin declares: the
implementation is ``optionalhook`` so this plugin loads (and its API works) when that one is
switched off. See docs/reviews.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from platform_core import hookimpl
from plugins.reviews import service
from plugins.reviews.api import make_blueprint

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"


@hookimpl
def register_migrations() -> list[str]:
    return [str(MIGRATIONS)]


@hookimpl
def register_blueprints() -> list[Any]:
    return [make_blueprint()]


@hookimpl(optionalhook=True)
def practitioner_ratings(
    core: Any, practitioner_ids: list[str]
) -> dict[str, dict[str, float | int]]:
    """``{practitioner_id: {"average": 4.5, "count": 2}}`` for those of ``practitioner_ids``
    with visible reviews (the others are left out), in one grouped query on the database
    of ``core`` (no Flask app needed)."""
    if not practitioner_ids:
        return {}
    with core.db.connect() as conn:
        found = service.ratings(conn, list(practitioner_ids))
    return {
        pid: {"average": r.average, "count": r.count}
        for pid, r in found.items()
        if r.average is not None  # always, for a practitioner with reviews
    }
