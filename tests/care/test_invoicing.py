"""The invoicing plugin: an Invoice per fulfilled consultation, its number, its amounts, its
idempotency, the ``/api/invoicing`` endpoints and the PDF.

Events are published the way the scheduling plugin publishes them (in a transaction of its
own); jobs run inline and synchronously right after the commit, so each test sees their
effect at once.
"""

from __future__ import annotations

import io
import json
import re
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from platform_core.config import load_settings
from platform_core.fhir.instants import now_utc
from platform_core.jobs.schema import job_table
from plugins.invoicing.config import ConfigError, issuer_name, tax_rate_bp
from plugins.invoicing.jobs import job_definitions
from plugins.invoicing.money import format_money, rate_percent, tax_of, to_decimal
from plugins.invoicing.pdf import printable
from plugins.invoicing.schema import CounterRow, InvoiceRow
from tests.care.conftest import People, Person, problem
from tests.conftest import FhirClient

NUMBER_SYSTEM = "https://fireside.health/fhir/sid/invoice-number"
SERVICE_SYSTEM = "https://fireside.health/fhir/CodeSystem/service"
JOB = "invoicing.on_fulfilled"
[JOB_DEFINITION] = job_definitions()


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def core(app: Flask) -> Any:
    return app.extensions["fireside"]


