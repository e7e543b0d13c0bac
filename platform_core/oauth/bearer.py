"""Bearer-token callers of the authorization server's own APIs.

``POST /oauth2/launch`` accepts a token with a ``user/`` or ``system/`` scope (an EHR acting
for a clinician, or a backend), and ``POST /oauth2/introspect`` one with a ``system/`` scope
(a resource server). The token is verified like any FHIR API call would verify it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from flask import Request

from platform_core.auth.bearer import bearer_token
from platform_core.auth.grants import RevokedGrant
from platform_core.auth.keys import InvalidToken
from platform_core.auth.tokens import AccessToken
from platform_core.oauth import smart_scopes

if TYPE_CHECKING:
    from platform_core.app import Core


def bearer_value(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, None when there is none."""
    return bearer_token(request.headers.get("Authorization"))


def verify_bearer(core: Core, raw: str, contexts: tuple[str, ...]) -> AccessToken:
    """The verified token, which must carry a resource scope of one of ``contexts``
    (``user``, ``system``). Raises ``invalid_token`` (401) or ``insufficient_scope`` (403)."""
    try:
        token, _ = core.auth.authenticator.verify(raw)
    except InvalidToken as exc:
        raise InvalidTokenError(str(exc)) from exc
    except RevokedGrant as exc:
        raise InvalidTokenError("The token's user can no longer sign in.") from exc
    if not any(smart_scopes.is_context(s, c) for s in token.scopes for c in contexts):
        wanted = " or ".join(f"{c}/" for c in contexts)
        raise InsufficientScopeError(f"This needs a token with a {wanted} scope.")
    return token
