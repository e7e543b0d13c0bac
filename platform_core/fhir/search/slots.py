"""Where a search's values enter its SQL, so that one statement can serve every search of
its shape.

A clause builder passes each value that comes from the request (a code, a name prefix, a
date bound, a cursor) through :func:`slot`. Normally :func:`slot` returns the value itself
and SQLAlchemy binds it as it always did. While :func:`recording` is active it returns a
bind parameter named by its position (``v0``, ``v1``...) and remembers the value, so the
statement built is a template: executed again with other values under the same names, it
is the statement those values would have built. :mod:`.statement_cache` keeps such templates
per shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from platform_core.db.types import UTCDateTime


class Recorder:
    """The values slotted while one template was built, in the order they were slotted."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def bind(self, value: Any) -> Any:
        name = f"v{len(self.values)}"
        self.values.append(value)
        if isinstance(value, list):
            return sa.bindparam(name, value, expanding=True)
        # Dates compare with UTCDateTime columns: the type decides how SQLite stores them.
        type_ = UTCDateTime() if isinstance(value, datetime) else None
        return sa.bindparam(name, value, type_=type_)


_recorder: ContextVar[Recorder | None] = ContextVar("fireside_search_slots", default=None)


def slot(value: Any) -> Any:
    """``value``, or while recording a named bind parameter that stands for it."""
    recorder = _recorder.get()
    return value if recorder is None else recorder.bind(value)


def slots(values: list[Any]) -> list[Any]:
    """:func:`slot` for each of ``values``, in order."""
    recorder = _recorder.get()
    return values if recorder is None else [recorder.bind(v) for v in values]


def names(count: int) -> list[str]:
    """The names of the first ``count`` slots."""
    return [f"v{i}" for i in range(count)]


@contextmanager
def recording() -> Iterator[Recorder]:
    """Build a template: every :func:`slot` inside becomes a named bind parameter."""
    recorder = Recorder()
    token = _recorder.set(recorder)
    try:
        yield recorder
    finally:
        _recorder.reset(token)
