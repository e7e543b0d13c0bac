"""The one structural rule: ``platform_core`` imports nothing from ``plugins``,
``fhir_adapters`` or ``search``; they reach it through hooks. And the core still works with
every installed plugin switched off."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = frozenset({"plugins", "fhir_adapters", "search"})


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            roots.add(str(node.args[0].value).split(".")[0])
    return roots


def test_platform_core_imports_nothing_from_plugins_adapters_or_search() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & OUTSIDE)
        for path in (ROOT / "platform_core").rglob("*.py")
        if _imported_roots(path) & OUTSIDE
    }
    assert offenders == {}


def test_the_core_runs_with_every_installed_plugin_switched_off(tmp_path: Path) -> None:
    from importlib.metadata import entry_points

    installed = ",".join(ep.name for ep in entry_points(group="fireside"))
    script = f"""
import json, sys
from platform_core.app import create_app
from platform_core.db.migrate import migrate_core
app = create_app({{"database_url": "sqlite:///{tmp_path / "core.db"}", "auth_required": False}})
migrate_core(app.extensions["fireside"])
client = app.test_client()
created = client.post("/fhir/Patient", json={{"resourceType": "Patient"}})
outside = sorted(m for m in sys.modules if m.split(".")[0] in {sorted(OUTSIDE)!r})
print(json.dumps({{"status": created.status_code, "outside": outside,
                  "ready": client.get("/readyz").status_code}}))
app.extensions["fireside"].dispose()
"""
    env = {**os.environ, "FIRESIDE_PLUGINS_DISABLED": installed}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"status": 201, "outside": [], "ready": 200}
