"""``manage.py issue-token``: an access token for an operator, straight from the key ring.

For the people who run the server (scripts, smoke tests, the README's tour), not for apps:
apps get tokens from the authorization server. Whoever can run this command can read the
database anyway, so it gives nothing away. The token is printed on stdout, nothing else.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from platform_core.app import build_core
from platform_core.auth.scopes import ScopeSet
from platform_core.config import Settings, load_settings

COMMANDS = ("issue-token",)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``issue-token`` on the ``manage.py`` sub-command parser."""
    cmd = sub.add_parser("issue-token", help="print an access token for an operator")
    cmd.add_argument("--scope", default="system/*.cruds", help="space-separated SMART scopes")
    cmd.add_argument("--client-id", default="operator", help="recorded as the token's client")
    cmd.add_argument("--patient", help="launch patient id, for patient/ scopes")
    cmd.add_argument("--ttl", type=int, help="lifetime in seconds (default: access_token_ttl_s)")


def run(
    args: argparse.Namespace, *, settings: Settings | None = None, stdout: TextIO | None = None
) -> int:
    """Print one access token."""
    out = stdout or sys.stdout
    scopes = ScopeSet.parse(args.scope)
    if not scopes.resource_scopes:
        print(f"issue-token: no clinical-data scope in {args.scope!r}", file=sys.stderr)
        return 1
    core = build_core(settings or load_settings())
    try:
        token, _ = core.auth.tokens.issue(
            client_id=args.client_id, scope=args.scope, patient=args.patient, ttl=args.ttl
        )
    finally:
        core.dispose()
    print(token, file=out)
    return 0
