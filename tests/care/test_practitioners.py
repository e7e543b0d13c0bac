"""The practitioners plugin: a doctor applies, uploads credentials, an admin decides, and the
directory lists exactly the verified, active doctors.

Everything goes through the HTTP API with real tokens. Refused requests are checked to
have written nothing (``counts()`` before and after).
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from fpdf import FPDF

from platform_core.auth.schema import UserRow
from platform_core.identity.care import is_verified_practitioner
from platform_core.identity.users import create_user, get_user
from tests.care.conftest import ApiClient, problem
from tests.conftest import issue_token

DOCTOR_SCOPE = "openid fhirUser user/*.cruds"
GENERAL_PRACTICE = {"code": "394814009", "display": "General practice"}
PAEDIATRICS = {"code": "394537008", "display": "Paediatric specialty"}
CARDIOLOGY = {"code": "394579002", "display": "Cardiology"}
LICENCE_SYSTEM = "https://fireside.health/fhir/sid/medical-licence/ng"
CREDENTIAL_TYPES = "https://fireside.health/fhir/CodeSystem/credential-type"

_serial = itertools.count(1)


# --- helpers -------------------------------------------------------------------------------


def profile_body(**changes: Any) -> dict[str, Any]:
    """A valid profile with a licence number of its own; ``changes`` replace top-level keys."""
    n = next(_serial)
    body: dict[str, Any] = {
        "name": {"prefix": ["Dr"], "given": ["Amina"], "family": "Bello"},
        "gender": "female",
        "phone": "+2348012345678",
        "email": "amina.bello@example.org",
        "specialties": [GENERAL_PRACTICE],
        "qualifications": [
            {
                "code": "MBBS",
                "display": "Bachelor of Medicine, Bachelor of Surgery",
                "issuer": "University of Lagos",
                "year": 2012,
            }
        ],
        "licence": {
            "number": f"MDCN/{10000 + n}",
            "issuer": "Medical and Dental Council of Nigeria",
            "country": "NG",
            "expires": (datetime.now(UTC).date() + timedelta(days=700)).isoformat(),
        },
        "bio": "Family doctor in Lagos; children and adults.",
    }
    body.update(changes)
    return body


@dataclass
class Doctor:
    """A practitioner account (signed up through the core) and its API client."""

    user_id: str
    token: str
    api: ApiClient
    practitioner: str = ""

    def upload(
        self, data: bytes, filename: str, declared: str = "application/pdf", kind: str = "licence"
    ) -> Any:
        return upload(self.api, data, filename, declared, kind)


def sign_up(app: Flask) -> Doctor:
    """A practitioner account with no FHIR resource yet, and a token for it."""
    db = app.extensions["fireside"].db
    user = create_user(
        db, email=f"doctor{next(_serial)}@example.org", password=None, role="practitioner"
    )
    # Like the tokens the authorization server issues, it carries the account's generation.
    token = issue_token(app, DOCTOR_SCOPE, user_id=user.id, generation=user.token_generation)
    return Doctor(user.id, token, ApiClient(app.test_client(), token))


def applied(app: Flask, **changes: Any) -> Doctor:
    """A doctor whose profile is sent (pending)."""
    doctor = sign_up(app)
    resp = doctor.api.post("practitioners/profile", profile_body(**changes))
    assert resp.status_code == 201, resp.get_json()
    doctor.practitioner = resp.get_json()["practitioner"]
    return doctor


def verified(app: Flask, admin: Any, **changes: Any) -> Doctor:
    """A doctor an admin verified."""
    doctor = applied(app, **changes)
    resp = admin.api.post(f"practitioners/applications/{doctor.practitioner}/verify")
    assert resp.status_code == 200, resp.get_json()
    return doctor


def upload(
    api: ApiClient,
    data: bytes,
    filename: str,
    declared: str = "application/pdf",
    kind: str = "licence",
) -> Any:
    form: dict[str, Any] = {"file": (io.BytesIO(data), filename, declared)}
    if kind is not None:
        form["type"] = kind
    return api.post("practitioners/me/documents", data=form, content_type="multipart/form-data")


def small_pdf(text: str = "Licence to practise") -> bytes:
    """A real one-page PDF."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=text)
    return bytes(pdf.output())


def small_png() -> bytes:
    """A real 1x1 red PNG."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def small_jpeg() -> bytes:
    """The start of a JPEG (SOI, APP0 JFIF): enough for the magic-byte check."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
EXE += b"This program cannot be run in DOS mode.\r\r\n$"


def listed(api: ApiClient, **params: Any) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    resp = api.get(f"practitioners/directory?{query}")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def listed_ids(api: ApiClient, **params: Any) -> list[str]:
    return [e["practitioner"] for e in listed(api, **params)["practitioners"]]


# --- the whole journey -------------------------------------------------------------------


