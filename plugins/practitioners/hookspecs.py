"""Hooks the practitioners plugin publishes for other plugins (added in ``add_hookspecs``).

Implement them with ``@hookimpl(optionalhook=True)``, so the implementing plugin still loads
when the practitioners plugin is switched off.
"""

from __future__ import annotations

from typing import Any

from platform_core import hookspec

# --- the directory: what other plugins add to a practitioner's entry ---------------------


@hookspec
def practitioner_ratings(
    core: Any, practitioner_ids: list[str]
) -> dict[str, dict[str, float | int]]:
    """Ratings of the practitioners on one directory page (the reviews plugin answers it).

    Fires once per directory answer (``GET /api/practitioners/directory`` and
    ``/directory/<id>``), with the ids of the practitioners shown, never more than a page.
    Every implementation is called and the answers are merged: for a practitioner rated by
    several plugins the averages are weighted by their counts. Leave out practitioners
    without ratings (an entry with ``count`` 0 is ignored).

    :param core: the core services (``platform_core.app.Core``) of the app asking: read
        through ``core.db``, never through a Flask app (the hook may be called outside a
        request, by a job or a command).
    :param practitioner_ids: plain FHIR ids of ``Practitioner`` resources (no type prefix).
    :return: id -> ``{"average": <float, 1 to 5>, "count": <int, ratings behind it>}``.

    An exception is logged and the directory answers without ratings (``"rating": null``
    for everyone on the page): ratings decorate the directory, they never break it.
    """
