"""``manage.py import PATH...``: load FHIR Bundles (JSON) and NDJSON files or folders.

A transaction or batch Bundle is posted as such; any other Bundle's entries and every NDJSON
line are stored one by one (PUT with their id, or POST without). Everything goes through the
FHIR engine, so validation and indexing are exactly those of the REST API. Prints a summary of
what was created, updated and rejected.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from platform_core.app import build_core
from platform_core.config import load_settings
from platform_core.fhir import jsonio
from platform_core.fhir.context import RequestContext
from platform_core.fhir.engine import FhirEngine
from platform_core.fhir.errors import FhirError
from platform_core.fhir.request import FhirRequest


def _files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in {".json", ".ndjson"})
        elif path.exists():
            found.append(path)
        else:
            raise SystemExit(f"import: no such file or folder: {raw}")
    return found


def _items(path: Path) -> Iterator[tuple[str, Any]]:
    """(label, parsed JSON or FhirError) for each unit of work in a file."""
    if path.suffix == ".ndjson":
        with path.open("rb") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield f"{path}:{n}", _parse(line)
        return
    yield str(path), _parse(path.read_bytes())


def _parse(raw: bytes) -> Any:
    try:
        return jsonio.parse_json(raw)
    except FhirError as exc:
        return exc


def _store_one(engine: FhirEngine, ctx: RequestContext, resource: Any, tally: Counter[str]) -> str:
    if not isinstance(resource, dict) or "resourceType" not in resource:
        tally["rejected"] += 1
        return "not a FHIR resource"
    rtype = resource["resourceType"]
    if "id" in resource:
        req = FhirRequest("PUT", f"{rtype}/{resource['id']}", resource=resource)
    else:
        req = FhirRequest("POST", rtype, resource=resource)
    resp = engine.handle(req, ctx)
    if resp.status == 201:
        tally["created"] += 1
    elif resp.status == 200:
        tally["updated"] += 1
    else:
        tally["rejected"] += 1
        return _first_message(resp.body_resource())
    return ""


def _first_message(outcome: Any) -> str:
    try:
        return outcome["issue"][0]["diagnostics"]
    except (KeyError, IndexError, TypeError):
        return "rejected"


def import_item(
    engine: FhirEngine, ctx: RequestContext, item: Any, tally: Counter[str]
) -> list[str]:
    """Store one parsed file or line; returns error messages."""
    if isinstance(item, FhirError):
        tally["rejected"] += 1
        return [str(item)]
    if isinstance(item, dict) and item.get("resourceType") == "Bundle":
        if item.get("type") in {"transaction", "batch"}:
            resp = engine.handle(FhirRequest("POST", "", resource=item), ctx)
            entries = item.get("entry", [])
            if resp.status != 200:
                tally["rejected"] += len(entries)
                return [_first_message(resp.body_resource())]
            errors = []
            for entry in (resp.body_resource() or {}).get("entry", []):
                status = entry.get("response", {}).get("status", "")
                if status.startswith("201"):
                    tally["created"] += 1
                elif status.startswith("200"):
                    tally["updated"] += 1
                else:
                    tally["rejected"] += 1
                    errors.append(_first_message(entry.get("response", {}).get("outcome")))
            return errors
        errors = []
        for entry in item.get("entry", []):
            msg = _store_one(engine, ctx, entry.get("resource"), tally)
            if msg:
                errors.append(msg)
        return errors
    msg = _store_one(engine, ctx, item, tally)
    return [msg] if msg else []


def run_import(paths: list[str], *, progress: bool = True) -> int:
    """Import every file; exit status 1 when anything was rejected."""
    core = build_core(load_settings())
    ctx = RequestContext.system("import")
    files = _files(paths)
    tally: Counter[str] = Counter()
    errors: list[str] = []
    for path in tqdm(files, unit="file", disable=not progress, file=sys.stderr):
        for label, item in _items(path):
            for message in import_item(core.fhir, ctx, item, tally):
                errors.append(f"{label}: {message}")
    summary = {
        "files": len(files),
        "created": tally["created"],
        "updated": tally["updated"],
        "rejected": tally["rejected"],
    }
    for line in errors[:50]:
        print(line, file=sys.stderr)
    if len(errors) > 50:
        print(f"... and {len(errors) - 50} more", file=sys.stderr)
    print(json.dumps(summary))
    return 1 if tally["rejected"] else 0