def test_a_doctor_signs_up_is_verified_listed_suspended_and_reinstated(app, db, people, fhir):
    admin = people.admin()
    patient = people.patient()
    doctor = sign_up(app)

    body = profile_body()
    sent = doctor.api.post("practitioners/profile", body)
    assert sent.status_code == 201
    created = sent.get_json()
    assert created["status"] == "pending"
    pid, role_id = created["practitioner"], created["practitioner_role"]
    assert get_user(db, doctor.user_id).fhir_user == f"Practitioner/{pid}"

    pdf, png = small_pdf(), small_png()
    first = doctor.upload(pdf, "licence.pdf", "application/pdf", "licence")
    second = doctor.upload(png, "degree.png", "image/png", "degree")
    assert first.status_code == 201 and second.status_code == 201

    me = doctor.api.get("practitioners/me").get_json()
    assert me["status"] == "pending" and me["reason"] is None
    assert me["profile"] == body
    assert sorted((d["type"], d["content_type"]) for d in me["documents"]) == [
        ("degree", "image/png"),
        ("licence", "application/pdf"),
    ]

    # Not listed, not verified yet.
    assert listed_ids(patient.api) == []
    with db.connect() as conn:
        assert not is_verified_practitioner(conn, pid)

    queue = admin.api.get("practitioners/applications?status=pending").get_json()
    assert [a["practitioner"] for a in queue["applications"]] == [pid]
    details = admin.api.get(f"practitioners/applications/{pid}").get_json()
    assert details["user_id"] == doctor.user_id
    assert len(details["documents"]) == 2
    by_type = {d["type"]: d for d in details["documents"]}
    got = admin.api.get(by_type["licence"]["content_url"].removeprefix("/api/"))
    assert got.status_code == 200 and got.data == pdf
    got = admin.api.get(by_type["degree"]["content_url"].removeprefix("/api/"))
    assert got.status_code == 200 and got.data == png and got.mimetype == "image/png"

    verdict = admin.api.post(f"practitioners/applications/{pid}/verify")
    assert verdict.status_code == 200
    assert verdict.get_json()["status"] == "verified"
    assert verdict.get_json()["decided_by"] == admin.user_id
    with db.connect() as conn:
        assert is_verified_practitioner(conn, pid)
    assert fhir.get(f"Practitioner/{pid}").get_json()["active"] is True
    assert fhir.get(f"PractitionerRole/{role_id}").get_json()["active"] is True

    page = listed(patient.api)
    assert page["total"] == 1
    assert page["practitioners"] == [
        {
            "practitioner": pid,
            "name": "Dr Amina Bello",
            "specialties": [GENERAL_PRACTICE],
            "qualifications": [
                {
                    "code": "MBBS",
                    "display": "Bachelor of Medicine, Bachelor of Surgery",
                    "issuer": "University of Lagos",
                    "year": 2012,
                }
            ],
            "bio": "Family doctor in Lagos; children and adults.",
            "rating": None,
        }
    ]
    assert patient.api.get(f"practitioners/directory/{pid}").get_json() == page["practitioners"][0]
    assert doctor.api.get("practitioners/me").status_code == 200

    suspended = admin.api.post(
        f"practitioners/applications/{pid}/suspend", {"reason": "Licence under review"}
    )
    assert suspended.status_code == 200
    assert suspended.get_json()["status"] == "suspended"
    assert listed_ids(patient.api) == []
    problem(patient.api.get(f"practitioners/directory/{pid}"), 404)
    problem(doctor.api.get("practitioners/me"), 401)
    assert fhir.get(f"PractitionerRole/{role_id}").get_json()["active"] is False
    with db.connect() as conn:
        assert not is_verified_practitioner(conn, pid)

    back = admin.api.post(f"practitioners/applications/{pid}/reinstate")
    assert back.status_code == 200 and back.get_json()["status"] == "verified"
    assert listed_ids(patient.api) == [pid]
    assert fhir.get(f"PractitionerRole/{role_id}").get_json()["active"] is True
    # The old token stays dead (suspension ended it); a new one works.
    problem(doctor.api.get("practitioners/me"), 401)
    generation = get_user(db, doctor.user_id).token_generation
    fresh = ApiClient(
        app.test_client(),
        issue_token(app, DOCTOR_SCOPE, user_id=doctor.user_id, generation=generation),
    )
    assert fresh.get("practitioners/me").get_json()["status"] == "verified"


# --- the profile -------------------------------------------------------------------------


