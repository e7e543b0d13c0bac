"""The reviews API (docs/reviews.md): writing a review of a fulfilled appointment, reading a
practitioner's reviews and rating, one's own reviews, and admins hiding them.

Appointments are made through the system FHIR client, shaped as scheduling writes them
(docs/care_workflows.md); everything else goes over HTTP with each person's own token.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from plugins.reviews.schema import review_table
from tests.care.conftest import People, Person, problem
from tests.conftest import FhirClient

REVIEWS = "reviews/"


def appointment(
    fhir: FhirClient, patient: str, practitioner: Person, status: str = "fulfilled"
) -> str:
    """An Appointment between ``Patient/<patient>`` and the practitioner; its id."""
    created = fhir.create(
        {
            "resourceType": "Appointment",
            "status": status,
            "start": "2026-12-01T09:00:00+00:00",
            "end": "2026-12-01T09:30:00+00:00",
            "participant": [
                {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
                {"actor": {"reference": practitioner.ref}, "status": "accepted"},
            ],
        }
    )
    return str(created["id"])


def review(person: Person, appointment_id: str, stars: int = 5, **extra: Any) -> dict[str, Any]:
    """Post a review as ``person``, asserting 201; the answer."""
    resp = person.api.post(REVIEWS, {"appointment": appointment_id, "stars": stars, **extra})
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def listing(person: Person, practitioner: Person, query: str = "") -> dict[str, Any]:
    resp = person.api.get(f"reviews/practitioners/{practitioner.id}{query}")
    assert resp.status_code == 200, resp.get_json()
    return dict(resp.get_json())


# --- writing a review ---------------------------------------------------------------------


def test_a_patient_reviews_a_fulfilled_appointment(people: People, fhir: FhirClient) -> None:
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(fhir, patient.id, doctor)

    resp = patient.api.post(
        REVIEWS, {"appointment": appt, "stars": 5, "text": "  Kind and <b>thorough</b>.\n "}
    )

    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["appointment"] == appt
    assert body["practitioner"] == doctor.id
    assert body["patient"] == patient.id
    assert body["stars"] == 5
    assert body["text"] == "Kind and <b>thorough</b>."  # stripped, never escaped
    assert body["hidden"] is False and body["hidden_at"] is None
    assert body["created_at"].endswith("Z")
    page = listing(patient, doctor)
    assert page["average"] == 5.0 and page["count"] == 1
    assert page["reviews"] == [
        {
            "id": body["id"],
            "practitioner": doctor.id,
            "stars": 5,
            "text": "Kind and <b>thorough</b>.",
            "created_at": body["created_at"],
            "author": "Ada O.",
        }
    ]
    mine = patient.api.get("reviews/mine").get_json()
    assert [r["id"] for r in mine["reviews"]] == [body["id"]]


def test_the_text_is_optional_and_keeps_newlines_and_tabs(people: People, fhir: FhirClient) -> None:
    patient, doctor = people.patient(), people.practitioner()
    quiet = review(patient, appointment(fhir, patient.id, doctor), 4)
    blank = review(patient, appointment(fhir, patient.id, doctor), 4, text="   ")
    lined = review(patient, appointment(fhir, patient.id, doctor), 4, text="Good\n\tvisit")
    longest = review(patient, appointment(fhir, patient.id, doctor), 4, text=" " + "x" * 2000)

    assert quiet["text"] is None and blank["text"] is None
    assert lined["text"] == "Good\n\tvisit"
    assert longest["text"] == "x" * 2000


def test_a_guardian_reviews_their_childs_appointment(people: People, fhir: FhirClient) -> None:
    guardian, doctor = people.guardian(), people.practitioner()
    child = guardian.children[0]

    body = review(guardian, appointment(fhir, child, doctor), 4, text="Great with kids")

    assert body["patient"] == child
    # Shown by the guardian's own name, not the child's.
    assert listing(guardian, doctor)["reviews"][0]["author"] == "Ngozi O."
    assert [r["id"] for r in guardian.api.get("reviews/mine").get_json()["reviews"]] == [body["id"]]


def test_a_guardian_reviews_their_own_appointment_too(people: People, fhir: FhirClient) -> None:
    guardian, doctor = people.guardian(), people.practitioner()

    body = review(guardian, appointment(fhir, guardian.id, doctor), 3)

    assert body["patient"] == guardian.id


@pytest.mark.parametrize("status", ["booked", "pending", "arrived", "cancelled", "noshow"])
def test_only_a_fulfilled_appointment_can_be_reviewed(
    people: People, fhir: FhirClient, counts: Any, status: str
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(fhir, patient.id, doctor, status)
    before = counts()

    body = problem(patient.api.post(REVIEWS, {"appointment": appt, "stars": 5}), 409)

    assert "only after a fulfilled consultation" in body["detail"]
    assert body["appointment_status"] == status
    assert counts() == before


def test_a_second_review_of_the_same_appointment_is_refused(
    people: People, fhir: FhirClient, counts: Any
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(fhir, patient.id, doctor)
    first = review(patient, appt, 5)
    before = counts()

    body = problem(patient.api.post(REVIEWS, {"appointment": appt, "stars": 1}), 409)

    assert "reviewed already" in body["detail"]
    assert counts() == before
    assert listing(patient, doctor)["reviews"][0]["id"] == first["id"]


def test_a_guardian_and_a_patient_cannot_both_review_one_appointment(
    people: People, fhir: FhirClient, counts: Any
) -> None:
    """The child's appointment, reviewed by one guardian, is closed to the other."""
    first_parent, doctor = people.guardian(), people.practitioner()
    child = first_parent.children[0]
    second_parent = people.guardian()
    from platform_core.identity.users import link_patient

    link_patient(people.core.db, second_parent.user_id, child, "guardian")
    appt = appointment(fhir, child, doctor)
    review(first_parent, appt, 5)
    before = counts()

    problem(second_parent.api.post(REVIEWS, {"appointment": appt, "stars": 2}), 409)

    assert counts() == before


