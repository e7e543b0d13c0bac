"""``manage.py create-client``: register an OAuth client (a SMART app or a backend service).

Examples::

    python manage.py create-client --name "Growth Chart" --kind public \\
        --redirect-uri https://app.example.org/callback \\
        --scope "openid fhirUser launch launch/patient patient/*.rs offline_access"

    python manage.py create-client --name "Bulk Exporter" --kind confidential-asymmetric \\
        --jwks-uri https://exporter.example.org/.well-known/jwks.json --scope "system/*.rs"

Prints one JSON object: the client id, its kind, grant types, scopes, redirect URIs and, for
a ``confidential-symmetric`` client, the ``client_secret``, shown this once and never again
(only its hash is stored). Exit status 2 when the description is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from platform_core.config import load_settings
from platform_core.db.engine import create_engine
from platform_core.oauth.clients import GRANT_TYPES, KINDS, ClientRegistrationError, register_client
from platform_core.plugin_host import PluginHost

COMMAND = "create-client"


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
    return parser


def run(args: argparse.Namespace) -> int:
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
    client = registered.client
    out: dict[str, Any] = {
        "client_id": client.client_id,
        "name": client.name,
        "kind": client.kind,
        "grant_types": sorted(client.grant_types),
        "scope": " ".join(client.scope),
        "redirect_uris": list(client.redirect_uris),
    }
    if registered.client_secret is not None:
        out["client_secret"] = registered.client_secret
        out["note"] = "Store the client_secret now: it is not kept and cannot be shown again."
    print(json.dumps(out, indent=2))
    return 0