@pytest.fixture
def tax_rate(core: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``tax_rate(bp)`` sets ``invoicing_tax_rate_bp`` for this test."""
    return lambda bp: monkeypatch.setitem(core.settings.extra, "invoicing_tax_rate_bp", bp)


@pytest.fixture
def published(core: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every event published during the test, in order (the real publish still runs)."""
    events: list[tuple[str, dict[str, Any]]] = []
    original = core.jobs.publish

    def record(conn: Any, event: str, payload: dict[str, Any]) -> int:
        events.append((event, payload))
        return original(conn, event, payload)

    monkeypatch.setattr(core.jobs, "publish", record)
    return events


def appointment(
    fhir: FhirClient,
    patient_id: str,
    practitioner_id: str,
    *,
    start: str = "2026-12-01T09:00:00+01:00",
    end: str = "2026-12-01T09:30:00+01:00",
) -> str:
    """A fulfilled Appointment of the patient with the practitioner; its id."""
    created = fhir.create(
        {
            "resourceType": "Appointment",
            "status": "fulfilled",
            "serviceType": [
                {
                    "coding": [
                        {
                            "system": SERVICE_SYSTEM,
                            "code": "general-consultation",
                            "display": "General consultation",
                        }
                    ]
                }
            ],
            "start": start,
            "end": end,
            "participant": [
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"},
            ],
        }
    )
    return str(created["id"])


def fulfilled_event(
    fhir: FhirClient,
    patient_id: str,
    practitioner_id: str,
    price: dict[str, Any] | None,
    **extra: Any,
) -> dict[str, Any]:
    """An ``appointment.fulfilled`` payload as scheduling publishes it, for a new
    Appointment."""
    start, end = "2026-12-01T09:00:00+01:00", "2026-12-01T09:30:00+01:00"
    return {
        "appointment": appointment(fhir, patient_id, practitioner_id, start=start, end=end),
        "patient": patient_id,
        "practitioner": practitioner_id,
        "start": start,
        "end": end,
        "status": "fulfilled",
        "service": "general-consultation",
        "service_display": "General consultation",
        "mode": "video",
        "price": price,
        **extra,
    }


def publish(core: Any, payload: dict[str, Any], times: int = 1) -> None:
    """Publish ``appointment.fulfilled`` (``times`` times in one transaction)."""
    with core.repository.transaction() as conn:
        for _ in range(times):
            core.jobs.publish(conn, "appointment.fulfilled", payload)


def invoice_rows(core: Any) -> list[Any]:
    with core.db.connect() as conn:
        return list(conn.execute(sa.select(InvoiceRow.__table__)).all())


def fhir_invoice(fhir: FhirClient, invoice_id: str) -> dict[str, Any]:
    """The Invoice read over FHIR REST, decimals kept as written."""
    resp = fhir.get(f"Invoice/{invoice_id}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return json.loads(resp.get_data(as_text=True), parse_float=Decimal)


def ours(counts: dict[str, int]) -> dict[str, int]:
    """The row counts an invoice could change: the plugin's tables and the FHIR store
    (other plugins subscribed to the same event may write their own tables meanwhile)."""
    return {t: n for t, n in counts.items() if t.startswith(("invoicing_", "fhir_"))}


def invoice_jobs(core: Any, payload: dict[str, Any] | None = None) -> list[Any]:
    """This plugin's jobs (for ``payload``'s event only: writing a fulfilled Appointment
    may make the scheduling plugin publish an event of its own for it)."""
    jobs = [j for j in core.jobs.find(limit=500) if j.name == JOB]
    if payload is None:
        return jobs
    return [j for j in jobs if {**j.payload, "event": None} == {**payload, "event": None}]


def issue_for(
    core: Any,
    fhir: FhirClient,
    patient_id: str,
    practitioner_id: str,
    amount: int = 1_500_000,
    currency: str = "NGN",
) -> Any:
    """Fulfil a consultation and return the invoice row it produced."""
    payload = fulfilled_event(
        fhir, patient_id, practitioner_id, {"amount": amount, "currency": currency}
    )
    publish(core, payload)
    rows = [r for r in invoice_rows(core) if r.appointment_id == payload["appointment"]]
    assert len(rows) == 1, invoice_jobs(core, payload)
    return rows[0]


# --- money -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("net", "rate_bp", "tax"),
    [
        (1, 750, 0),  # 0.075 rounds down
        (15, 5000, 8),  # 7.5 rounds half up
        (14, 5000, 7),
        (5, 1000, 1),  # 0.5 rounds half up
        (15_000, 750, 1_125),
        (1_999_999, 750, 150_000),  # 149,999.925
        (100, 0, 0),
        (123, 10_000, 123),
    ],
)
def test_tax_is_rounded_half_up_on_integer_minor_units(net: int, rate_bp: int, tax: int) -> None:
    assert tax_of(net, rate_bp) == tax


@pytest.mark.parametrize(
    ("amount", "currency", "decimal", "text"),
    [
        (15_000, "NGN", "150.00", "NGN 150.00"),
        (1_500_000, "NGN", "15000.00", "NGN 15,000.00"),
        (0, "KES", "0.00", "KES 0.00"),
        (5, "USD", "0.05", "USD 0.05"),
        (1_500, "JPY", "1500", "JPY 1,500"),
        (1_234_567, "UGX", "1234567", "UGX 1,234,567"),
        (1_250, "KWD", "1.250", "KWD 1.250"),
    ],
)
def test_money_keeps_the_currency_decimals(
    amount: int, currency: str, decimal: str, text: str
) -> None:
    assert str(to_decimal(amount, currency)) == decimal
    assert format_money(amount, currency) == text


def test_rates_print_without_trailing_zeros() -> None:
    assert [rate_percent(bp) for bp in (0, 750, 1000, 1, 10_000)] == [
        "0%",
        "7.5%",
        "10%",
        "0.01%",
        "100%",
    ]


def test_tax_rate_setting_is_checked_and_read_from_the_environment(tmp_path: Path) -> None:
    """Through the core's settings: ``FIRESIDE_INVOICING_TAX_RATE_BP`` reaches
    ``Settings.extra`` as text, which is all the plugin reads."""
    none = tmp_path / "none.toml"
    assert tax_rate_bp(load_settings(environ={}, config_file=none)) == 0
    assert tax_rate_bp(SimpleNamespace(extra={"invoicing_tax_rate_bp": 750})) == 750
    environ = {
        "FIRESIDE_INVOICING_TAX_RATE_BP": " 1600 ",
        "FIRESIDE_INVOICING_ISSUER_NAME": "Clinic",
    }
    settings = load_settings(environ=environ, config_file=none)
    assert tax_rate_bp(settings) == 1600
    assert issuer_name(settings) == "Clinic"
    for bad in (-1, 10_001, "7.5", 7.5, True):
        with pytest.raises(ConfigError, match="basis points"):
            tax_rate_bp(SimpleNamespace(extra={"invoicing_tax_rate_bp": bad}))


# --- issuing -----------------------------------------------------------------------------


def test_a_fulfilled_consultation_gets_an_invoice(
    core: Any, fhir: FhirClient, people: People, tax_rate: Any, published: list[Any]
) -> None:
    tax_rate(750)
    patient, doctor = people.patient(), people.practitioner()
    payload = fulfilled_event(fhir, patient.id, doctor.id, {"amount": 15_000, "currency": "NGN"})
    publish(core, payload)

    [row] = invoice_rows(core)
    assert (row.net, row.tax, row.gross, row.currency, row.tax_rate_bp) == (
        15_000,
        1_125,
        16_125,
        "NGN",
        750,
    )
    assert (row.appointment_id, row.patient_id, row.practitioner_id) == (
        payload["appointment"],
        patient.id,
        doctor.id,
    )
    raw = fhir.get(f"Invoice/{row.invoice_id}").get_data(as_text=True)
    # Decimals are written with the currency's two decimals, not as 150.0 or 150.
    assert '"totalNet":{"value":150.00,"currency":"NGN"}' in raw.replace(" ", "")
    invoice = fhir_invoice(fhir, row.invoice_id)
    assert invoice["identifier"] == [{"system": NUMBER_SYSTEM, "value": row.number}]
    assert invoice["status"] == "issued"
    assert invoice["subject"] == {"reference": f"Patient/{patient.id}"}
    assert invoice["recipient"] == {"reference": f"Patient/{patient.id}"}
    [participant] = invoice["participant"]
    assert participant["actor"] == {"reference": f"Practitioner/{doctor.id}"}
    assert participant["role"]["coding"][0]["code"] == "PPRF"
    issued = datetime.fromisoformat(invoice["date"])
    assert issued.tzinfo is not None and abs((datetime.now(UTC) - issued).total_seconds()) < 600
    [line] = invoice["lineItem"]
    assert line["sequence"] == 1
    assert line["chargeItemCodeableConcept"]["coding"] == [
        {
            "system": SERVICE_SYSTEM,
            "code": "general-consultation",
            "display": "General consultation",
        }
    ]
    base, tax = line["priceComponent"]
    assert base == {"type": "base", "amount": {"value": Decimal("150.00"), "currency": "NGN"}}
    assert tax["type"] == "tax"
    assert str(tax["factor"]) == "0.075"
    assert str(tax["amount"]["value"]) == "11.25"
    assert str(invoice["totalNet"]["value"]) == "150.00"
    assert str(invoice["totalGross"]["value"]) == "161.25"
    assert invoice["totalGross"]["currency"] == "NGN"

    issued_events = [p for name, p in published if name == "invoice.issued"]
    assert issued_events == [
        {
            "invoice": row.invoice_id,
            "patient": patient.id,
            "appointment": payload["appointment"],
            "total": {"amount": 16_125, "currency": "NGN"},
        }
    ]
    [job] = invoice_jobs(core, payload)
    assert job.state == "done"


def test_without_a_tax_rate_the_tax_is_zero(core: Any, fhir: FhirClient, people: People) -> None:
    patient, doctor = people.patient(), people.practitioner()
    row = issue_for(core, fhir, patient.id, doctor.id, amount=15_000)
    assert (row.tax, row.gross, row.tax_rate_bp) == (0, 15_000, 0)
    invoice = fhir_invoice(fhir, row.invoice_id)
    assert str(invoice["lineItem"][0]["priceComponent"][1]["amount"]["value"]) == "0.00"
    assert str(invoice["totalGross"]["value"]) == "150.00"


@pytest.mark.parametrize(("amount", "rate_bp", "tax"), [(1, 750, 0), (15, 5000, 8)])
def test_tax_rounding_reaches_the_invoice(
    core: Any, fhir: FhirClient, people: People, tax_rate: Any, amount: int, rate_bp: int, tax: int
) -> None:
    tax_rate(rate_bp)
    patient, doctor = people.patient(), people.practitioner()
    row = issue_for(core, fhir, patient.id, doctor.id, amount=amount)
    assert (row.net, row.tax, row.gross) == (amount, tax, amount + tax)
    invoice = fhir_invoice(fhir, row.invoice_id)
    assert invoice["lineItem"][0]["priceComponent"][1]["amount"]["value"] == to_decimal(tax, "NGN")
    assert invoice["totalGross"]["value"] == to_decimal(amount + tax, "NGN")


def test_zero_decimal_currencies_are_written_without_decimals(
    core: Any, fhir: FhirClient, people: People, tax_rate: Any
) -> None:
    tax_rate(1000)
    patient, doctor = people.patient(), people.practitioner()
    row = issue_for(core, fhir, patient.id, doctor.id, amount=1_500, currency="JPY")
    assert (row.net, row.tax, row.gross) == (1_500, 150, 1_650)
    raw = fhir.get(f"Invoice/{row.invoice_id}").get_data(as_text=True).replace(" ", "")
    assert '"totalGross":{"value":1650,"currency":"JPY"}' in raw


def test_invoice_numbers_are_readable_and_sequential(
    core: Any, fhir: FhirClient, people: People
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    first = issue_for(core, fhir, patient.id, doctor.id)
    second = issue_for(core, fhir, patient.id, doctor.id)
    year = datetime.now(UTC).year
    assert re.fullmatch(r"INV-\d{4}-\d{6}", first.number)
    assert (first.number, second.number) == (f"INV-{year}-000001", f"INV-{year}-000002")
    with core.db.connect() as conn:
        counters = conn.execute(sa.select(CounterRow.__table__)).all()
    assert [(c.year, c.n) for c in counters] == [(year, 2)]


def test_concurrent_jobs_get_distinct_numbers(core: Any, fhir: FhirClient, people: People) -> None:
    """Jobs written to the outbox but not yet run, then run by four threads at once."""
    patient, doctor = people.patient(), people.practitioner()
    payloads = [
        fulfilled_event(fhir, patient.id, doctor.id, {"amount": 100 * i, "currency": "NGN"})
        for i in range(1, 5)
    ]
    # A plain transaction, not the repository's: nothing is handed over after its commit.
    with core.db.begin() as conn:
        for payload in payloads:
            core.jobs.publish(conn, "appointment.fulfilled", payload)
    ids = [j.id for p in payloads for j in invoice_jobs(core, p)]
    assert len(ids) == 4
    start = threading.Barrier(len(ids))
    outcomes: dict[int, str] = {}

    def run(job_id: int) -> None:
        start.wait()
        outcomes[job_id] = core.jobs.run(job_id)

    threads = [threading.Thread(target=run, args=(job_id,)) for job_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes.values()) == ["done"] * 4
    numbers = sorted(r.number for r in invoice_rows(core))
    year = datetime.now(UTC).year
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, 5)]