def test_two_reviews_racing_for_one_appointment_one_wins(
    people: People, fhir: FhirClient, app: Any
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(fhir, patient.id, doctor)
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    lock = threading.Lock()

    def post(stars: int) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post(
            "/api/reviews/",
            json={"appointment": appt, "stars": stars},
            headers={"Authorization": f"Bearer {patient.token}"},
        )
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=post, args=(stars,)) for stars in (2, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) == [201, 409]
    with people.core.db.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(review_table)
            .where(review_table.c.appointment_id == appt)
        ).scalar_one()
    assert rows == 1


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stars": 0}, "stars"),
        ({"stars": 6}, "stars"),
        ({"stars": -1}, "stars"),
        ({"stars": 4.5}, "stars"),
        ({"stars": 5.0}, "stars"),
        ({"stars": "5"}, "stars"),
        ({"stars": True}, "stars"),
        ({"stars": None}, "stars"),
        ({"stars": [5]}, "stars"),
        ({"text": "x" * 2001}, "text"),
        ({"text": 42}, "text"),
        ({"text": "bell\x07"}, "text"),
        ({"text": "carriage\rreturn"}, "text"),
        ({"text": "null\x00byte"}, "text"),
        ({"text": "c1\x85control"}, "text"),
        ({"appointment": None}, "appointment"),
        ({"appointment": ""}, "appointment"),
        ({"appointment": 12}, "appointment"),
        ({"appointment": "Appointment/../x"}, "appointment"),
        ({"appointment": "a" * 65}, "appointment"),
        ({"rating": 5}, "rating"),
    ],
)
def test_bad_review_bodies_are_refused_naming_the_field(
    people: People, fhir: FhirClient, counts: Any, change: dict[str, Any], field: str
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    body = {"appointment": appointment(fhir, patient.id, doctor), "stars": 5, **change}
    body = {k: v for k, v in body.items() if v is not None}
    before = counts()

    answer = problem(patient.api.post(REVIEWS, body), 400)

    assert answer["detail"].startswith(f"{field}:"), answer
    assert field in answer["errors"]["json"]
    assert counts() == before


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_refused(
    people: People, counts: Any, raw: bytes
) -> None:
    patient = people.patient()
    before = counts()

    resp = patient.api.post(REVIEWS, data=raw, headers={"Content-Type": "application/json"})

    assert "JSON object" in problem(resp, 400)["detail"]
    assert counts() == before


# --- who may review -----------------------------------------------------------------------


def test_someone_elses_appointment_reads_like_an_unknown_one(
    people: People, fhir: FhirClient, counts: Any
) -> None:
    owner, stranger, doctor = (
        people.patient(),
        people.patient("Eze", "Chidi"),
        people.practitioner(),
    )
    foreign = appointment(fhir, owner.id, doctor)
    other_guardian = people.guardian()
    before = counts()

    as_stranger = problem(stranger.api.post(REVIEWS, {"appointment": foreign, "stars": 1}), 404)
    as_guardian = problem(
        other_guardian.api.post(REVIEWS, {"appointment": foreign, "stars": 1}), 404
    )
    unknown = problem(stranger.api.post(REVIEWS, {"appointment": "no-such-appt", "stars": 1}), 404)

    assert as_stranger["detail"] == as_guardian["detail"]
    assert as_stranger["detail"].replace(foreign, "X") == unknown["detail"].replace(
        "no-such-appt", "X"
    )
    assert set(as_stranger) == set(unknown)
    assert counts() == before


def test_a_deleted_appointment_reads_like_an_unknown_one(
    people: People, fhir: FhirClient, counts: Any
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(fhir, patient.id, doctor)
    assert fhir.delete(f"Appointment/{appt}").status_code in (200, 204)
    before = counts()

    problem(patient.api.post(REVIEWS, {"appointment": appt, "stars": 4}), 404)

    assert counts() == before


def test_a_practitioner_may_not_review_even_a_patient_they_care_for(
    people: People, fhir: FhirClient, counts: Any
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(fhir, patient.id, doctor)
    before = counts()

    body = problem(doctor.api.post(REVIEWS, {"appointment": appt, "stars": 5}), 403)

    assert "guardian or patient" in body["detail"]
    assert counts() == before


def test_an_admin_or_a_backend_service_may_not_review(
    people: People, fhir: FhirClient, counts: Any
) -> None:
    patient, doctor, admin = people.patient(), people.practitioner(), people.admin()
    appt = appointment(fhir, patient.id, doctor)
    before = counts()

    problem(admin.api.post(REVIEWS, {"appointment": appt, "stars": 5}), 403)
    problem(people.system().post(REVIEWS, {"appointment": appt, "stars": 5}), 403)

    assert counts() == before


def test_a_token_that_may_not_read_appointments_may_not_review(
    people: People, fhir: FhirClient, counts: Any
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(fhir, patient.id, doctor)
    narrow = people.token_for(patient, "openid fhirUser user/Observation.rs")
    before = counts()

    problem(narrow.post(REVIEWS, {"appointment": appt, "stars": 5}), 403)

    assert counts() == before


def test_every_endpoint_needs_a_token(
    people: People, fhir: FhirClient, anonymous_api: Any, counts: Any
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    written = review(patient, appointment(fhir, patient.id, doctor))
    before = counts()

    for method, path, body in [
        ("POST", REVIEWS, {"appointment": "x", "stars": 5}),
        ("GET", f"reviews/practitioners/{doctor.id}", None),
        ("GET", "reviews/mine", None),
        ("POST", f"reviews/{written['id']}/hide", {"reason": "spam"}),
        ("POST", f"reviews/{written['id']}/unhide", None),
    ]:
        problem(anonymous_api.request(method, path, body), 401)
        bad_token = anonymous_api.request(
            method, path, body, headers={"Authorization": "Bearer not-a-token"}
        )
        problem(bad_token, 401)

    assert counts() == before


# --- reading ------------------------------------------------------------------------------


def test_averages_counts_and_paging(people: People, fhir: FhirClient, db: sa.Engine) -> None:
    doctor, other_doctor = people.practitioner(), people.practitioner(family="Musa")
    authors = [people.patient(given=g) for g in ("Ada", "Bola", "Chi")]
    ids = [
        review(p, appointment(fhir, p.id, doctor), stars)["id"]
        for p, stars in zip(authors, (5, 4, 4), strict=True)
    ]
    review(authors[0], appointment(fhir, authors[0].id, other_doctor), 1)
    # Distinct creation times, oldest first, so "newest first" is deterministic.
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with db.begin() as conn:
        for n, rid in enumerate(ids):
            conn.execute(
                review_table.update()
                .where(review_table.c.id == rid)
                .values(created_at=start + timedelta(hours=n))
            )

    page = listing(authors[0], doctor)
    assert (page["average"], page["count"]) == (4.33, 3)
    assert [r["id"] for r in page["reviews"]] == ids[::-1]
    assert [r["author"] for r in page["reviews"]] == ["Chi O.", "Bola O.", "Ada O."]

    second = listing(authors[0], doctor, "?limit=2&offset=2")
    assert [r["id"] for r in second["reviews"]] == [ids[0]]
    assert (second["count"], second["limit"], second["offset"]) == (3, 2, 2)
    assert listing(authors[0], other_doctor)["average"] == 1.0


def test_a_practitioner_without_reviews_has_no_average(people: People) -> None:
    patient, doctor = people.patient(), people.practitioner()

    page = listing(patient, doctor)

    assert page["average"] is None and page["count"] == 0 and page["reviews"] == []


def test_any_signed_in_caller_reads_a_practitioners_reviews(
    people: People, fhir: FhirClient
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    review(patient, appointment(fhir, patient.id, doctor), 3)

    for reader in (doctor.api, people.admin().api, people.patient("Eze").api, people.system()):
        resp = reader.get(f"reviews/practitioners/{doctor.id}")
        assert resp.status_code == 200 and resp.get_json()["count"] == 1


def test_a_review_shows_no_identity_beyond_the_display_name(
    people: People, fhir: FhirClient
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(fhir, patient.id, doctor)
    review(patient, appt)

    shown = listing(people.patient("Eze"), doctor)["reviews"][0]
    text = str(shown)

    assert set(shown) == {"id", "practitioner", "stars", "text", "created_at", "author"}
    assert patient.id not in text and patient.user_id not in text and appt not in text


def test_an_author_without_a_given_name_is_a_patient(people: People, fhir: FhirClient) -> None:
    patient, doctor = people.patient(), people.practitioner()
    review(patient, appointment(fhir, patient.id, doctor))
    renamed = {"resourceType": "Patient", "id": patient.id, "name": [{"family": "Okafor"}]}
    assert fhir.put(f"Patient/{patient.id}", renamed).status_code == 200

    assert listing(patient, doctor)["reviews"][0]["author"] == "A patient"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=x", "limit"),
        ("?offset=-1", "offset"),
    ],
)
def test_bad_paging_is_refused(people: People, query: str, field: str) -> None:
    patient, doctor = people.patient(), people.practitioner()

    for path in (f"reviews/practitioners/{doctor.id}{query}", f"reviews/mine{query}"):
        body = problem(patient.api.get(path), 400)
        assert body["detail"].startswith(f"{field}:")
        assert field in body["errors"]["query"]


def test_mine_lists_only_the_callers_reviews(people: People, fhir: FhirClient) -> None:
    ada, bola, doctor = people.patient(), people.patient(given="Bola"), people.practitioner()
    own = review(ada, appointment(fhir, ada.id, doctor))
    review(bola, appointment(fhir, bola.id, doctor))

    assert [r["id"] for r in ada.api.get("reviews/mine").get_json()["reviews"]] == [own["id"]]
    assert doctor.api.get("reviews/mine").get_json()["reviews"] == []
    problem(people.system().get("reviews/mine"), 403)


# --- moderation ---------------------------------------------------------------------------


def test_hiding_a_review_takes_it_out_of_listings_and_averages(
    people: People, fhir: FhirClient
) -> None:
    ada, bola, doctor = people.patient(), people.patient(given="Bola"), people.practitioner()
    admin = people.admin()
    kept = review(ada, appointment(fhir, ada.id, doctor), 5)
    rude = review(bola, appointment(fhir, bola.id, doctor), 1, text="rude words")
    assert (listing(ada, doctor)["average"], listing(ada, doctor)["count"]) == (3.0, 2)

    resp = admin.api.post(f"reviews/{rude['id']}/hide", {"reason": " Abusive language "})

    assert resp.status_code == 200, resp.get_json()
    hidden = resp.get_json()
    assert hidden["hidden"] is True and hidden["hidden_reason"] == "Abusive language"
    assert hidden["hidden_by"] == admin.user_id and hidden["author_user_id"] == bola.user_id
    page = listing(ada, doctor)
    assert (page["average"], page["count"]) == (5.0, 1)
    assert [r["id"] for r in page["reviews"]] == [kept["id"]]
    # The author still sees it, and why it was hidden.
    mine = bola.api.get("reviews/mine").get_json()["reviews"]
    assert [(r["hidden"], r["hidden_reason"]) for r in mine] == [(True, "Abusive language")]

    shown = admin.api.post(f"reviews/{rude['id']}/unhide")
    assert shown.status_code == 200 and shown.get_json()["hidden"] is False
    assert shown.get_json()["hidden_reason"] is None and shown.get_json()["hidden_by"] is None
    assert listing(ada, doctor)["count"] == 2


def test_hiding_twice_or_unhiding_a_visible_review_conflicts(
    people: People, fhir: FhirClient, counts: Any
) -> None:
    patient, doctor, admin = people.patient(), people.practitioner(), people.admin()
    written = review(patient, appointment(fhir, patient.id, doctor))

    problem(admin.api.post(f"reviews/{written['id']}/unhide"), 409)
    assert admin.api.post(f"reviews/{written['id']}/hide", {"reason": "spam"}).status_code == 200
    before = counts()
    body = problem(admin.api.post(f"reviews/{written['id']}/hide", {"reason": "again"}), 409)

    assert "hidden already" in body["detail"]
    assert counts() == before
    hidden = patient.api.get("reviews/mine").get_json()["reviews"][0]
    assert hidden["hidden_reason"] == "spam"


@pytest.mark.parametrize(
    "body", [None, {}, {"reason": ""}, {"reason": "   "}, {"reason": 3}, {"reason": "x" * 501}]
)
def test_hiding_needs_a_reason(people: People, fhir: FhirClient, counts: Any, body: Any) -> None:
    patient, doctor, admin = people.patient(), people.practitioner(), people.admin()
    written = review(patient, appointment(fhir, patient.id, doctor))
    before = counts()

    resp = admin.api.post(f"reviews/{written['id']}/hide", body)

    assert problem(resp, 400)["detail"].startswith(("reason:", "Send a JSON object"))
    assert counts() == before
    assert listing(patient, doctor)["count"] == 1


@pytest.mark.parametrize("review_id", ["7c9e6679-7425-40de-944b-e07fc1f90ae7", "not-a-uuid"])
def test_hiding_an_unknown_review_is_not_found(people: People, review_id: str) -> None:
    admin = people.admin()

    problem(admin.api.post(f"reviews/{review_id}/hide", {"reason": "spam"}), 404)
    problem(admin.api.post(f"reviews/{review_id}/unhide"), 404)


def test_only_admins_hide_or_unhide(people: People, fhir: FhirClient, counts: Any) -> None:
    patient, doctor = people.patient(), people.practitioner()
    written = review(patient, appointment(fhir, patient.id, doctor))
    others = (patient.api, doctor.api, people.guardian().api, people.system())
    before = counts()

    for who in others:
        problem(who.post(f"reviews/{written['id']}/hide", {"reason": "spam"}), 403)
        problem(who.post(f"reviews/{written['id']}/unhide"), 403)

    assert counts() == before
    assert listing(patient, doctor)["count"] == 1


# --- storage and documentation ------------------------------------------------------------


@pytest.mark.parametrize(
    "values", [{"stars": 0}, {"stars": 6}, {"text": "x" * 2001}, {"hidden_reason": "why"}]
)
def test_the_database_itself_refuses_what_the_api_refuses(
    db: sa.Engine, values: dict[str, Any]
) -> None:
    row = {
        "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "appointment_id": "a1",
        "practitioner_id": "d1",
        "patient_id": "p1",
        "author_user_id": "u1",
        "stars": 5,
        "created_at": datetime(2026, 12, 1, tzinfo=UTC),
        **values,
    }

    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(review_table.insert().values(**row))


def test_posting_without_the_trailing_slash_works(people: People, fhir: FhirClient) -> None:
    patient, doctor = people.patient(), people.practitioner()

    resp = patient.api.post(
        "reviews", {"appointment": appointment(fhir, patient.id, doctor), "stars": 5}
    )

    assert resp.status_code == 201, resp.get_json()


def test_the_api_is_in_the_openapi_document(app: Any) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()

    assert {
        "/api/reviews/",
        "/api/reviews/practitioners/{practitioner_id}",
        "/api/reviews/mine",
        "/api/reviews/{review_id}/hide",
        "/api/reviews/{review_id}/unhide",
    } <= set(spec["paths"])
