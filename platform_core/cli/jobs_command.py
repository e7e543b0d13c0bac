"""``manage.py worker``, ``manage.py beat`` and ``manage.py jobs ...``: run and operate jobs.

``worker [--concurrency N] [--pool prefork|solo|threads] [--plugin MODULE]`` runs a Celery
worker on ``jobs_queue`` of ``jobs_broker_url``; ``beat`` sends the sweeper and the scheduled
jobs' checks (run one or more; the outbox keeps them from doubling anything). Both need
``jobs_broker_url``: without it jobs run inline in the web process.

``jobs list [--state failed] [--limit N] [--offset N]`` prints one JSON object per job,
newest first; ``jobs retry ID`` puts a failed job back to pending and hands it over;
``jobs sweep`` hands over what is due or lost now and prints how many.

``--plugin MODULE`` (repeatable) registers a module as a plugin beside the installed ones in
this process (and, for ``worker``, in every pool process): for tests and local experiments,
since a worker cannot see objects of the process that started it. Installed plugins come
from the ``fireside`` entry points, as always.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from platform_core.config import Settings, load_settings
from platform_core.jobs.schema import STATES

if TYPE_CHECKING:
    from platform_core.app import Core

COMMANDS = ("worker", "beat", "jobs")
"""The ``manage.py`` commands this module implements; :func:`run` dispatches on them."""


def _plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        dest="plugins",
        metavar="MODULE",
        help="also register this module as a plugin (tests, local experiments)",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``worker``, ``beat`` and ``jobs`` to ``manage.py``'s sub-commands."""
    worker = subparsers.add_parser("worker", help="run a Celery worker for background jobs")
    worker.add_argument("--concurrency", type=int, help="pool processes (default: CPUs)")
    worker.add_argument("--pool", default="prefork", choices=("prefork", "solo", "threads"))
    _plugin_option(worker)

    beat = subparsers.add_parser("beat", help="send the sweeper and scheduled jobs (Celery beat)")
    _plugin_option(beat)

    jobs = subparsers.add_parser("jobs", help="list, retry and sweep background jobs")
    actions = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = actions.add_parser("list", help="print jobs as JSON lines, newest first")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    retry = actions.add_parser("retry", help="retry a failed job")
    retry.add_argument("id", type=int)
    actions.add_parser("sweep", help="hand over due and lost jobs now")
    for action in actions.choices.values():
        _plugin_option(action)


def run(
    args: argparse.Namespace,
    *,
    settings: Settings | None = None,
    core: Core | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``args.command``; the exit status."""
    settings = settings or load_settings()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if args.command in ("worker", "beat"):
        if not settings.jobs_broker_url:
            print(
                f"{args.command}: jobs_broker_url is empty, so jobs run inline in the web "
                "process; set FIRESIDE_JOBS_BROKER_URL to use workers",
                file=err,
            )
            return 2
        return _celery(args, settings)
    own = core is None
    if core is None:
        from platform_core.app import build_core

        core = build_core(settings, [importlib.import_module(m) for m in args.plugins])
    try:
        return _jobs(args, core, out, err)
    finally:
        if own:
            core.dispose()


def _jobs(args: argparse.Namespace, core: Core, out: TextIO, err: TextIO) -> int:
    from platform_core.jobs.service import JobNotFound, JobNotRetryable

    if args.jobs_command == "list":
        if not 1 <= args.limit <= 10_000 or args.offset < 0:
            print("jobs list: --limit is 1 to 10000 and --offset at least 0", file=err)
            return 2
        for job in core.jobs.find(args.state, args.limit, args.offset):
            print(json.dumps(job.as_json()), file=out)
        return 0
    if args.jobs_command == "retry":
        try:
            job = core.jobs.retry(args.id)
        except (JobNotFound, JobNotRetryable) as exc:
            print(f"jobs retry: {exc}", file=err)
            return 1
        print(json.dumps(job.as_json()), file=out)
        return 0
    if args.jobs_command == "sweep":
        print(json.dumps({"handed_over": core.jobs.sweep()}), file=out)
        return 0
    raise ValueError(f"not a jobs command: {args.jobs_command}")  # pragma: no cover


def _celery(args: argparse.Namespace, settings: Settings) -> int:
    from platform_core.jobs.celery_app import worker_app
    from platform_core.logging_setup import configure_logging

    configure_logging(settings.log_level)
    app = worker_app(settings, args.plugins)
    level = settings.log_level.upper()
    if args.command == "worker":
        argv = [
            "worker",
            f"--queues={settings.jobs_queue}",
            f"--hostname=fireside-{os.getpid()}@%h",
            f"--pool={args.pool}",
            f"--loglevel={level}",
            "--without-gossip",
            "--without-mingle",
        ]
        if args.concurrency:
            argv.append(f"--concurrency={args.concurrency}")
        return _exit_code(app.worker_main(argv))
    return _exit_code(app.start(["beat", f"--loglevel={level}"]))


def _exit_code(result: Any) -> int:
    return result if isinstance(result, int) else 0