def test_a_repeated_event_issues_no_second_invoice(
    core: Any, fhir: FhirClient, people: People, counts: Any, published: list[Any]
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    payload = fulfilled_event(fhir, patient.id, doctor.id, {"amount": 15_000, "currency": "NGN"})
    publish(core, payload)
    before = counts()
    publish(core, payload)  # a second delivery of the same event
    publish(core, payload, times=2)  # duplicates in one transaction
    assert ours(counts()) == ours(before)
    assert len(invoice_rows(core)) == 1
    assert [j.state for j in invoice_jobs(core, payload)] == ["done"] * 4
    assert [name for name, _ in published].count("invoice.issued") == 1


def test_running_a_done_job_again_changes_nothing(
    core: Any, fhir: FhirClient, people: People, counts: Any
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    payload = fulfilled_event(fhir, patient.id, doctor.id, {"amount": 100, "currency": "NGN"})
    publish(core, payload)
    [job] = invoice_jobs(core, payload)
    assert job.state == "done"
    before = counts()
    assert core.jobs.run(job.id) == "skipped"
    assert ours(counts()) == ours(before)


def test_a_consultation_without_a_price_gets_no_invoice(
    core: Any, fhir: FhirClient, people: People, counts: Any, caplog: pytest.LogCaptureFixture
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    payload = fulfilled_event(fhir, patient.id, doctor.id, None)
    before = counts()
    with caplog.at_level("INFO", logger="plugins.invoicing.jobs"):
        publish(core, payload)
    assert ours(counts()) == ours(before)
    [job] = invoice_jobs(core, payload)
    assert job.state == "done"
    assert "without a price" in caplog.text


def test_an_unknown_currency_fails_the_job_for_good(
    core: Any, fhir: FhirClient, people: People, counts: Any
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    payload = fulfilled_event(fhir, patient.id, doctor.id, {"amount": 15_000, "currency": "XYZ"})
    before = counts()
    publish(core, payload)
    assert ours(counts()) == ours(before)  # no invoice, no counter, no FHIR resource
    [job] = invoice_jobs(core, payload)
    assert (job.state, job.attempts) == ("failed", 1)  # at once, though it has 5 attempts
    assert JOB_DEFINITION.max_attempts == 5
    assert "PermanentFailure: UnknownCurrency: Unknown currency 'XYZ'" in job.last_error
    assert "NGN" in job.last_error  # says which codes are supported


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ({"amount": 150.0, "currency": "NGN"}, "price.amount"),
        ({"amount": "15000", "currency": "NGN"}, "price.amount"),
        ({"amount": -1, "currency": "NGN"}, "price.amount"),
        ({"amount": True, "currency": "NGN"}, "price.amount"),
        ({"amount": 100}, "Unknown currency None"),
        ("15000 NGN", "price must be money or null"),
    ],
)
def test_a_malformed_price_fails_the_job(
    core: Any, fhir: FhirClient, people: People, counts: Any, price: Any, message: str
) -> None:
    patient, doctor = people.patient(), people.practitioner()
    payload = fulfilled_event(fhir, patient.id, doctor.id, price)
    before = counts()
    publish(core, payload)
    assert ours(counts()) == ours(before)
    [job] = invoice_jobs(core, payload)
    assert (job.state, job.attempts) == ("failed", 1)
    assert message in job.last_error


def test_a_bad_tax_rate_setting_is_retried_and_issues_once_fixed(
    core: Any, fhir: FhirClient, people: People, tax_rate: Any
) -> None:
    """Only the event's own faults fail the job for good: a bad setting gets the outbox's
    normal retries, and once the setting is fixed the retry issues the invoice."""
    tax_rate("seven and a half")
    patient, doctor = people.patient(), people.practitioner()
    payload = fulfilled_event(fhir, patient.id, doctor.id, {"amount": 100, "currency": "NGN"})
    publish(core, payload)
    [job] = invoice_jobs(core, payload)
    assert (job.state, job.attempts) == ("pending", 1)  # a retry is scheduled
    assert "invoicing_tax_rate_bp must be a whole number of basis points" in job.last_error
    assert invoice_rows(core) == []

    tax_rate(750)
    with core.db.begin() as conn:  # its retry is due now
        conn.execute(
            sa.update(job_table)
            .where(job_table.c.id == job.id)
            .values(available_at=now_utc() - timedelta(seconds=1))
        )
    assert core.jobs.run(job.id) == "done"
    [row] = invoice_rows(core)
    assert (row.net, row.tax, row.tax_rate_bp) == (100, 8, 750)


def test_the_patient_reads_the_invoice_over_fhir(
    core: Any, fhir: FhirClient, people: People
) -> None:
    parent, other = people.guardian(), people.patient(family="Eze", given="Chidi")
    doctor = people.practitioner()
    row = issue_for(core, fhir, parent.children[0], doctor.id)
    assert parent.fhir.get(f"Invoice/{row.invoice_id}").status_code == 200
    found = parent.fhir.get(f"Invoice?subject=Patient/{parent.children[0]}").get_json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [row.invoice_id]
    assert other.fhir.get(f"Invoice/{row.invoice_id}").status_code == 404


# --- the API -----------------------------------------------------------------------------


@pytest.fixture
def family(core: Any, fhir: FhirClient, people: People) -> SimpleNamespace:
    """A guardian with an invoice for their child and one for themselves, another patient
    with one of their own, a practitioner and an admin."""
    parent, other = people.guardian(), people.patient(family="Eze", given="Chidi")
    doctor = people.practitioner()
    child_invoice = issue_for(core, fhir, parent.children[0], doctor.id)
    own_invoice = issue_for(core, fhir, parent.id, doctor.id, amount=2_000_000)
    other_invoice = issue_for(core, fhir, other.id, doctor.id, amount=300)
    return SimpleNamespace(
        parent=parent,
        other=other,
        doctor=doctor,
        admin=people.admin(),
        child=parent.children[0],
        child_invoice=child_invoice,
        own_invoice=own_invoice,
        other_invoice=other_invoice,
    )


def test_a_guardian_lists_their_own_and_their_childs_invoices(family: SimpleNamespace) -> None:
    resp = family.parent.api.get("invoicing/invoices")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 20, 0)
    # Newest first.
    assert [i["invoice"] for i in body["invoices"]] == [
        family.own_invoice.invoice_id,
        family.child_invoice.invoice_id,
    ]
    item = body["invoices"][1]
    row = family.child_invoice
    assert item == {
        "invoice": row.invoice_id,
        "number": row.number,
        "appointment": row.appointment_id,
        "patient": family.child,
        "practitioner": family.doctor.id,
        "date": item["date"],
        "currency": "NGN",
        "net": 1_500_000,
        "tax": 0,
        "gross": 1_500_000,
        "tax_rate_bp": 0,
        "pdf": f"/api/invoicing/invoices/{row.invoice_id}/pdf",
    }
    assert datetime.fromisoformat(item["date"]).tzinfo is not None
    assert resp.headers["Cache-Control"] == "private, no-store"


def test_a_guardian_filters_by_child(family: SimpleNamespace) -> None:
    body = family.parent.api.get(f"invoicing/invoices?patient={family.child}").get_json()
    assert [i["invoice"] for i in body["invoices"]] == [family.child_invoice.invoice_id]
    assert body["total"] == 1


def test_a_guardian_reads_their_childs_invoice(family: SimpleNamespace) -> None:
    resp = family.parent.api.get(f"invoicing/invoices/{family.child_invoice.invoice_id}")
    assert resp.status_code == 200
    assert resp.get_json()["number"] == family.child_invoice.number


def test_a_patient_sees_only_their_own(family: SimpleNamespace) -> None:
    body = family.other.api.get("invoicing/invoices").get_json()
    assert [i["invoice"] for i in body["invoices"]] == [family.other_invoice.invoice_id]


def test_another_patients_invoice_is_not_found(family: SimpleNamespace) -> None:
    for path in (
        f"invoicing/invoices/{family.child_invoice.invoice_id}",
        f"invoicing/invoices/{family.child_invoice.invoice_id}/pdf",
        f"invoicing/invoices?patient={family.child}",
    ):
        body = problem(family.other.api.get(path), 404)
        assert family.child_invoice.number not in json.dumps(body)


def test_an_unknown_invoice_or_patient_is_not_found(family: SimpleNamespace) -> None:
    for path in (
        "invoicing/invoices/no-such-invoice",
        "invoicing/invoices/no-such-invoice/pdf",
        "invoicing/invoices/bad%20id",
        "invoicing/invoices?patient=no-such-patient",
        "invoicing/invoices?patient=bad%20id",
    ):
        problem(family.admin.api.get(path), 404)
    problem(family.parent.api.get("invoicing/invoices?patient=no-such-patient"), 404)


def test_an_admin_sees_every_invoice_and_filters_by_patient(family: SimpleNamespace) -> None:
    body = family.admin.api.get("invoicing/invoices").get_json()
    assert body["total"] == 3
    assert {i["invoice"] for i in body["invoices"]} == {
        family.child_invoice.invoice_id,
        family.own_invoice.invoice_id,
        family.other_invoice.invoice_id,
    }
    body = family.admin.api.get(f"invoicing/invoices?patient={family.other.id}").get_json()
    assert [i["invoice"] for i in body["invoices"]] == [family.other_invoice.invoice_id]
    resp = family.admin.api.get(f"invoicing/invoices/{family.child_invoice.invoice_id}/pdf")
    assert resp.status_code == 200


def test_pages_follow_limit_and_offset(family: SimpleNamespace) -> None:
    everything = family.admin.api.get("invoicing/invoices").get_json()["invoices"]
    pages = [
        family.admin.api.get(f"invoicing/invoices?limit=2&offset={offset}").get_json()
        for offset in (0, 2, 4)
    ]
    assert [len(p["invoices"]) for p in pages] == [2, 1, 0]
    assert [i for p in pages for i in p["invoices"]] == everything
    assert {p["total"] for p in pages} == {3}


def test_a_practitioner_may_not_list_invoices(family: SimpleNamespace) -> None:
    """Not even those of their own patients: invoices are the payer's business."""
    body = problem(family.doctor.api.get("invoicing/invoices"), 403)
    assert "admin" in body["detail"]
    problem(family.doctor.api.get(f"invoicing/invoices/{family.child_invoice.invoice_id}"), 403)


def test_a_backend_service_may_not_list_invoices(family: SimpleNamespace, people: People) -> None:
    problem(people.system().get("invoicing/invoices"), 403)


def test_a_token_without_invoice_scopes_is_refused(family: SimpleNamespace, people: People) -> None:
    api = people.token_for(family.other, "openid fhirUser user/Patient.rs")
    problem(api.get("invoicing/invoices"), 403)
    problem(api.get(f"invoicing/invoices/{family.other_invoice.invoice_id}"), 403)


def test_without_a_token_the_answer_is_401(family: SimpleNamespace, anonymous_api: Any) -> None:
    for path in (
        "invoicing/invoices",
        "invoicing/invoices?limit=abc",
        f"invoicing/invoices/{family.child_invoice.invoice_id}",
        f"invoicing/invoices/{family.child_invoice.invoice_id}/pdf",
    ):
        problem(anonymous_api.get(path), 401)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("patient=", "patient"),
    ],
)
def test_bad_query_parameters_are_refused(
    family: SimpleNamespace, counts: Any, query: str, parameter: str
) -> None:
    before = counts()
    body = problem(family.admin.api.get(f"invoicing/invoices?{query}"), 400)
    assert body["detail"].startswith(f"{parameter}:")
    assert counts() == before


