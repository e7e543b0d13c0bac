"""The example plugin of docs/writing_plugins.md, built and installed as its own
distribution (a real wheel with a real entry point, into a temporary location), then used
by a Fireside process that finds it the way it finds any installed plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fireside-greetings"

SCRIPT = """
import json, sys
from platform_core.app import create_app
from platform_core.db.migrate import migrate_core
app = create_app({"database_url": sys.argv[1], "base_url": "http://testserver"})
core = app.extensions["fireside"]
migrate_core(core)
token, _ = core.auth.tokens.issue(
    scope="greetings/hello.read system/Patient.cruds", client_id="example-test")
auth = {"Authorization": "Bearer " + token}
c = app.test_client()
out = {"plugins": core.plugins.names()}
out["hello"] = c.get("/api/greetings/hello?name=Ada", headers=auth).get_json()
out["hello_without_scope"] = c.get("/api/greetings/hello?name=Ada").status_code
nameless = c.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=auth)
out["nameless"] = nameless.status_code
p = c.post("/fhir/Patient", json={"resourceType": "Patient", "name": [{"given": ["Ada"]}]},
           headers=auth).get_json()
greet = c.get("/fhir/Patient/%s/$greet" % p["id"], headers=auth).get_json()
out["greet"] = greet["parameter"][0]["valueString"]
scopes = c.get("/.well-known/smart-configuration").get_json()["scopes_supported"]
out["scope_listed"] = "greetings/hello.read" in scopes
print(json.dumps(out))
core.dispose()
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, built and installed into a temporary target directory."""
    uv = shutil.which("uv")
    assert uv is not None, "uv builds the example distribution (.ci/run installs it)"
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--python",
            sys.executable,
            "--target",
            str(target),
            "--no-deps",
            "--no-cache",
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "UV_SYSTEM_CERTS": "1"},
    )
    assert (target / "fireside_greetings").is_dir()
    assert any(target.glob("fireside_greetings-*.dist-info/entry_points.txt"))
    return target


def _env(site: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, **extra}


def test_the_installed_example_plugin_works_end_to_end(installed: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'example.db'}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url],
        cwd=ROOT,
        env=_env(installed),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "greetings" in out["plugins"]
    assert out["hello"] == {"greeting": "Hello, Ada!"}
    assert out["hello_without_scope"] == 401
    assert out["nameless"] == 422
    assert out["greet"] == "Hello, Ada!"
    assert out["scope_listed"] is True


def test_the_installed_plugin_adds_a_command_and_can_be_switched_off(
    installed: Path, tmp_path: Path
) -> None:
    env = _env(installed, FIRESIDE_DATABASE_URL=f"sqlite:///{tmp_path / 'cmd.db'}")
    done = subprocess.run(
        [sys.executable, "manage.py", "greet", "Grace"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "Hello, Grace!"
    off = subprocess.run(
        [sys.executable, "manage.py", "greet", "Grace"],
        cwd=ROOT,
        env={**env, "FIRESIDE_PLUGINS_DISABLED": "greetings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert off.returncode == 2  # argparse: no such command
    assert "invalid choice: 'greet'" in off.stderr
