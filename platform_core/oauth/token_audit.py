"""Audit records of the token, introspection and revocation endpoints: every token issued
(outcome ``0``) and every token request refused (outcome ``4``; ``8`` when the server itself
failed), with the grant type, the user, the client and the caller's address; every
introspection and revocation request with its caller and outcome. The request's secrets
(tokens, client secrets, assertions) never go in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Request

from platform_core.audit.records import AuditRecord
from platform_core.oauth.client_assertion import assertion_client_id

if TYPE_CHECKING:
    from platform_core.app import Core


def claimed_client_id(request: Request) -> str | None:
    """The client id a token request names (Basic auth, form, or assertion ``sub``);
    unverified, for the record only."""
    basic_id, _ = extract_basic_authorization(request.headers)
    found = basic_id or request.form.get("client_id") or assertion_client_id(request.form)
    return found[:64] if isinstance(found, str) else None


def record_token_event(
    core: Core,
    request: Request,
    *,
    outcome: str,
    who: str | None,
    client_id: str | None,
    description: str | None = None,
    subtype: str | None = None,
) -> None:
    """Record one request to a token endpoint; ``subtype`` defaults to the grant type
    (``introspect`` and ``revoke`` for those endpoints)."""
    grant_type = subtype or (request.form.get("grant_type") or "unknown")[:40]
    core.audit.record(
        AuditRecord(
            kind="token",
            action="E",
            outcome=outcome,
            subtype=grant_type,
            who=who,
            client_id=client_id,
            remote_addr=request.remote_addr,
            description=description,
        )
    )
