"""Hooks the scheduling plugin adds, for video and payment plugins to answer."""

from __future__ import annotations

from dataclasses import dataclass

from platform_core import hookspec


@dataclass(frozen=True)
class BookingRequest:
    """A booking about to be made, as a payment plugin sees it."""

    appointment_id: str
    patient_id: str
    practitioner_id: str
    service_code: str
    start: str
    """The appointment's start (FHIR instant)."""
    price_amount: int | None
    """Minor units of ``price_currency``; None for a free consultation."""
    price_currency: str | None


@hookspec(firstresult=True)
def scheduling_video_room(appointment_id: str) -> str | None:
    """The URL of the video room for a video consultation, asked once when it is booked.

    Fires inside the booking's transaction; the answer is stored on the Appointment
    (extension ``video-room``). The first non-None answer wins; with none, the plugin gives
    each appointment an unguessable room under ``scheduling_video_base_url``. An exception
    aborts the booking (500, nothing written)."""


@hookspec(firstresult=True)
def scheduling_payment_required(booking: BookingRequest) -> int | None:
    """How many seconds the patient has to pay for this booking, or None when no payment is
    needed (the default: without a payments plugin, bookings confirm at once).

    Fires inside the booking's transaction. With an answer the Appointment is stored
    ``pending`` and its slot held; the payments plugin confirms by publishing the event
    ``payment.confirmed`` with ``{"reference": "Appointment/<id>"}``, and a hold whose window
    passes is released (the Appointment is cancelled). An exception aborts the booking."""
