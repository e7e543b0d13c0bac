"""Scopes, compartments and roles enforced on every FHIR interaction; nothing leaks."""

from __future__ import annotations

import json

import sqlalchemy as sa

from platform_core.auth.schema import UserRow
from tests.auth.conftest import make_user
from tests.conftest import issue_token, outcome_codes

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def text(resp) -> str:
    return resp.get_data(as_text=True)


# --- 401 / 403 ---------------------------------------------------------------------------
def test_no_token_is_401_with_a_bearer_challenge(anonymous, world, counts):
    before = counts()
    resp = anonymous.get(f"Patient/{world['a']}")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert outcome_codes(resp.get_json()) == ["FS-0601"]
    assert anonymous.post("Patient", {"resourceType": "Patient"}).status_code == 401
    assert counts() == before


def test_metadata_needs_no_token(anonymous):
    assert anonymous.get("metadata").status_code == 200


def test_forged_expired_and_foreign_tokens_are_401(app, anonymous, world):
    good = issue_token(app)
    header, payload, signature = good.split(".")
    tampered = ".".join(
        [header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature]
    )
    expired = issue_token(app, ttl=-10)
    for token in (tampered, expired, "not-a-jwt", good + "x"):
        resp = anonymous.get(f"Patient/{world['a']}", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, token
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    resp = anonymous.get(f"Patient/{world['a']}", headers={"Authorization": f"Basic {good}"})
    assert resp.status_code == 401


def test_token_for_another_audience_is_refused(app, anonymous, world):
    tokens = app.extensions["fireside"].auth.tokens
    claims = {
        "iss": tokens.issuer,
        "aud": "https://elsewhere.example/fhir",
        "sub": "c",
        "client_id": "c",
        "scope": "system/*.rs",
        "jti": "j1",
        "iat": 1,
        "exp": 4_000_000_000,
    }
    token = app.extensions["fireside"].auth.keys.sign(claims, typ="at+jwt")
    resp = anonymous.get(f"Patient/{world['a']}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    assert "audience" in resp.headers["WWW-Authenticate"]


def test_revoked_token_is_401(app, fhir_as, world):
    client = fhir_as("system/*.rs")
    assert client.get(f"Patient/{world['a']}").status_code == 200
    tokens = app.extensions["fireside"].auth.tokens
    jti, expires = tokens.decode_unverified_expiry(client.token)
    tokens.revoke(jti, expires)
    assert client.get(f"Patient/{world['a']}").status_code == 401


def test_missing_scope_is_403_and_writes_nothing(fhir_as, world, counts):
    reader = fhir_as("system/Observation.rs")
    assert reader.get(f"Observation/{world['a_laboratory']}").status_code == 200
    before = counts()
    for resp in (
        reader.get(f"Patient/{world['a']}"),
        reader.post(
            "Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
        ),
        reader.delete(f"Observation/{world['a_laboratory']}"),
    ):
        assert resp.status_code == 403
        assert outcome_codes(resp.get_json()) == ["FS-0602"]
    assert counts() == before


# --- patient compartment ------------------------------------------------------------------
def test_patient_token_reads_only_its_patient(fhir_as, world):
    mine = fhir_as("patient/*.rs", patient=world["a"])
    assert mine.get(f"Patient/{world['a']}").status_code == 200
    assert mine.get(f"Observation/{world['a_laboratory']}").status_code == 200
    other = mine.get(f"Observation/{world['b_laboratory']}")
    unknown = mine.get("Observation/does-not-exist")
    assert other.status_code == unknown.status_code == 404
    assert mine.get(f"Patient/{world['b']}").status_code == 404
    assert mine.get(f"Observation/{world['b_laboratory']}/_history/1").status_code == 404
    # Resources outside any compartment hold no patient data and may be read.
    assert mine.get(f"Practitioner/{world['pract']}").status_code == 200


def test_patient_token_search_is_narrowed_with_totals(fhir_as, world):
    mine = fhir_as("patient/*.rs", patient=world["a"])
    assert ids(mine.get("Observation")) == {world["a_laboratory"], world["a_vital-signs"]}
    assert ids(mine.get("Patient")) == {world["a"]}
    resp = mine.get("Observation?_total=accurate&_count=1")
    assert resp.get_json()["total"] == 2
    assert mine.get("Observation?_summary=count").get_json()["total"] == 2
    assert ids(mine.get(f"Observation?subject=Patient/{world['b']}")) == set()
    assert ids(mine.get("Observation?subject.name=FamB")) == set()
    assert ids(mine.get("Observation?subject:Patient.name=FamA")) == {
        world["a_laboratory"],
        world["a_vital-signs"],
    }
    assert ids(mine.get(f"Patient?_has:Observation:subject:_id={world['b_laboratory']}")) == set()
    assert ids(
        mine.post("Observation/_search", raw=b"", content_type="application/x-www-form-urlencoded")
    ) == {
        world["a_laboratory"],
        world["a_vital-signs"],
    }


def test_includes_never_bring_in_another_patients_data(fhir, fhir_as, world):
    # B's observation refers to A's patient too (a data-entry slip): searching as A must not
    # pull B's observation in through _revinclude.
    stray = fhir.create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": f"Patient/{world['b']}"},
            "focus": [{"reference": f"Patient/{world['a']}"}],
        }
    )
    mine = fhir_as("patient/*.rs", patient=world["a"])
    body = mine.get(
        "Patient?_revinclude=Observation:focus&_revinclude=Observation:subject"
    ).get_json()
    got = {e["resource"]["id"] for e in body["entry"]}
    assert stray["id"] not in got
    assert world["b_laboratory"] not in got
    body = mine.get(
        "Observation?_include=Observation:subject&_include=Observation:performer"
    ).get_json()
    types = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in body["entry"]}
    assert ("Patient", world["b"]) not in types
    assert ("Patient", world["a"]) in types
    assert ("Practitioner", world["pract"]) in types
    assert world["b"] not in text(mine.get("Observation?_include=*&_revinclude=*"))


