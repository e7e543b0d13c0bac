"""Helpers of the scheduling tests: a practitioner with published availability, and a spy on
the domain events the plugins publish (the real ``Jobs.publish`` still runs)."""

from __future__ import annotations

from typing import Any

ALL_DAY = {
    "service": {"code": "general-consult", "display": "General consultation"},
    "time_zone": "UTC",
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start": "00:00",
    "end": "24:00",
    "slot_minutes": 60,
    "modes": ["in-person", "video"],
    "price": {"amount": 1500000, "currency": "NGN"},
}
"""A rule with an hourly slot all day, every day, in UTC: the next slots are predictable."""


def publish_rule(person: Any, **changes: Any) -> dict[str, Any]:
    resp = person.api.post("scheduling/rules", {**ALL_DAY, **changes})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def free_slots(person: Any, practitioner: str, **params: Any) -> list[dict[str, Any]]:
    resp = person.api.get("scheduling/slots", query_string={"practitioner": practitioner, **params})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["slots"]


def book(person: Any, slot: str, patient: str, **body: Any) -> Any:
    return person.api.post("scheduling/bookings", {"slot": slot, "patient": patient, **body})


class EventSpy:
    """Records every event published through the app's jobs service."""

    def __init__(self, jobs: Any, monkeypatch: Any) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        real = jobs.publish

        def publish(conn: Any, event: str, payload: dict[str, Any]) -> int:
            self.events.append((event, payload))
            return real(conn, event, payload)

        monkeypatch.setattr(jobs, "publish", publish)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def last(self, name: str) -> dict[str, Any]:
        return [payload for event, payload in self.events if event == name][-1]