# --- the PDF -----------------------------------------------------------------------------


def pdf_text(resp: Any) -> tuple[PdfReader, str]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(resp.get_data()))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_shows_the_invoice(
    core: Any, fhir: FhirClient, people: People, tax_rate: Any
) -> None:
    tax_rate(750)
    patient, doctor = people.patient(), people.practitioner()
    row = issue_for(core, fhir, patient.id, doctor.id, amount=1_500_000)
    resp = patient.api.get(f"invoicing/invoices/{row.invoice_id}/pdf")
    reader, text = pdf_text(resp)
    assert resp.headers["Content-Disposition"] == f'inline; filename="{row.number}.pdf"'
    assert len(reader.pages) == 1
    for expected in (
        row.number,
        row.created_at.strftime("%Y-%m-%d"),
        "Ada Okafor",
        "Dr Amina Bello",
        "General consultation",
        "2026-12-01 09:00 (UTC+01:00)",
        "NGN 15,000.00",
        "Tax (7.5%)",
        "NGN 1,125.00",
        "NGN 16,125.00",
    ):
        assert expected in text, (expected, text)


def test_the_pdf_of_a_zero_decimal_currency(
    core: Any, fhir: FhirClient, people: People, tax_rate: Any
) -> None:
    tax_rate(1000)
    patient, doctor = people.patient(), people.practitioner()
    row = issue_for(core, fhir, patient.id, doctor.id, amount=15_000, currency="JPY")
    _, text = pdf_text(patient.api.get(f"invoicing/invoices/{row.invoice_id}/pdf"))
    for expected in ("JPY 15,000", "Tax (10%)", "JPY 1,500", "JPY 16,500"):
        assert expected in text, (expected, text)
    assert "JPY 15,000.00" not in text