def test_the_profile_is_stored_as_fhir(app, db, fhir):
    doctor = sign_up(app)
    body = profile_body()
    created = doctor.api.post("practitioners/profile", body).get_json()
    practitioner = fhir.get(f"Practitioner/{created['practitioner']}").get_json()
    role = fhir.get(f"PractitionerRole/{created['practitioner_role']}").get_json()
    licence = body["licence"]

    assert practitioner["active"] is False
    assert practitioner["identifier"][0]["system"] == LICENCE_SYSTEM
    assert practitioner["identifier"][0]["value"] == licence["number"]
    assert practitioner["name"][0]["prefix"] == ["Dr"]
    assert practitioner["name"][0]["given"] == ["Amina"]
    assert practitioner["name"][0]["family"] == "Bello"
    assert {(t["system"], t["value"]) for t in practitioner["telecom"]} == {
        ("phone", "+2348012345678"),
        ("email", "amina.bello@example.org"),
    }
    degree, licence_entry = practitioner["qualification"]
    assert degree["code"]["coding"][0]["code"] == "MBBS"
    assert degree["issuer"] == {"display": "University of Lagos"}
    assert degree["period"] == {"start": "2012"}
    assert licence_entry["code"]["coding"][0]["system"] == CREDENTIAL_TYPES
    assert licence_entry["period"] == {"end": licence["expires"]}
    assert licence_entry["identifier"] == [{"system": LICENCE_SYSTEM, "value": licence["number"]}]

    assert role["active"] is False
    assert role["practitioner"]["reference"] == f"Practitioner/{created['practitioner']}"
    assert role["specialty"][0]["coding"] == [
        {"system": "http://snomed.info/sct", **GENERAL_PRACTICE}
    ]
    found = fhir.get(f"Practitioner?identifier={LICENCE_SYSTEM}|{licence['number']}").get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == [created["practitioner"]]

    assert doctor.api.get("practitioners/me").get_json()["profile"] == body


def _without(path: str) -> Any:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return change


def _set(path: str, value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


BAD_PROFILES = [
    (_without("name"), "name"),
    (_set("name", "Dr Amina Bello"), "name"),
    (_set("name.family", ""), "name.family"),
    (_set("name.family", "   "), "name.family"),
    (_set("name.given", []), "name.given"),
    (_set("name.given", ["Amina", 7]), "name.given[1]"),
    (_set("name.nickname", "Mina"), "name.nickname"),
    (_set("gender", "woman"), "gender"),
    (_set("phone", "08012345678"), "phone"),
    (_set("phone", 2348012345678), "phone"),
    (_set("email", "not-an-address"), "email"),
    (_without("specialties"), "specialties"),
    (_set("specialties", []), "specialties"),
    (_set("specialties", [GENERAL_PRACTICE] * 11), "specialties"),
    (_set("specialties", [{"code": "ABC", "display": "General"}]), "specialties[0].code"),
    (_set("specialties", [{"code": "394814009"}]), "specialties[0].display"),
    (
        _set("specialties", [{**GENERAL_PRACTICE, "system": "http://loinc.org"}]),
        "specialties[0].system",
    ),
    (_set("specialties", [GENERAL_PRACTICE, GENERAL_PRACTICE]), "specialties[1].code"),
    (_set("specialties", ["394814009"]), "specialties[0]"),
    (_set("qualifications.0.year", 1800), "qualifications[0].year"),
    (_set("qualifications.0.year", "2012"), "qualifications[0].year"),
    (_set("qualifications.0.year", True), "qualifications[0].year"),
    (_without("qualifications.0.issuer"), "qualifications[0].issuer"),
    (_set("qualifications.0.code", "M  BBS"), "qualifications[0].code"),
    (_set("qualifications", "MBBS"), "qualifications"),
    (_without("licence"), "licence"),
    (_without("licence.number"), "licence.number"),
    (_set("licence.number", "MDCN<12345>"), "licence.number"),
    (_without("licence.issuer"), "licence.issuer"),
    (_set("licence.country", "Nigeria"), "licence.country"),
    (_set("licence.expires", "2030-02-30"), "licence.expires"),
    (_set("licence.expires", "next year"), "licence.expires"),
    (_set("bio", "x" * 2001), "bio"),
    (_set("bio", ""), "bio"),
    (_set("website", "https://example.org"), "website"),
]


@pytest.mark.parametrize(("change", "field"), BAD_PROFILES)
def test_a_bad_profile_is_refused_naming_the_field_and_writes_nothing(app, counts, change, field):
    doctor = sign_up(app)
    body = profile_body()
    change(body)
    before = counts()
    answer = problem(doctor.api.post("practitioners/profile", body), 400)
    assert field in answer["errors"]["json"], answer
    assert field in answer["detail"]
    assert counts() == before


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b'"a string"', b"null"], ids=["text", "list", "string", "null"]
)
def test_a_body_that_is_not_a_json_object_is_400(app, counts, raw):
    doctor = sign_up(app)
    before = counts()
    resp = doctor.api.post(
        "practitioners/profile", data=raw, headers={"Content-Type": "application/json"}
    )
    problem(resp, 400)
    assert counts() == before


