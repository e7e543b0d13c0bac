"""``manage.py issue-token`` prints a token the FHIR API accepts."""

from __future__ import annotations

import argparse
import io

from platform_core.cli import token_command


def test_issued_token_reads_the_api(app, fhir, anonymous):
    created = fhir.create({"resourceType": "Patient"})
    out = io.StringIO()
    args = argparse.Namespace(scope="system/Patient.rs", client_id="ops", patient=None, ttl=60)
    settings = app.extensions["fireside"].settings
    assert token_command.run(args, settings=settings, stdout=out) == 0
    token = out.getvalue().strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert anonymous.get(f"Patient/{created['id']}", headers=headers).status_code == 200
    assert (
        anonymous.post("Patient", {"resourceType": "Patient"}, headers=headers).status_code == 403
    )


def test_a_scope_without_clinical_data_is_refused(app):
    args = argparse.Namespace(scope="openid", client_id="ops", patient=None, ttl=None)
    assert token_command.run(args, settings=app.extensions["fireside"].settings) == 1