def test_history_is_narrowed(fhir, fhir_as, world):
    mine = fhir_as("patient/*.rs", patient=world["a"])
    assert mine.get(f"Observation/{world['b_laboratory']}/_history").status_code == 404
    got = {e["resource"]["id"] for e in mine.get("Observation/_history").get_json()["entry"]}
    assert got == {world["a_laboratory"], world["a_vital-signs"]}
    system = mine.get("_history?_count=100").get_json()
    ids_seen = {e["resource"]["id"] for e in system["entry"] if "resource" in e}
    assert world["b"] not in ids_seen and world["b_laboratory"] not in ids_seen
    assert world["a"] in ids_seen


def test_everything_and_compartment_search_of_another_patient_reveal_nothing(fhir_as, world):
    mine = fhir_as("patient/*.rs", patient=world["a"])
    assert mine.get(f"Patient/{world['b']}/$everything").status_code == 404
    # A compartment search of another patient answers as for a patient that does not exist.
    assert ids(mine.get(f"Patient/{world['b']}/Observation")) == set()
    assert ids(mine.get(f"Patient/{world['b']}/*")) == set()
    assert ids(mine.get("Patient/nobody/Observation")) == set()
    everything = mine.get(f"Patient/{world['a']}/$everything").get_json()
    got = {e["resource"]["id"] for e in everything["entry"]}
    assert world["a_laboratory"] in got and world["b_laboratory"] not in got


def test_patient_token_cannot_write_into_another_patients_record(fhir, fhir_as, world, counts):
    writer = fhir_as("patient/*.cruds", patient=world["a"])
    before = counts()
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{world['b']}"},
    }
    resp = writer.post("Observation", obs)
    assert resp.status_code == 403
    assert outcome_codes(resp.get_json()) == ["FS-0603"]
    stolen = dict(obs, id=world["b_laboratory"])
    assert writer.put(f"Observation/{world['b_laboratory']}", stolen).status_code == 403
    moved = dict(obs, id=world["a_laboratory"])
    assert writer.put(f"Observation/{world['a_laboratory']}", moved).status_code == 403
    assert writer.delete(f"Observation/{world['b_laboratory']}").status_code == 404
    patch = [{"op": "replace", "path": "/status", "value": "cancelled"}]
    resp = writer.patch(
        f"Observation/{world['b_laboratory']}", patch, content_type="application/json-patch+json"
    )
    assert resp.status_code == 404
    # Writing a resource type outside the compartment is not for patient scopes.
    assert writer.post("Practitioner", {"resourceType": "Practitioner"}).status_code == 403
    assert counts() == before
    assert fhir.get(f"Observation/{world['b_laboratory']}").get_json()["status"] == "final"
    ok = writer.post("Observation", dict(obs, subject={"reference": f"Patient/{world['a']}"}))
    assert ok.status_code == 201


def test_transaction_entries_are_enforced_one_by_one(fhir_as, world, counts):
    writer = fhir_as("patient/*.cruds", patient=world["a"])
    before = counts()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "ok"},
                    "subject": {"reference": f"Patient/{world['a']}"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "not mine"},
                    "subject": {"reference": f"Patient/{world['b']}"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    resp = writer.post("", bundle)
    assert resp.status_code == 403
    assert counts() == before
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"Observation/{world['b_laboratory']}"}},
            {"request": {"method": "GET", "url": f"Observation/{world['a_laboratory']}"}},
            {"request": {"method": "GET", "url": "Observation"}},
        ],
    }
    entries = writer.post("", batch).get_json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["404", "200", "200"]
    assert world["b_laboratory"] not in json.dumps(entries[2])


def test_patient_scope_without_patient_context_reaches_nothing(fhir_as, world):
    client = fhir_as("patient/*.rs")
    resp = client.get("Observation")
    assert resp.status_code == 403
    assert "patient in context" in resp.get_json()["issue"][0]["diagnostics"]


