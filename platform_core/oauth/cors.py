"""CORS for the endpoints a browser app calls directly (discovery documents, JWKS, token,
introspection, revocation).

``Access-Control-Allow-Origin: *`` without credentials: these endpoints authenticate with
what the request carries (a client id, assertion, secret or bearer token), never with
cookies, so any origin may call them and no cookie ever rides along. The consent and
launch endpoints get no CORS headers at all.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, make_response, request

MAX_AGE_S = 86400


def cors(view: Callable[..., Any]) -> Callable[..., Response]:
    """Answer ``OPTIONS`` preflights and add the CORS headers to every response of
    ``view`` (register the route with ``OPTIONS`` and ``provide_automatic_options=False``)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        if request.method == "OPTIONS":
            response = make_response("", 204)
            methods = (
                sorted((request.url_rule.methods or set()) - {"HEAD"}) if request.url_rule else []
            )
            response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = str(MAX_AGE_S)
        else:
            response = make_response(view(*args, **kwargs))
            response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    return wrapper
