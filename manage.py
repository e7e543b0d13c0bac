"""Fireside's command line: ``python manage.py COMMAND``.

Commands: ``run`` (serve; ``--workers N`` for gunicorn), ``migrate`` (apply the schema
migrations), ``import PATH...`` (load FHIR Bundle JSON and NDJSON files or folders),
``create-user`` and ``link-patient`` (accounts; see docs/identity.md), ``issue-token`` (an
access token for an operator; see docs/authorization.md), ``create-client`` and
``clients list|disable|enable`` (OAuth clients; see docs/oauth.md), ``secrets
new-key|reseal`` (the data keys that encrypt stored secrets; see docs/identity.md),
``worker``, ``beat`` and ``jobs list|retry|sweep``
(background jobs; see docs/jobs.md), and the commands of the active plugins
(``register_commands``; see docs/plugin_hooks.md).
"""

from __future__ import annotations

import argparse
import sys

from platform_core.cli import (
    client_command,
    import_command,
    jobs_command,
    run_command,
    secrets_command,
    token_command,
    user_command,
)
from platform_core.config import Settings, load_settings
from platform_core.db.engine import create_engine
from platform_core.db.migrate import upgrade
from platform_core.plugin_host import PluginHost


def migrate(settings: Settings) -> None:
    """Apply the core's and every active plugin's migrations."""
    # hook: register_migrations
    locations = PluginHost(settings).collect("register_migrations")
    upgrade(create_engine(settings), extra_locations=locations)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve Fireside over HTTP")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument(
        "--workers", type=int, default=0, help="gunicorn worker processes (0: development server)"
    )
    run.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    run.add_argument("--no-migrate", action="store_true", help="do not migrate before serving")

    sub.add_parser("migrate", help="apply the database migrations")

    imp = sub.add_parser("import", help="load FHIR Bundle JSON / NDJSON files or folders")
    imp.add_argument("paths", nargs="+")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")

    user_command.add_parser(sub)
    token_command.add_parser(sub)
    client_command.add_parser(sub)
    jobs_command.add_parser(sub)
    secrets_command.add_parser(sub)
    # hook: register_commands
    plugin_commands = {c.name: c for c in PluginHost(load_settings()).collect("register_commands")}
    for command in plugin_commands.values():
        if command.name in sub.choices:
            parser.error(f"a plugin's command {command.name!r} clashes with another command")
        command.configure(sub.add_parser(command.name, help=command.help))

    args = parser.parse_args(argv)
    if args.command in plugin_commands:
        return plugin_commands[args.command].run(args)
    if args.command in user_command.COMMANDS:
        return user_command.run(args)
    if args.command in token_command.COMMANDS:
        return token_command.run(args)
    if args.command in jobs_command.COMMANDS:
        return jobs_command.run(args)
    if args.command == secrets_command.COMMAND:
        return secrets_command.run(args)
    if args.command in client_command.COMMANDS:
        return client_command.run(args)
    if args.command == "migrate":
        migrate(load_settings())
        print("database is up to date")
        return 0
    if args.command == "run":
        if not args.no_migrate:
            migrate(load_settings())
        return run_command.serve(args.host, args.port, args.workers, args.threads)
    if args.command == "import":
        return import_command.run_import(args.paths, progress=not args.quiet)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