# --- granular scopes ----------------------------------------------------------------------
def test_granular_scope_reaches_only_matching_resources(fhir_as, world):
    lab = fhir_as(f"patient/Observation.rs?category={LAB}", patient=world["a"])
    assert ids(lab.get("Observation")) == {world["a_laboratory"]}
    assert lab.get(f"Observation/{world['a_vital-signs']}").status_code == 404
    assert lab.get(f"Observation/{world['a_laboratory']}").status_code == 200
    both = fhir_as(
        f"patient/Observation.rs?category={LAB} patient/Observation.rs?category=vital-signs",
        patient=world["a"],
    )
    assert ids(both.get("Observation")) == {world["a_laboratory"], world["a_vital-signs"]}


# --- user scopes and roles ----------------------------------------------------------------
def test_guardian_reaches_their_children_only(db, fhir_as, world):
    guardian = make_user(db, "guardian", patients=[(world["a"], "guardian")])
    client = fhir_as("user/*.rs", user_id=guardian, generation=0)
    assert ids(client.get("Patient")) == {world["a"]}
    assert client.get(f"Observation/{world['b_laboratory']}").status_code == 404


def test_practitioner_reaches_patients_they_have_appointments_with(db, fhir, fhir_as, world):
    doctor = make_user(db, "practitioner", fhir_user=f"Practitioner/{world['pract']}")
    client = fhir_as("user/Patient.rs user/Observation.rs", user_id=doctor, generation=0)
    assert ids(client.get("Patient")) == set()
    fhir.create(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "participant": [
                {"actor": {"reference": f"Patient/{world['b']}"}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/{world['pract']}"}, "status": "accepted"},
            ],
        }
    )
    app_grants = client.client.application.extensions["fireside"].auth.grants
    app_grants.forget(doctor)
    assert ids(client.get("Patient")) == {world["b"]}


def test_admin_user_reaches_everyone(db, fhir_as, world):
    admin = make_user(db, "admin")
    client = fhir_as("user/*.rs", user_id=admin, generation=0)
    assert ids(client.get("Patient")) == {world["a"], world["b"]}


def test_system_scopes_on_a_user_token_grant_nothing(db, fhir_as, world):
    user = make_user(db, "patient", fhir_user=f"Patient/{world['a']}")
    client = fhir_as("system/*.rs", user_id=user, generation=0)
    assert client.get("Patient").status_code == 403


def test_password_change_revokes_user_tokens(db, fhir_as, world):
    user = make_user(db, "patient", fhir_user=f"Patient/{world['a']}")
    client = fhir_as("user/*.rs", user_id=user, generation=0)
    assert client.get(f"Patient/{world['a']}").status_code == 200
    with db.begin() as conn:
        conn.execute(
            sa.update(UserRow.__table__).where(UserRow.id == user).values(token_generation=1)
        )
    client.client.application.extensions["fireside"].auth.grants.forget(user)
    resp = client.get(f"Patient/{world['a']}")
    assert resp.status_code == 401
    assert "password change" in resp.headers["WWW-Authenticate"]


# --- audit records ------------------------------------------------------------------------
def test_audit_events_are_not_writable_and_only_admins_read_them(
    app, db, fhir, fhir_as, world, counts
):
    before = counts()
    event = {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "recorded": "2026-01-01T00:00:00Z",
        "agent": [{"requestor": True}],
        "source": {"observer": {"display": "x"}},
    }
    resp = fhir.post("AuditEvent", event)
    assert resp.status_code == 403
    assert counts() == before
    patient = fhir_as("patient/*.*", patient=world["a"])
    assert patient.get(f"Patient/{world['a']}").status_code == 200
    assert patient.get("AuditEvent").status_code == 403
    app.extensions["fireside"].audit.flush()
    found = fhir.get("AuditEvent?_count=200").get_json()
    reads = [
        e["resource"]
        for e in found["entry"]
        if e["resource"].get("entity", [{}])[0].get("what", {}).get("reference")
        == f"Patient/{world['a']}"
    ]
    assert {(r["action"], r["subtype"][0]["code"], r["outcome"]) for r in reads} >= {
        ("C", "create", "0"),
        ("R", "read", "0"),
    }
    read = next(r for r in reads if r["subtype"][0]["code"] == "read")
    assert read["agent"][0]["altId"] == "test-suite"
    denied = [r for r in found["entry"] if r["resource"]["outcome"] == "4"]
    assert denied, "the refused AuditEvent write was audited as a failure"
    admin = fhir_as("user/AuditEvent.rs", user_id=make_user(db, "admin"), generation=0)
    assert admin.get("AuditEvent").status_code == 200


def test_capability_statement_declares_smart_security(anonymous):
    rest = anonymous.get("metadata").get_json()["rest"][0]
    assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in rest["security"]["extension"][0]["extension"]}
    assert uris["token"] == "http://testserver/oauth2/token"
    assert uris["authorize"] == "http://testserver/oauth2/authorize"


def test_cors_preflight_and_headers_for_browser_apps(anonymous, fhir, world):
    pre = anonymous.client.open("/fhir/Patient", method="OPTIONS")
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    resp = fhir.get(f"Patient/{world['a']}")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
