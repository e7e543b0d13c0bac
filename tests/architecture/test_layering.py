"""The one structural rule: platform_core imports nothing from plugins, fhir_adapters or search
(not even by name through ``importlib.import_module``); and the core still works with every
installed plugin switched off."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "platform_core"
FORBIDDEN = ("plugins", "fhir_adapters", "search")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return found


def test_platform_core_does_not_import_outer_packages():
    offenders = []
    for path in CORE.rglob("*.py"):
        for module in imported_modules(path):
            if module.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(CORE.parent)} imports {module}")
    assert offenders == []


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
outside = sorted(m for m in sys.modules if m.split(".")[0] in {sorted(FORBIDDEN)!r})
print(json.dumps({{"status": created.status_code, "outside": outside,
                  "ready": client.get("/readyz").status_code}}))
app.extensions["fireside"].dispose()
"""
    env = {**os.environ, "FIRESIDE_PLUGINS_DISABLED": installed}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=CORE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"status": 201, "outside": [], "ready": 200}
