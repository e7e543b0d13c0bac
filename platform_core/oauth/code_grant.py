"""The authorization code grant as SMART App Launch 2.2 wants it (authlib grant subclass).

Authorization request (``/oauth2/authorize``), on top of authlib's checks:

* ``redirect_uri`` is required and must equal a registered URI exactly. When it does not,
  or the client is unknown, the error is shown to the user and never redirected to (an
  unvalidated redirect would be an open redirector);
* PKCE with S256 (``pkce.S256Required``);
* ``aud`` must be this server's FHIR base URL, so a token is never minted for an app that
  was talking to another server;
* the scopes are checked for SMART syntax, narrowed to what the client may have, ``launch``
  is kept only with a known ``launch`` value (an EHR launch), and ``online_access`` yields to
  ``offline_access``.

Token request: the code must be the client's, unexpired and unused, for the same
``redirect_uri``, with the right ``code_verifier``, and the user still active with the same
token generation. A code presented a second time revokes the family issued from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from flask import g

from platform_core.fhir.instants import now_utc
from platform_core.identity.users import User, get_user
from platform_core.oauth import codes, families, smart_scopes
from platform_core.oauth.launch_context import Launch, LaunchContext, find_launch

if TYPE_CHECKING:
    from platform_core.oauth.clients import Client
    from platform_core.oauth.server import FiresideAuthorizationServer

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
"""Every client type may exchange codes and refresh tokens, each with its own method."""
MAX_NONCE = 255


@dataclass(frozen=True)
class Approval:
    """What the consent page adds to an approved request before the code is saved."""

    context: LaunchContext
    session_hash: str | None


class SmartAuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """Authorization code grant with SMART's rules (see the module docstring)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: FiresideAuthorizationServer

    # --- authorization request -------------------------------------------------------------
    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: Client) -> str:
        """The request's ``redirect_uri`` if registered; raised errors carry no redirect."""
        uri = request.payload.redirect_uri
        if not uri:
            raise InvalidRequestError("Missing 'redirect_uri'.", state=request.payload.state)
        if not client.check_redirect_uri(uri):
            raise InvalidRequestError(
                "The redirect_uri is not registered for this client.", state=request.payload.state
            )
        return str(uri)

    def validate_authorization_request(self) -> str:
        """authlib's checks, then SMART's; errors after the redirect URI was validated go
        back to it. Returns the redirect URI."""
        redirect_uri = str(super().validate_authorization_request())
        try:
            self._validate_smart()
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def _validate_smart(self) -> None:
        """``aud``, ``nonce``, the EHR ``launch`` (kept on ``request.launch``) and the final
        scope (``request.scope``)."""
        request = self.request
        data = request.payload.data
        aud = data.get("aud")
        if not aud:
            raise InvalidRequestError("Missing 'aud': send the FHIR base URL of this server.")
        if aud.rstrip("/") != self.server.core.settings.fhir_base_url.rstrip("/"):
            raise InvalidRequestError("'aud' is not the FHIR base URL of this server.")
        if len(data.get("nonce") or "") > MAX_NONCE:
            raise InvalidRequestError("'nonce' is too long.")
        scopes = smart_scopes.split(request.scope)
        launch: Launch | None = None
        if data.get("launch") and "launch" in scopes:
            launch = find_launch(self.server.core.db, data["launch"])
            user = request.user
            if launch is None or (
                launch.user_id is not None and user is not None and user.id != launch.user_id
            ):
                raise InvalidRequestError("Unknown or expired 'launch'.")
        else:
            scopes = [s for s in scopes if s != "launch"]
        if "offline_access" in scopes:
            scopes = [s for s in scopes if s != "online_access"]
        if not self.request.client.check_grant_type("refresh_token"):
            scopes = [s for s in scopes if s not in {"offline_access", "online_access"}]
        if not scopes:
            raise InvalidScopeError("None of the requested scopes may be granted to this client.")
        request.scope = " ".join(scopes)
        request.launch = launch

    def save_authorization_code(self, code: str, request: Any) -> None:
        """Store the code with what the consent page approved (``request.approval``)."""
        approval: Approval = request.approval
        user: User = request.user
        data = request.payload.data
        codes.save(
            self.server.core.db,
            code,
            codes.NewCode(
                client_id=request.client.client_id,
                user_id=user.id,
                generation=user.token_generation,
                session_hash=approval.session_hash,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                nonce=data.get("nonce") or None,
                context=approval.context,
            ),
            self.server.core.settings.auth_code_ttl_s,
        )

    # --- token request ---------------------------------------------------------------------
    def query_authorization_code(self, code: str, client: Client) -> codes.AuthorizationCode | None:
        """The unused, unexpired code of ``client``; a used one revokes its family."""
        found = codes.find(self.server.core.db, code, client.client_id)
        if found is None:
            return None
        if found.used_at is not None:
            if found.grant_id is not None:
                families.revoke(self.server.core.db, self.server.core.auth.tokens, found.grant_id)
            raise InvalidGrantError(
                "The authorization code was already used; the tokens issued from it are revoked."
            )
        if found.expires_at <= now_utc():
            raise InvalidGrantError("The authorization code has expired.")
        return found

    def delete_authorization_code(self, authorization_code: codes.AuthorizationCode) -> None:
        """Unused: codes are spent (not deleted) in the transaction that issues the tokens."""

    def authenticate_user(self, authorization_code: codes.AuthorizationCode) -> User | None:
        """The user who approved, while still active and on the same token generation."""
        user = get_user(self.server.core.db, authorization_code.user_id)
        if user is None or not user.is_active:
            return None
        if user.token_generation != authorization_code.generation:
            return None
        return user

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Spend the code and answer the tokens (see ``TokenIssuer.exchange_code``)."""
        client = self.request.client
        code = self.request.authorization_code
        user = self.authenticate_user(code)
        if user is None:
            raise InvalidGrantError("The account that approved this code can no longer sign in.")
        self.request.user = user
        issued = self.server.issuer.exchange_code(client, user, code)
        g.oauth_who = issued.who
        return 200, issued.body, self.TOKEN_RESPONSE_HEADER