def test_the_pdf_writes_names_in_any_script_the_font_covers(
    core: Any, fhir: FhirClient, people: People
) -> None:
    """The embedded Unicode font keeps every character: names read back exactly."""
    patient: Person = people.patient(family="Łukasiewicz Ōtani Ренат", given="Zoë")
    doctor = people.practitioner()
    row = issue_for(core, fhir, patient.id, doctor.id)
    reader, text = pdf_text(patient.api.get(f"invoicing/invoices/{row.invoice_id}/pdf"))
    assert "Zoë Łukasiewicz Ōtani Ренат" in text, text
    assert "?" not in text
    assert "Dr Amina Bello" in text
    fonts = {
        str(font["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all("DejaVuSans" in f for f in fonts), fonts  # embedded, not Helvetica


def test_the_pdf_keeps_marks_without_a_precomposed_form(
    core: Any, fhir: FhirClient, people: People
) -> None:
    patient: Person = people.patient(family="Adébáyọ̀", given="Ṣadé")
    doctor = people.practitioner()
    row = issue_for(core, fhir, patient.id, doctor.id)
    _, text = pdf_text(patient.api.get(f"invoicing/invoices/{row.invoice_id}/pdf"))
    assert unicodedata.normalize("NFC", "Ṣadé Adébáyọ̀") in unicodedata.normalize("NFC", text)


def test_characters_the_font_lacks_print_as_a_question_mark() -> None:
    assert printable("Zoë 日本\x07Ренат") == "Zoë ?? Ренат"  # noqa: RUF001


def test_the_api_is_in_the_openapi_document(app: Flask) -> None:
    paths = app.test_client().get("/api/openapi.json").get_json()["paths"]
    assert {
        "/api/invoicing/invoices",
        "/api/invoicing/invoices/{invoice_id}",
        "/api/invoicing/invoices/{invoice_id}/pdf",
    } <= set(paths)
    names = {p["name"] for p in paths["/api/invoicing/invoices"]["get"]["parameters"]}
    assert names == {"patient", "limit", "offset"}
