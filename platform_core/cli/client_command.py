"""``manage.py create-client`` registers an OAuth client (a SMART app or a backend service);
``manage.py clients list|disable|enable`` lists clients and switches them off and on.

Examples::

    python manage.py create-client --name "Growth Chart" --kind public \\
        --redirect-uri https://app.example.org/callback \\
        --scope "openid fhirUser launch launch/patient patient/*.rs offline_access"

    python manage.py create-client --name "Bulk Exporter" --kind confidential-asymmetric \\
        --jwks-uri https://exporter.example.org/.well-known/jwks.json --scope "system/*.rs"

Prints one JSON object: the client id, its kind, grant types, scopes, redirect URIs and, for
a ``confidential-symmetric`` client, the ``client_secret``, shown this once and never again
(only its hash is stored). Exit status 2 when the description is refused.

``clients list`` prints one JSON object per client (id, name, kind, grant types, scopes,
redirect URIs, ``active``). ``clients disable ID`` switches a client off: its token requests
are refused, its refresh tokens stop working and the access tokens already issued to it are
refused from then on; ``clients enable ID`` switches it back on (old tokens stay dead).
Exit status 2 for an unknown client.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from platform_core.config import load_settings
from platform_core.db.engine import create_engine
from platform_core.oauth.clients import (
    GRANT_TYPES,
    KINDS,
    Client,
    ClientRegistrationError,
    list_clients,
    register_client,
    set_client_active,
)
from platform_core.plugin_host import PluginHost

COMMAND = "create-client"
MANAGE_COMMAND = "clients"
COMMANDS = (COMMAND, MANAGE_COMMAND)
"""The ``manage.py`` commands this module implements; :func:`run` dispatches on them."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``create-client`` to ``manage.py``'s sub-commands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        COMMAND,
        help="register an OAuth client (SMART app or backend service)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--name", required=True, help="shown on the consent page")
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument(
        "--scope", required=True, help="space-separated scopes the client may be granted"
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        dest="redirect_uris",
        help="an exact redirect URI (repeat for several)",
    )
    parser.add_argument(
        "--grant-type",
        action="append",
        choices=GRANT_TYPES,
        dest="grant_types",
        help="default: authorization_code and refresh_token; client_credentials for "
        "confidential-asymmetric",
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--jwks", type=Path, help="a JSON file with the client's public JWKS")
    keys.add_argument("--jwks-uri", help="where the client publishes its public JWKS")
    parser.add_argument("--client-id", help="choose the id (default: random)")
    manage = subparsers.add_parser(MANAGE_COMMAND, help="list OAuth clients, disable or enable one")
    actions = manage.add_subparsers(dest="clients_command", required=True)
    actions.add_parser("list", help="print every client as a JSON line")
    for action, text in (("disable", "switch a client off"), ("enable", "switch it back on")):
        actions.add_parser(action, help=text).add_argument("client_id")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``create-client`` or ``clients``; returns the exit status."""
    if args.command == MANAGE_COMMAND:
        return _manage(args)
    return _create(args)


def describe(client: Client) -> dict[str, Any]:
    """What the commands print about a client (never its secret hash)."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "kind": client.kind,
        "grant_types": sorted(client.grant_types),
        "scope": " ".join(client.scope),
        "redirect_uris": list(client.redirect_uris),
        "active": client.active,
    }


def _manage(args: argparse.Namespace) -> int:
    engine = create_engine(load_settings())
    try:
        if args.clients_command == "list":
            for client in list_clients(engine):
                print(json.dumps(describe(client)))
            return 0
        active = args.clients_command == "enable"
        if not set_client_active(engine, args.client_id, active):
            print(f"clients: no client {args.client_id!r}", file=sys.stderr)
            return 2
        print(json.dumps({"client_id": args.client_id, "active": active}))
        return 0
    finally:
        engine.dispose()


def _create(args: argparse.Namespace) -> int:
    """Register the client described by ``args`` and print it as JSON."""
    jwks = None
    if args.jwks is not None:
        try:
            jwks = json.loads(args.jwks.read_text())
        except (OSError, ValueError) as exc:
            print(f"create-client: cannot read {args.jwks}: {exc}", file=sys.stderr)
            return 2
    settings = load_settings()
    engine = create_engine(settings)
    try:
        registered = register_client(
            engine,
            name=args.name,
            kind=args.kind,
            scope=args.scope,
            redirect_uris=args.redirect_uris,
            grant_types=args.grant_types,
            jwks=jwks,
            jwks_uri=args.jwks_uri,
            client_id=args.client_id,
            plugin_scopes=PluginHost(settings).scopes(),
        )
    except ClientRegistrationError as exc:
        print(f"create-client: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    out = describe(registered.client)
    if registered.client_secret is not None:
        out["client_secret"] = registered.client_secret
        out["note"] = "Store the client_secret now: it is not kept and cannot be shown again."
    print(json.dumps(out, indent=2))
    return 0
