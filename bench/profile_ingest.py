"""Where ingest time goes: ``python -m bench.profile_ingest --bundles 5``.

Runs transaction Bundles from :mod:`bench.synthetic` through the app IN-PROCESS (Flask test
client, ``POST /fhir``) under cProfile, against a scratch PostgreSQL database that is created,
migrated and dropped by the run. Untimed warm-up bundles go first so that one-off work
(compiling validation tables, first connections) does not skew the picture. Prints ONE JSON
object: the top functions by cumulative and by own (total) time, and own time summed per
area (our packages by module, libraries by top-level package). ``--timer wall`` (default)
counts waiting for PostgreSQL inside psycopg's functions; ``--timer cpu`` shows only the
Python process's CPU.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import sysconfig
import time
from typing import Any

import orjson

from bench import harness, synthetic
from bench.harness import ScratchDatabase

SITE = sysconfig.get_paths()["purelib"]
STDLIB = sysconfig.get_paths()["stdlib"]
ROOT = str(harness.REPO_ROOT)


def _where(filename: str) -> str:
    for prefix, label in ((SITE, ""), (ROOT, ""), (STDLIB, "stdlib/")):
        if filename.startswith(prefix):
            return label + filename[len(prefix) :].lstrip("/")
    return filename


def _label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":  # a built-in
        return name
    return f"{_where(filename)}:{line}({name})"


def _area(filename: str) -> str:
    """Our modules by dotted module, libraries by top-level package, built-ins apart."""
    if filename == "~":
        return "built-ins (C functions)"
    where = _where(filename)
    if where.startswith("stdlib/"):
        return "stdlib:" + where[len("stdlib/") :].split("/", 1)[0].removesuffix(".py")
    parts = where.removesuffix(".py").split("/")
    if parts[0] in {"platform_core", "plugins", "fhir_adapters", "search", "bench"}:
        return ".".join(parts[:3] if parts[:2] == ["platform_core", "fhir"] else parts[:2])
    return parts[0]


def _rows(stats: pstats.Stats, key: str, limit: int) -> list[dict[str, Any]]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    index = 3 if key == "cumtime" else 2
    ordered = sorted(raw.items(), key=lambda kv: kv[1][index], reverse=True)[:limit]
    return [
        {
            "function": _label(func),
            "ncalls": nc,
            "tottime_s": round(tt, 4),
            "cumtime_s": round(ct, 4),
        }
        for func, (_cc, nc, tt, ct, _callers) in ordered
    ]


def _by_area(stats: pstats.Stats, total: float) -> list[dict[str, Any]]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        area = _area(filename)
        areas[area] = areas.get(area, 0.0) + tt
    ordered = sorted(areas.items(), key=lambda kv: kv[1], reverse=True)[:25]
    return [
        {"area": a, "tottime_s": round(t, 3), "share_pct": round(100 * t / total, 1)}
        for a, t in ordered
    ]


def profile_summary(profiler: cProfile.Profile, top: int) -> dict[str, Any]:
    """Own time per area and the top functions by cumulative time, for a JSON result."""
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    return {
        "tottime_by_area": _by_area(stats, total),
        "top_cumulative": _rows(stats, "cumtime", top),
    }


def add_profile_arguments(parser: argparse.ArgumentParser, database: str) -> None:
    """``--profile``, ``--top`` and ``--database-url`` (the PostgreSQL server of
    ``database``), as the in-process profilers take them."""
    parser.add_argument("--profile", action="store_true", help="run under cProfile (CPU)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--database-url",
        help=f"PostgreSQL server for {database} (default {harness.DEFAULT_PG})",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Profile the ingest; returns the result object."""
    warm = [orjson.dumps(b) for b in synthetic.patient_bundles(args.warmup, seed=args.seed + 10**6)]
    bundles = list(synthetic.patient_bundles(args.bundles, seed=args.seed))
    bodies = [orjson.dumps(b) for b in bundles]
    resources = sum(len(b["entry"]) for b in bundles)
    with ScratchDatabase(args.database_url) as db:
        harness.migrate(db.url)
        os.environ.update(harness.server_env(db.url, 8000))
        from platform_core.app import create_app

        app = create_app()
        try:
            client = app.test_client()
            headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
            for body in warm:
                resp = client.post("/fhir", data=body, headers=headers)
                if resp.status_code != 200:
                    raise RuntimeError(f"warm-up bundle failed: {resp.status_code} {resp.data!r}")
            timer = time.process_time if args.timer == "cpu" else time.perf_counter
            profiler = cProfile.Profile(timer)
            errors: list[str] = []
            started = time.perf_counter()
            profiler.enable()
            for body in bodies:
                resp = client.post("/fhir", data=body, headers=headers)
                if resp.status_code != 200:
                    errors.append(f"HTTP {resp.status_code}: {resp.data[:2000]!r}")
            profiler.disable()
            elapsed = time.perf_counter() - started
        finally:
            app.extensions["fireside"].db.dispose()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    return {
        "benchmark": "profile_ingest",
        "bundles": args.bundles,
        "resources": resources,
        "warmup_bundles": args.warmup,
        "timer": args.timer,
        "seconds_under_profiler": round(elapsed, 3),
        "resources_per_s_under_profiler": round(resources / elapsed, 1),
        "profiled_total_s": round(total, 3),
        "errors": errors[:5],
        "tottime_by_area": _by_area(stats, total),
        "top_cumulative": _rows(stats, "cumtime", args.top),
        "top_tottime": _rows(stats, "tottime", args.top),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundles", type=int, default=5, help="bundles to profile")
    parser.add_argument("--warmup", type=int, default=2, help="unprofiled bundles sent first")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create the scratch database on "
        f"(default {harness.DEFAULT_PG}; its database part is ignored)",
    )
    parser.add_argument(
        "--timer",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time includes waiting for PostgreSQL; cpu: this process's CPU time only",
    )
    parser.add_argument("--output", help="also write the JSON to this file (indented)")
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    result = run(args)
    print(json.dumps(result))
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(result, fh, indent=2)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
