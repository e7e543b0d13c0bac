"""SMART launch context: which patient, encounter and other resources a token is about.

An EHR registers a context through ``POST /oauth2/launch`` (see ``launch_views``) and opens
the app with the opaque ``launch`` value it got back; the app passes it to
``/oauth2/authorize``, which resolves it here. A standalone launch gets its patient from the
patient picker instead. The context travels on the authorization code and the token family
and comes out in every token response (``patient``, ``encounter``, ``fhirContext``,
``need_patient_banner``).

Launch values are random and stored only as their SHA-256; they expire after
:data:`LAUNCH_TTL_S`. One registered by a signed-in user can only be completed by that user.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from platform_core.auth.secrets import digest
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.oauth.schema import LaunchRow

LAUNCH_TTL_S = 600
"""How long an EHR launch stays usable after it is registered."""
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REFERENCE = re.compile(r"^[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}$")
_LAUNCHES = LaunchRow.__table__


class LaunchError(ValueError):
    """A launch context that is malformed (the message says why)."""


@dataclass(frozen=True)
class LaunchContext:
    """The context of one authorization."""

    patient: str | None = None
    """A Patient id (not a reference), as SMART's ``patient`` token field."""
    encounter: str | None = None
    fhir_context: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    """SMART 2.2 ``fhirContext`` items (``reference``, ``canonical`` or ``identifier``,
    optionally ``type`` and ``role``)."""
    need_patient_banner: bool = True
    """False when an EHR launched the app inside its own patient banner."""

    def fhir_context_json(self) -> str | None:
        """``fhir_context`` as stored, None when empty."""
        return orjson.dumps(list(self.fhir_context)).decode() if self.fhir_context else None

    @classmethod
    def from_columns(
        cls, patient: str | None, encounter: str | None, fhir_context: str | None, banner: bool
    ) -> LaunchContext:
        """A context from the columns it is stored in."""
        items = tuple(orjson.loads(fhir_context)) if fhir_context else ()
        return cls(patient, encounter, items, bool(banner))


@dataclass(frozen=True)
class Launch:
    """A registered EHR launch."""

    context: LaunchContext
    created_by: str
    user_id: str | None


def check_context(body: Any) -> LaunchContext:
    """The :class:`LaunchContext` described by a ``POST /oauth2/launch`` JSON body:
    ``{"patient": "123", "encounter": "456", "fhirContext": [{"reference": "..."}]}``.
    Raises :class:`LaunchError` when it is malformed."""
    if not isinstance(body, dict):
        raise LaunchError("the body must be a JSON object")
    unknown = set(body) - {"patient", "encounter", "fhirContext"}
    if unknown:
        raise LaunchError(f"unknown field(s): {', '.join(sorted(unknown))}")
    patient, encounter = body.get("patient"), body.get("encounter")
    for name, value in (("patient", patient), ("encounter", encounter)):
        if value is not None and (not isinstance(value, str) or not _ID.match(value)):
            raise LaunchError(f"{name} must be a FHIR resource id")
    items = body.get("fhirContext") or []
    if not isinstance(items, list) or len(items) > 20:
        raise LaunchError("fhirContext must be an array of at most 20 objects")
    for item in items:
        _check_fhir_context_item(item)
    if patient is None and encounter is None and not items:
        raise LaunchError("a launch needs a patient, an encounter or fhirContext")
    return LaunchContext(patient, encounter, tuple(items), need_patient_banner=False)


def _check_fhir_context_item(item: Any) -> None:
    if not isinstance(item, dict) or not item:
        raise LaunchError("each fhirContext item must be an object")
    allowed = {"reference", "canonical", "identifier", "type", "role"}
    if set(item) - allowed:
        raise LaunchError(f"fhirContext items may only have {', '.join(sorted(allowed))}")
    reference = item.get("reference")
    if reference is not None and (
        not isinstance(reference, str) or not _REFERENCE.match(reference)
    ):
        raise LaunchError("fhirContext references must be relative, as Type/id")
    if sum(k in item for k in ("reference", "canonical", "identifier")) != 1:
        raise LaunchError("each fhirContext item needs one of reference, canonical, identifier")
    for key in ("canonical", "type", "role"):
        if key in item and (not isinstance(item[key], str) or not item[key]):
            raise LaunchError(f"fhirContext {key} must be a non-empty string")
    if "identifier" in item and not isinstance(item["identifier"], dict):
        raise LaunchError("fhirContext identifier must be an Identifier object")


def register_launch(
    db: Engine, context: LaunchContext, *, created_by: str, user_id: str | None = None
) -> tuple[str, int]:
    """Store a launch context; returns the opaque ``launch`` value and its lifetime in
    seconds."""
    launch = secrets.token_urlsafe(24)
    now = now_utc()
    with write_transaction(db) as conn:
        conn.execute(sa.delete(_LAUNCHES).where(_LAUNCHES.c.expires_at < now))
        conn.execute(
            sa.insert(_LAUNCHES).values(
                launch_hash=digest(launch),
                patient=context.patient,
                encounter=context.encounter,
                fhir_context=context.fhir_context_json(),
                created_by=created_by[:140],
                user_id=user_id,
                created_at=now,
                expires_at=now + timedelta(seconds=LAUNCH_TTL_S),
            )
        )
    return launch, LAUNCH_TTL_S


def find_launch(db: Engine, launch: str) -> Launch | None:
    """The launch registered under this value, None when unknown or expired."""
    if not launch or len(launch) > 200:
        return None
    with db.connect() as conn:
        row = conn.execute(
            sa.select(_LAUNCHES).where(
                _LAUNCHES.c.launch_hash == digest(launch), _LAUNCHES.c.expires_at > now_utc()
            )
        ).first()
    if row is None:
        return None
    context = LaunchContext.from_columns(row.patient, row.encounter, row.fhir_context, False)
    return Launch(context, row.created_by, row.user_id)