def test_an_expired_licence_is_422_and_writes_nothing(app, counts):
    doctor = sign_up(app)
    body = profile_body()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    body["licence"]["expires"] = yesterday.isoformat()
    before = counts()
    answer = problem(doctor.api.post("practitioners/profile", body), 422)
    assert "licence.expires" in answer["detail"] and yesterday.isoformat() in answer["detail"]
    assert counts() == before

    body["licence"]["expires"] = datetime.now(UTC).date().isoformat()  # valid through today
    assert doctor.api.post("practitioners/profile", body).status_code == 201


def test_one_profile_per_account(app, counts):
    doctor = applied(app)
    before = counts()
    answer = problem(doctor.api.post("practitioners/profile", profile_body()), 409)
    assert "already have a profile" in answer["detail"]
    assert counts() == before


def test_an_account_already_linked_to_a_practitioner_cannot_apply(app, people, counts):
    linked = people.practitioner(verified=False)
    before = counts()
    answer = problem(linked.api.post("practitioners/profile", profile_body()), 409)
    assert linked.ref in answer["detail"]
    assert counts() == before


def test_a_licence_belongs_to_one_practitioner(app, counts):
    first = applied(app)
    number = first.api.get("practitioners/me").get_json()["licence"]["number"]
    other = sign_up(app)
    body = profile_body()
    # The same licence written differently: lower case, spaces.
    body["licence"]["number"] = number.lower().replace("/", " / ")
    body["licence"]["country"] = "ng"
    before = counts()
    answer = problem(other.api.post("practitioners/profile", body), 409)
    assert "licence" in answer["detail"]
    assert counts() == before

    body["licence"]["country"] = "GH"  # the same number in another country is another licence
    assert other.api.post("practitioners/profile", body).status_code == 201


def test_a_licence_on_a_practitioner_written_over_fhir_is_taken(app, fhir, counts):
    fhir.create(
        {
            "resourceType": "Practitioner",
            "identifier": [{"system": LICENCE_SYSTEM, "value": "MDCN/77777"}],
            "name": [{"family": "Eze"}],
        }
    )
    doctor = sign_up(app)
    body = profile_body()
    body["licence"]["number"] = "MDCN/77777"
    before = counts()
    problem(doctor.api.post("practitioners/profile", body), 409)
    assert counts() == before


def test_a_pending_profile_can_be_changed(app, fhir):
    doctor = applied(app)
    body = profile_body(specialties=[PAEDIATRICS, CARDIOLOGY], bio="Children's doctor.")
    body["name"]["family"] = "Bello-Okafor"
    resp = doctor.api.put("practitioners/profile", body)
    assert resp.status_code == 200 and resp.get_json()["status"] == "pending"
    me = doctor.api.get("practitioners/me").get_json()
    assert me["profile"]["specialties"] == [PAEDIATRICS, CARDIOLOGY]
    assert me["name"] == "Dr Amina Bello-Okafor"
    assert me["licence"]["number"] == body["licence"]["number"]
    practitioner = fhir.get(f"Practitioner/{doctor.practitioner}").get_json()
    assert practitioner["meta"]["versionId"] == "2" and practitioner["active"] is False


def test_changing_a_profile_needs_one(app, counts):
    doctor = sign_up(app)
    before = counts()
    problem(doctor.api.put("practitioners/profile", profile_body()), 404)
    problem(doctor.api.get("practitioners/me"), 404)
    assert counts() == before


def test_a_verified_profile_is_changed_by_an_admin_only(app, people, counts):
    doctor = verified(app, people.admin())
    before = counts()
    answer = problem(doctor.api.put("practitioners/profile", profile_body()), 409)
    assert "verified" in answer["detail"] and "administrator" in answer["detail"]
    assert counts() == before


def test_a_rejected_doctor_reapplies(app, people):
    admin = people.admin()
    doctor = applied(app)
    rejected = admin.api.post(
        f"practitioners/applications/{doctor.practitioner}/reject",
        {"reason": "The licence scan is unreadable"},
    )
    assert rejected.status_code == 200
    me = doctor.api.get("practitioners/me").get_json()
    assert (me["status"], me["reason"]) == ("rejected", "The licence scan is unreadable")
    assert me["decided_at"] is not None and "decided_by" not in me

    # While rejected, documents may still be added, and the details re-sent.
    assert doctor.upload(small_pdf("Clearer scan"), "licence-2.pdf").status_code == 201
    again = doctor.api.put("practitioners/profile", profile_body())
    assert again.get_json()["status"] == "pending"
    me = doctor.api.get("practitioners/me").get_json()
    assert (me["status"], me["reason"], me["decided_at"]) == ("pending", None, None)
    verdict = admin.api.post(f"practitioners/applications/{doctor.practitioner}/verify")
    assert verdict.get_json()["status"] == "verified"


# --- documents -----------------------------------------------------------------------------


