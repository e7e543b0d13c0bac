"""The jobs admin API under ``/api/admin/jobs``: see what failed, and retry it.

``GET /api/admin/jobs?state=failed&limit=50&offset=0`` lists jobs newest first (every state
when ``state`` is left out); ``GET /api/admin/jobs/<id>`` shows one;
``POST /api/admin/jobs/<id>/retry`` puts a failed job back to pending with its attempts
reset and hands it over (inline, it has run by the time the answer comes back).

Callers are users whose role is ``admin`` or ``super_admin``, with a bearer token. Errors are
``application/problem+json``: 401 without a valid token, 403 for other callers, 400 for a
bad query or id, 404 for an unknown job, 409 for a retry of a job that is not failed.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from marshmallow import validate

from platform_core.jobs.schema import STATES
from platform_core.jobs.service import JobNotFound, JobNotRetryable, Jobs
from platform_core.web.api import ApiBlueprint, Problem, caller, require

ADMINS = frozenset({"admin", "super_admin"})
MAX_LIMIT = 500


class JobListQuery(ma.Schema):
    """The list's query parameters."""

    state = ma.fields.String(validate=validate.OneOf(STATES), load_default=None)
    limit = ma.fields.Integer(validate=validate.Range(1, MAX_LIMIT), load_default=50)
    offset = ma.fields.Integer(validate=validate.Range(min=0), load_default=0)


class JobSchema(ma.Schema):
    """One job of the outbox."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    state = ma.fields.String(metadata={"enum": list(STATES)})
    attempts = ma.fields.Integer(metadata={"description": "attempts that ended"})
    payload = ma.fields.Dict()
    key = ma.fields.String(allow_none=True, metadata={"description": "idempotency key"})
    available_at = ma.fields.String(metadata={"description": "next try (FHIR instant)"})
    created_at = ma.fields.String()
    dispatched_at = ma.fields.String(allow_none=True)
    finished_at = ma.fields.String(allow_none=True)
    last_error = ma.fields.String(allow_none=True)


class JobListSchema(ma.Schema):
    """A page of jobs."""

    jobs = ma.fields.List(ma.fields.Nested(JobSchema))
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()


def _jobs() -> Jobs:
    """Admit only admins; the app's jobs service."""
    require(caller(), roles=ADMINS)
    jobs: Jobs = current_app.extensions["fireside"].jobs
    return jobs


def _job_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise Problem(400, f"A job id is a positive integer, not {raw!r}", title="Bad Request")
    return int(raw)


def create_blueprint() -> ApiBlueprint:
    """A fresh blueprint for one app."""
    bp = ApiBlueprint(
        "jobs_admin",
        __name__,
        url_prefix="/api/admin/jobs",
        description="Background jobs: list, inspect and retry (admins only).",
    )

    @bp.route("")
    @bp.arguments(JobListQuery, location="query", error_status_code=400)
    @bp.response(200, JobListSchema)
    def list_jobs(query: dict[str, Any]) -> dict[str, Any]:
        """Jobs, newest first; ``state`` narrows to one state (``failed``...)."""
        jobs = _jobs()
        found = jobs.find(query["state"], query["limit"], query["offset"])
        return {
            "jobs": [job.as_json() for job in found],
            "limit": query["limit"],
            "offset": query["offset"],
        }

    @bp.route("/<job_id>")
    @bp.response(200, JobSchema)
    def get_job(job_id: str) -> dict[str, Any]:
        """One job."""
        jobs = _jobs()
        record = jobs.get(_job_id(job_id))
        if record is None:
            raise Problem(404, f"No job {job_id}", title="Not Found")
        return record.as_json()

    @bp.route("/<job_id>/retry", methods=["POST"])
    @bp.response(200, JobSchema)
    def retry_job(job_id: str) -> dict[str, Any]:
        """Retry a failed job: back to pending with its attempts reset, then handed over."""
        jobs = _jobs()
        try:
            return jobs.retry(_job_id(job_id)).as_json()
        except JobNotFound:
            raise Problem(404, f"No job {job_id}", title="Not Found") from None
        except JobNotRetryable as exc:
            raise Problem(409, str(exc), title="Conflict", state=exc.state) from None

    return bp
