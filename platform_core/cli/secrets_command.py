"""``manage.py secrets new-key`` and ``manage.py secrets reseal``: the data keys that
encrypt the secrets Fireside keeps in its database (docs/identity.md, "Secrets at rest").

``new-key`` prints a fresh data key for ``FIRESIDE_DATA_KEYS``. ``reseal`` seals every
stored secret with the first configured key: after a rotation (new key first, old keys
after it), or once after upgrading from a version that stored them in clear. It prints how
many secrets changed, as JSON; exit status 2 when a stored secret does not open with the
configured keys (nothing is changed then).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from platform_core.auth.sealing import Sealer, SealingError
from platform_core.auth.stored_secrets import reseal_all
from platform_core.config import Settings, load_settings
from platform_core.db.engine import create_engine
from platform_core.key_files import load_or_create_data_key, new_data_key

COMMAND = "secrets"


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``secrets`` to ``manage.py``'s sub-commands."""
    parser = subparsers.add_parser(
        COMMAND,
        help="make a data key, or reseal stored secrets with the current one",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="secrets_command", required=True)
    actions.add_parser("new-key", help="print a fresh data key")
    actions.add_parser("reseal", help="seal every stored secret with the first data key")


def run(
    args: argparse.Namespace,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``secrets new-key`` or ``secrets reseal``; returns the exit status."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if args.secrets_command == "new-key":
        print(new_data_key(), file=out)
        return 0
    settings = settings or load_settings()
    engine = create_engine(settings)
    try:
        sealer = Sealer(settings.data_keys or (load_or_create_data_key(),))
        changed = reseal_all(engine, sealer)
    except SealingError as exc:
        print(f"secrets reseal: {exc}; nothing was changed", file=err)
        return 2
    finally:
        engine.dispose()
    print(json.dumps({"key_id": sealer.current_key_id, "resealed": changed}), file=out)
    return 0