def test_a_pdf_declared_as_png_is_stored_as_pdf(app, fhir):
    doctor = applied(app)
    pdf = small_pdf()
    resp = doctor.upload(pdf, "scan.png", "image/png", "licence")
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["content_type"] == "application/pdf" and body["size"] == len(pdf)

    reference = fhir.get(f"DocumentReference/{body['document_reference']}").get_json()
    assert reference["status"] == "current"
    assert reference["type"]["coding"][0] == {
        "system": CREDENTIAL_TYPES,
        "code": "licence",
        "display": "Licence to practise",
    }
    assert reference["subject"] == {"reference": f"Practitioner/{doctor.practitioner}"}
    assert reference["author"] == [{"reference": f"Practitioner/{doctor.practitioner}"}]
    attachment = reference["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert attachment["size"] == len(pdf)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
    assert attachment["title"] == "scan.png"
    binary = fhir.get(attachment["url"]).get_json()
    assert binary["contentType"] == "application/pdf"
    assert binary["securityContext"] == {
        "reference": f"DocumentReference/{body['document_reference']}"
    }
    assert base64.b64decode(binary["data"]) == pdf

    content = doctor.api.get(f"practitioners/documents/{body['id']}/content")
    assert content.status_code == 200
    assert content.mimetype == "application/pdf"
    assert content.headers["Content-Disposition"].startswith("attachment")
    assert "scan.png.pdf" in content.headers["Content-Disposition"]
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert content.data == pdf


@pytest.mark.parametrize(
    ("data", "declared", "kind"),
    [(small_png(), "image/png", "degree"), (small_jpeg(), "image/jpeg", "identity")],
    ids=["png", "jpeg"],
)
def test_png_and_jpeg_are_accepted(app, data, declared, kind):
    doctor = applied(app)
    resp = doctor.upload(data, f"file.{declared.split('/')[1]}", "application/octet-stream", kind)
    assert resp.status_code == 201
    assert resp.get_json()["content_type"] == declared
    assert doctor.api.get(f"practitioners/documents/{resp.get_json()['id']}/content").data == data


@pytest.mark.parametrize(
    ("data", "filename", "declared"),
    [
        (EXE, "licence.pdf", "application/pdf"),
        (b"Just some text about my licence", "licence.pdf", "application/pdf"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "licence.png", "image/png"),
        (b"PK\x03\x04" + b"\x00" * 40, "licence.pdf", "application/pdf"),
    ],
    ids=["exe", "text", "svg", "zip"],
)
def test_anything_but_pdf_png_or_jpeg_is_415(app, counts, data, filename, declared):
    doctor = applied(app)
    before = counts()
    answer = problem(doctor.upload(data, filename, declared), 415)
    assert "PDF, PNG and JPEG" in answer["detail"]
    assert counts() == before


def test_bad_uploads_are_400_and_write_nothing(app, counts):
    doctor = applied(app)
    before = counts()
    answer = problem(doctor.upload(b"", "empty.pdf"), 400)
    assert "file" in answer["detail"] and "empty" in answer["detail"]
    answer = problem(doctor.upload(small_pdf(), "licence.pdf", kind="passport"), 400)
    assert answer["detail"].startswith("type:")
    answer = problem(
        doctor.api.post(
            "practitioners/me/documents",
            data={"file": (io.BytesIO(small_pdf()), "licence.pdf", "application/pdf")},
            content_type="multipart/form-data",
        ),
        400,
    )
    assert answer["detail"].startswith("type:")
    answer = problem(
        doctor.api.post(
            "practitioners/me/documents",
            data={"type": "licence"},
            content_type="multipart/form-data",
        ),
        400,
    )
    assert answer["detail"].startswith("file:")
    answer = problem(doctor.api.post("practitioners/me/documents", {"type": "licence"}), 400)
    assert "multipart/form-data" in answer["detail"]
    assert counts() == before


def test_a_document_larger_than_the_limit_is_413(app, counts):
    doctor = applied(app)
    too_big = b"%PDF-1.4\n" + b"0" * (5_000_001 - 9)
    before = counts()
    answer = problem(doctor.upload(too_big, "big.pdf"), 413)
    assert "5000000" in answer["detail"]
    assert counts() == before


def test_a_declared_length_far_over_the_limit_is_refused_before_reading(app, counts):
    doctor = applied(app)
    before = counts()
    resp = doctor.api.post(
        "practitioners/me/documents",
        data=b"x" * 10,
        headers={"Content-Type": "multipart/form-data; boundary=abc"},
        environ_overrides={"CONTENT_LENGTH": str(50_000_000)},
    )
    problem(resp, 413)
    assert counts() == before


def test_documents_are_added_before_verification_only(app, people, counts):
    doctor = verified(app, people.admin())
    nobody = sign_up(app)
    before = counts()
    answer = problem(doctor.upload(small_pdf(), "late.pdf"), 409)
    assert "verified" in answer["detail"]
    answer = problem(nobody.upload(small_pdf(), "early.pdf"), 409)
    assert "profile first" in answer["detail"]
    assert counts() == before


def test_file_names_become_safe_titles(app):
    doctor = applied(app)
    resp = doctor.upload(small_pdf(), "..\\..//etc/pass\x00wd <script>x$(rm).pdf")
    title = resp.get_json()["title"]
    assert "/" not in title and "\\" not in title and "\x00" not in title
    assert "<" not in title and '"' not in title
    assert title.endswith(".pdf")
    nameless = doctor.upload(small_png(), "...", "image/png").get_json()
    assert nameless["title"] == "document.png"
    long = doctor.upload(small_pdf(), "a" * 300 + ".pdf").get_json()
    assert len(long["title"]) <= 120 and long["title"].endswith(".pdf")


def test_a_document_is_read_by_its_owner_and_admins_only(app, people, anonymous_api):
    owner = applied(app)
    doc = owner.upload(small_pdf(), "licence.pdf").get_json()["id"]
    path = f"practitioners/documents/{doc}/content"
    other_doctor = applied(app)
    assert owner.api.get(path).status_code == 200
    assert people.admin().api.get(path).status_code == 200
    problem(other_doctor.api.get(path), 404)
    problem(people.patient().api.get(path), 404)
    problem(people.practitioner().api.get(path), 404)
    problem(owner.api.get("practitioners/documents/no-such-document/content"), 404)
    problem(anonymous_api.get(path), 401)
    # Another doctor's application details are not theirs to read either.
    problem(other_doctor.api.get(f"practitioners/applications/{owner.practitioner}"), 403)


def test_credentials_are_hidden_from_other_callers_over_fhir_rest(app, people, fhir):
    """Binary is outside the Patient compartment, so ``user/`` tokens would reach it were it
    not for its ``securityContext``: the core lets only those who may read the credential
    DocumentReference (about a Practitioner, in no patient's compartment) read the Binary,
    that is admins and backend services over FHIR REST (the owner reads them through the
    plugin API)."""
    owner = applied(app)
    doc = owner.upload(small_pdf(), "licence.pdf").get_json()["id"]
    reference = fhir.get(f"DocumentReference/{doc}").get_json()
    binary = reference["content"][0]["attachment"]["url"]
    assert reference["meta"]["security"][0]["code"] == "credential"
    unrelated = fhir.create({"resourceType": "Binary", "contentType": "text/plain", "data": "aGk="})

    admin = people.admin()
    for reader in (admin.fhir, fhir):
        assert reader.get(binary).status_code == 200
        assert reader.get(f"DocumentReference/{doc}").status_code == 200
    for person in (people.patient(), people.practitioner(), people.guardian()):
        assert person.fhir.get(binary).status_code == 404
        assert person.fhir.get(f"DocumentReference/{doc}").status_code == 404
        found = person.fhir.get("Binary").get_json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [unrelated["id"]]
    owner_fhir = owner.api.client.get(
        f"/fhir/{binary}", headers={"Authorization": f"Bearer {owner.token}"}
    )
    assert owner_fhir.status_code == 404


# --- who may call what -------------------------------------------------------------------


def test_callers_without_a_token_get_401(app, anonymous_api):
    doctor = applied(app)
    for method, path in [
        ("POST", "practitioners/profile"),
        ("PUT", "practitioners/profile"),
        ("GET", "practitioners/me"),
        ("POST", "practitioners/me/documents"),
        ("GET", "practitioners/applications"),
        ("GET", f"practitioners/applications/{doctor.practitioner}"),
        ("POST", f"practitioners/applications/{doctor.practitioner}/verify"),
        ("POST", f"practitioners/applications/{doctor.practitioner}/reject"),
        ("POST", f"practitioners/applications/{doctor.practitioner}/suspend"),
        ("POST", f"practitioners/applications/{doctor.practitioner}/reinstate"),
        ("GET", "practitioners/directory"),
        ("GET", f"practitioners/directory/{doctor.practitioner}"),
    ]:
        problem(anonymous_api.request(method, path), 401)
    bogus = ApiClient(app.test_client(), "not-a-token")
    problem(bogus.get("practitioners/directory"), 401)


def test_only_practitioners_apply(app, people, counts):
    patient, admin = people.patient(), people.admin()
    before = counts()
    for person in (patient, admin):
        answer = problem(person.api.post("practitioners/profile", profile_body()), 403)
        assert "practitioner" in answer["detail"]
        problem(person.api.get("practitioners/me"), 403)
        problem(upload(person.api, small_pdf(), "x.pdf"), 403)
    problem(people.system().post("practitioners/profile", profile_body()), 403)
    assert counts() == before


def test_a_token_without_the_scopes_cannot_apply(app, counts):
    doctor = sign_up(app)
    narrow = ApiClient(
        app.test_client(), issue_token(app, "openid fhirUser", user_id=doctor.user_id)
    )
    before = counts()
    problem(narrow.post("practitioners/profile", profile_body()), 403)
    assert counts() == before
    # The directory needs any valid token, nothing more.
    assert narrow.get("practitioners/directory").status_code == 200


def test_only_admins_review(app, people, counts):
    doctor = applied(app)
    pid = doctor.practitioner
    patient, other = people.patient(), applied(app)
    before = counts()
    for client in (patient.api, other.api, doctor.api, people.system()):
        problem(client.get("practitioners/applications"), 403)
        problem(client.get(f"practitioners/applications/{pid}"), 403)
        problem(client.post(f"practitioners/applications/{pid}/verify"), 403)
        problem(client.post(f"practitioners/applications/{pid}/reject", {"reason": "x"}), 403)
        problem(client.post(f"practitioners/applications/{pid}/suspend", {"reason": "x"}), 403)
        problem(client.post(f"practitioners/applications/{pid}/reinstate"), 403)
    assert counts() == before
    boss = create_user(
        app.extensions["fireside"].db, email="boss@example.org", password=None, role="super_admin"
    )
    super_admin = ApiClient(app.test_client(), issue_token(app, DOCTOR_SCOPE, user_id=boss.id))
    assert super_admin.post(f"practitioners/applications/{pid}/verify").status_code == 200


# --- the admins' decisions ---------------------------------------------------------------


def test_wrong_transitions_are_409_saying_the_status(app, people, counts):
    admin = people.admin()
    pending = applied(app)
    done = verified(app, admin)
    base = "practitioners/applications"
    before = counts()
    cases = [
        (f"{base}/{done.practitioner}/reject", {"reason": "late"}, "verified"),
        (f"{base}/{done.practitioner}/verify", None, "verified"),
        (f"{base}/{done.practitioner}/reinstate", None, "verified"),
        (f"{base}/{pending.practitioner}/suspend", {"reason": "x"}, "pending"),
        (f"{base}/{pending.practitioner}/reinstate", None, "pending"),
    ]
    for path, body, status in cases:
        answer = problem(admin.api.post(path, body), 409)
        assert f"is {status}" in answer["detail"], (path, answer)
        assert answer["status"] == 409
    assert counts() == before

    assert (
        admin.api.post(f"{base}/{pending.practitioner}/reject", {"reason": "No"}).status_code == 200
    )
    for verb, body in [
        ("reject", {"reason": "again"}),
        ("verify", None),
        ("suspend", {"reason": "x"}),
    ]:
        answer = problem(admin.api.post(f"{base}/{pending.practitioner}/{verb}", body), 409)
        assert "is rejected" in answer["detail"]

    assert admin.api.post(f"{base}/{done.practitioner}/suspend", {"reason": "x"}).status_code == 200
    answer = problem(admin.api.post(f"{base}/{done.practitioner}/suspend", {"reason": "y"}), 409)
    assert "is suspended" in answer["detail"]


def test_decisions_on_unknown_applications_are_404(app, people, counts):
    admin = people.admin()
    before = counts()
    problem(admin.api.get("practitioners/applications/nobody"), 404)
    for verb in ("verify", "reinstate"):
        problem(admin.api.post(f"practitioners/applications/nobody/{verb}"), 404)
    for verb in ("reject", "suspend"):
        problem(admin.api.post(f"practitioners/applications/nobody/{verb}", {"reason": "x"}), 404)
    assert counts() == before


@pytest.mark.parametrize(
    "body", [None, {}, {"reason": ""}, {"reason": "  "}, {"reason": 5}, {"reason": "x" * 2001}]
)
def test_reject_and_suspend_need_a_reason(app, people, counts, body):
    admin = people.admin()
    pending = applied(app)
    done = verified(app, admin)
    before = counts()
    answer = problem(
        admin.api.post(f"practitioners/applications/{pending.practitioner}/reject", body), 400
    )
    assert answer["detail"].startswith("reason:")
    problem(admin.api.post(f"practitioners/applications/{done.practitioner}/suspend", body), 400)
    assert counts() == before


def test_the_review_queue_filters_and_pages(app, people):
    admin = people.admin()
    first, second, third = applied(app), applied(app), applied(app)
    admin.api.post(f"practitioners/applications/{second.practitioner}/verify")

    everyone = admin.api.get("practitioners/applications").get_json()
    assert everyone["total"] == 3
    queue = [(a["submitted_at"], a["practitioner"]) for a in everyone["applications"]]
    assert queue == sorted(queue)  # oldest submission first
    assert {p for _, p in queue} == {first.practitioner, second.practitioner, third.practitioner}
    pending = admin.api.get("practitioners/applications?status=pending").get_json()
    pending_ids = [a["practitioner"] for a in pending["applications"]]
    assert sorted(pending_ids) == sorted([first.practitioner, third.practitioner])
    page = admin.api.get("practitioners/applications?status=pending&limit=1&offset=1").get_json()
    assert [a["practitioner"] for a in page["applications"]] == pending_ids[1:]
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 1)
    verified_ = admin.api.get("practitioners/applications?status=verified").get_json()
    assert [a["status"] for a in verified_["applications"]] == ["verified"]

    for query, name in [
        ("status=approved", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
    ]:
        answer = problem(admin.api.get(f"practitioners/applications?{query}"), 400)
        assert answer["detail"].startswith(f"{name}:")


def test_verifying_again_finishes_an_unfinished_account_change(app, db, people):
    """The account and the application now change in one transaction, but an account left
    behind (by an earlier version, which changed it separately, or suspended through the
    core's admin API) is brought in line by repeating the request."""
    admin = people.admin()
    doctor = verified(app, admin)
    users = UserRow.__table__
    with db.begin() as conn:  # as an earlier version could leave it
        conn.execute(sa.update(users).where(users.c.id == doctor.user_id).values(verified_at=None))
    with db.connect() as conn:
        assert not is_verified_practitioner(conn, doctor.practitioner)
    assert listed_ids(people.patient().api) == []

    again = admin.api.post(f"practitioners/applications/{doctor.practitioner}/verify")
    assert again.status_code == 200 and again.get_json()["status"] == "verified"
    with db.connect() as conn:
        assert is_verified_practitioner(conn, doctor.practitioner)

    # The same for a reinstatement whose account change did not happen.
    pid = doctor.practitioner
    admin.api.post(f"practitioners/applications/{pid}/suspend", {"reason": "check"})
    admin.api.post(f"practitioners/applications/{pid}/reinstate")
    with db.begin() as conn:
        conn.execute(
            sa.update(users).where(users.c.id == doctor.user_id).values(status="suspended")
        )
    assert admin.api.post(f"practitioners/applications/{pid}/reinstate").status_code == 200
    assert get_user(db, doctor.user_id).status == "active"


# --- the directory -----------------------------------------------------------------------


def test_the_directory_finds_by_specialty_and_name(app, people):
    admin = people.admin()
    reader = people.patient().api
    bello = verified(app, admin)
    adebayo = verified(
        app,
        admin,
        name={"prefix": ["Dr"], "given": ["Tóbí"], "family": "Adébáyọ̀"},
        specialties=[PAEDIATRICS, GENERAL_PRACTICE],
    )
    okoro = verified(
        app,
        admin,
        name={"given": ["Chidi"], "family": "Okoro"},
        specialties=[CARDIOLOGY],
        qualifications=[],
        bio=None,
    )
    applied(app, specialties=[CARDIOLOGY])  # pending: never listed
    people.practitioner()  # verified in the core but never applied here: not listed

    page = listed(reader)
    assert page["total"] == 3
    assert [e["practitioner"] for e in page["practitioners"]] == [
        adebayo.practitioner,
        bello.practitioner,
        okoro.practitioner,
    ]
    assert page["practitioners"][0]["name"] == "Dr Tóbí Adébáyọ̀"
    assert page["practitioners"][2]["qualifications"] == []
    assert page["practitioners"][2]["bio"] is None

    assert listed_ids(reader, specialty=CARDIOLOGY["code"]) == [okoro.practitioner]
    assert listed_ids(reader, specialty=GENERAL_PRACTICE["code"]) == [
        adebayo.practitioner,
        bello.practitioner,
    ]
    assert listed_ids(reader, q="adebayo") == [adebayo.practitioner]
    assert listed_ids(reader, q="TOBI%20ADEB") == [adebayo.practitioner]
    assert listed_ids(reader, q="amina") == [bello.practitioner]
    assert listed_ids(reader, q="amina%20okoro") == []
    assert listed_ids(reader, q="%25") == []  # a LIKE wildcard is a plain character
    assert listed_ids(reader, q="dr", specialty=PAEDIATRICS["code"]) == [adebayo.practitioner]

    first = listed(reader, limit=2)
    rest = listed(reader, limit=2, offset=2)
    assert (first["total"], len(first["practitioners"]), len(rest["practitioners"])) == (3, 2, 1)


def test_the_directory_refuses_bad_parameters(app, people):
    reader = people.patient().api
    for query, name in [
        ("specialty=cardiology", "specialty"),
        ("q=" + "x" * 201, "q"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("offset=x", "offset"),
    ]:
        answer = problem(reader.get(f"practitioners/directory?{query}"), 400)
        assert answer["detail"].startswith(f"{name}:")


def test_one_directory_entry_is_404_unless_listed(app, people):
    admin = people.admin()
    reader = people.patient().api
    pending = applied(app)
    rejected = applied(app)
    admin.api.post(f"practitioners/applications/{rejected.practitioner}/reject", {"reason": "no"})
    fixture_doctor = people.practitioner()
    for pid in (pending.practitioner, rejected.practitioner, fixture_doctor.id, "nobody"):
        problem(reader.get(f"practitioners/directory/{pid}"), 404)
    done = verified(app, admin)
    assert reader.get(f"practitioners/directory/{done.practitioner}").status_code == 200
