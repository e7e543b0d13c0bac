"""The FHIR engine's front door: ``FhirEngine.handle(request, ctx) -> FhirResponse``.

It dispatches through the route table and normalises every failure to an OperationOutcome:
FHIR errors keep their status, a database that is away answers 503 (the connection pool
replaces dead connections, so service resumes by itself when it is back), anything else 500
with the details in the log only.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from platform_core.fhir import error_codes
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.interactions.common import Env
from platform_core.fhir.plugin_operations import PluginOperations
from platform_core.fhir.repository import Repository
from platform_core.fhir.request import FhirRequest, FhirResponse
from platform_core.fhir.router import dispatch

log = logging.getLogger(__name__)


class FhirEngine:
    """Runs FHIR interactions against one repository."""

    def __init__(self, repository: Repository, operations: PluginOperations | None = None) -> None:
        self.repository = repository
        self.operations = operations

    def handle(self, request: FhirRequest, ctx: RequestContext) -> FhirResponse:
        """Answer one request; never raises.

        A read that fails because its pooled connection had died (the database restarted) is
        retried once on a fresh connection; writes are not, since a lost commit is ambiguous.
        """
        try:
            try:
                return dispatch(Env(self.repository, ctx, self.operations), request, None)
            except DBAPIError as exc:
                if not (exc.connection_invalidated and request.method in {"GET", "HEAD"}):
                    raise
                log.info("retrying a read on a fresh connection after a disconnect")
                return dispatch(Env(self.repository, ctx, self.operations), request, None)
        except FhirError as exc:
            return error_response(exc)
        except (OperationalError, PoolTimeout) as exc:
            log.warning("database unavailable: %s", type(exc).__name__)
            return _unavailable()
        except DBAPIError as exc:
            if exc.connection_invalidated:
                log.warning("database connection lost: %s", type(exc).__name__)
                return _unavailable()
            log.exception("database error")
            return error_response(
                FhirError.of(500, error_codes.INTERNAL_ERROR, "Internal server error")
            )
        except Exception:
            log.exception("unhandled error in FHIR engine")
            return error_response(
                FhirError.of(500, error_codes.INTERNAL_ERROR, "Internal server error")
            )


def error_response(exc: FhirError) -> FhirResponse:
    """The OperationOutcome response for an error."""
    return FhirResponse(exc.status, resource=exc.outcome(), headers=dict(exc.headers))


def unavailable_response() -> FhirResponse:
    """503 for a database that is away (also when a token cannot be checked against it)."""
    return _unavailable()


def _unavailable() -> FhirResponse:
    return error_response(
        FhirError.of(
            503,
            error_codes.DATABASE_UNAVAILABLE,
            "The database is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )
    )
