"""PKCE (RFC 7636) as SMART App Launch 2 requires it: S256 only, for every client.

authlib's :class:`CodeChallenge` accepts ``plain`` and lets confidential clients skip PKCE;
this extension refuses both. An authorization request without ``code_challenge`` or with a
method other than ``S256`` is ``invalid_request`` (sent back to the validated redirect URI);
a token request without ``code_verifier`` is ``invalid_request`` and a wrong verifier is
``invalid_grant``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge


class S256Required(CodeChallenge):  # type: ignore[misc]
    """authlib grant extension: PKCE with S256, always."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)
