"""SMART scope syntax, for the authorization server: is a requested scope well formed, is it
within what a client may have, and what does it mean in plain words.

What a granted scope allows on FHIR data is decided elsewhere (``platform_core.auth``); this
module only gates what may be granted:

* resource scopes, SMART v1 ``patient/Observation.read`` (``read``, ``write``, ``*``) and v2
  ``patient/Observation.rs`` (letters from ``cruds``, in that order) with an optional
  ``?query`` (v2 only), in the ``patient``, ``user`` and ``system`` contexts;
* the fixed scopes ``openid``, ``fhirUser``, ``profile``, ``launch``, ``launch/patient``,
  ``launch/encounter``, ``offline_access`` and ``online_access``;
* the scopes plugins declare through ``register_scopes`` (``pharmacy/orders.write``), which
  are granted only exactly as named.

A scope is *covered* by another when it asks for nothing more: same context, the same or a
``*`` resource type, a subset of the permissions (v1 ``read`` is v2 ``rs``, ``write`` is
``cud``, ``*`` is ``cruds``), and the same query or none on the covering scope. That is how a
request is narrowed to a client's allowed scopes and a refresh to its original grant.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from platform_core.auth.scopes import LAUNCH_SCOPES, ResourceScope, parse_scope

FIXED_SCOPES = tuple(sorted(LAUNCH_SCOPES))
"""Every scope that is not a resource scope."""


class ScopeSyntaxError(ValueError):
    """A requested scope that is not a well-formed SMART scope."""


def parse_resource_scope(scope: str) -> ResourceScope | None:
    """The parsed resource scope, or None when ``scope`` is not one (or is malformed). The
    grammar is the one the access policy enforces (``platform_core.auth.scopes``)."""
    return parse_scope(scope)


def _covers(have: ResourceScope, wanted: ResourceScope) -> bool:
    """Whether ``wanted`` asks for nothing beyond ``have``."""
    return (
        have.context == wanted.context
        and have.resource_type in ("*", wanted.resource_type)
        and wanted.permissions <= have.permissions
        and (not have.query or have.query == wanted.query)
    )


def split(scope: str | None) -> list[str]:
    """A scope string as a list, in order, without duplicates."""
    seen: dict[str, None] = {}
    for item in (scope or "").split():
        seen.setdefault(item, None)
    return list(seen)


def check_syntax(scopes: Iterable[str], plugin_scopes: Collection[str] = ()) -> None:
    """Raise :class:`ScopeSyntaxError` naming the first scope that is neither a SMART scope
    nor one of ``plugin_scopes`` (``register_scopes``)."""
    for scope in scopes:
        if scope in plugin_scopes:
            continue
        if scope not in FIXED_SCOPES and parse_resource_scope(scope) is None:
            raise ScopeSyntaxError(f"'{scope}' is not a SMART scope this server knows")


def covered(scope: str, allowed: Iterable[str]) -> bool:
    """Whether ``scope`` is within ``allowed`` (equal, or a narrower resource scope)."""
    allowed = list(allowed)
    if scope in allowed:
        return True
    wanted = parse_resource_scope(scope)
    if wanted is None:
        return False
    for item in allowed:
        have = parse_resource_scope(item)
        if have is not None and _covers(have, wanted):
            return True
    return False


def narrow(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The requested scopes that ``allowed`` covers, in request order."""
    allowed = list(allowed)
    return [s for s in requested if covered(s, allowed)]


def is_context(scope: str, context: str) -> bool:
    """Whether ``scope`` is a resource scope of ``context`` (``patient``, ``user``,
    ``system``)."""
    parsed = parse_resource_scope(scope)
    return parsed is not None and parsed.context == context


# --- plain words ------------------------------------------------------------------------
_FIXED_WORDS = {
    "openid": "Know who you are (your account id)",
    "fhirUser": "Know which FHIR record is yours (your Patient, Practitioner or RelatedPerson)",
    "profile": "Know which FHIR record is yours",
    "launch": "Receive the context the app was opened in (the patient or encounter on screen)",
    "launch/patient": "Know which patient's record you choose",
    "launch/encounter": "Know which encounter is open",
    "offline_access": "Keep access after you sign out, until you revoke it",
    "online_access": "Keep access while you stay signed in",
}
_VERBS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_WHOSE = {
    "patient": "of the selected patient",
    "user": "that your account can see",
    "system": "of every patient (system access)",
}


def _words_for_type(resource_type: str) -> str:
    if resource_type == "*":
        return "all health records"
    spaced = re.sub(r"(?<!^)(?=[A-Z])", " ", resource_type).lower()
    return f"{spaced} records"


def describe(scope: str, plugin_scopes: Mapping[str, str] | None = None) -> str:
    """One scope in plain words, for the consent page."""
    if plugin_scopes and scope in plugin_scopes:
        return plugin_scopes[scope]
    if scope in _FIXED_WORDS:
        return _FIXED_WORDS[scope]
    parsed = parse_resource_scope(scope)
    if parsed is None:
        return scope
    verbs = [_VERBS[letter] for letter in "cruds" if letter in parsed.permissions]
    action = verbs[0] if len(verbs) == 1 else ", ".join(verbs[:-1]) + " and " + verbs[-1]
    text = f"{action.capitalize()} {_words_for_type(parsed.resource_type)} "
    text += _WHOSE[parsed.context]
    if parsed.query:
        text += " (only where " + "&".join(f"{k}={v}" for k, v in parsed.query) + ")"
    return text
