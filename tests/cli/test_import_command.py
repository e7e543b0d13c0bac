"""``manage.py import``: Bundles and NDJSON files or folders, with a summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_manage(app, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FIRESIDE_DATABASE_URL": app.extensions["fireside"].settings.database_url,
        "FIRESIDE_BASE_URL": "http://testserver",
        "FIRESIDE_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_bundles_and_ndjson(app, fhir, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "txn.json").write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
                        "resource": {"resourceType": "Patient", "name": [{"family": "Import"}]},
                        "request": {"method": "POST", "url": "Patient"},
                    },
                    {
                        "resource": {
                            "resourceType": "Observation",
                            "status": "final",
                            "code": {"text": "x"},
                            "subject": {
                                "reference": "urn:uuid:11111111-1111-4111-8111-111111111111"
                            },
                        },
                        "request": {"method": "POST", "url": "Observation"},
                    },
                ],
            }
        )
    )
    (folder / "collection.json").write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Organization", "id": "org1", "name": "A"}}
                ],
            }
        )
    )
    lines = [
        {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Doc"}]},
        {"resourceType": "Practitioner", "id": "pr2", "gender": "banana"},
    ]
    (tmp_path / "more.ndjson").write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    result = run_manage(app, "import", "--quiet", str(folder), str(tmp_path / "more.ndjson"))
    assert result.returncode == 1, result.stderr  # something was rejected
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"files": 3, "created": 4, "updated": 0, "rejected": 2}
    assert "banana" in result.stderr or "gender" in result.stderr
    assert fhir.get("Organization/org1").status_code == 200
    assert fhir.get("Practitioner/pr2").status_code == 404

    again = run_manage(app, "import", "--quiet", str(folder / "collection.json"))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["updated"] == 1


def test_import_missing_path(app):
    result = run_manage(app, "import", "/no/such/place")
    assert result.returncode != 0
    assert "no such file" in result.stderr
