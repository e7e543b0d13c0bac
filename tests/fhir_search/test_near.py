"""Location ``near``: positions within a distance."""

from __future__ import annotations


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def location(fhir, name: str, lat: str, lon: str) -> str:
    body = (
        '{"resourceType":"Location","name":"' + name + '",'
        '"position":{"latitude":' + lat + ',"longitude":' + lon + "}}"
    )
    resp = fhir.post("Location", raw=body.encode())
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def test_near(fhir):
    lagos = location(fhir, "Lagos clinic", "6.5244", "3.3792")
    ikeja = location(fhir, "Ikeja clinic", "6.6018", "3.3515")  # ~9 km north
    abuja = location(fhir, "Abuja clinic", "9.0765", "7.3986")  # ~530 km away
    assert ids(fhir.get("Location?near=6.5244|3.3792|5|km")) == {lagos}
    assert ids(fhir.get("Location?near=6.5244|3.3792|15|km")) == {lagos, ikeja}
    assert ids(fhir.get("Location?near=6.5244|3.3792|15000|m")) == {lagos, ikeja}
    assert ids(fhir.get("Location?near=6.5244|3.3792|600|km")) == {lagos, ikeja, abuja}
    assert ids(fhir.get("Location?near=6.5244|3.3792")) == {lagos, ikeja}  # default 10 km
    assert fhir.get("Location?near=6.5|3.3|5|parsecs").status_code == 400
    assert fhir.get("Location?near=north").status_code == 400
    assert fhir.get("Location?near=95|3.3").status_code == 400
