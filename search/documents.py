"""Searchable documents made from FHIR resources, and the document sources of this plugin.

Each builder turns a resource into a :class:`SearchDocument`: the title is what a person
would call it (a name, a medication's code text), the body the rest of its useful text
(other names, qualifications, addresses, codes' displays, the narrative with its markup
removed). Patients are private to themselves (``patient_id``); practitioners, organizations,
locations and medications are public. Telecom values of public resources stay out of the
index (a public search box is no place for staff phone numbers), and so does the street
part of a practitioner's address (it may be their home).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from typing import Any

from platform_core.plugin_api import DocumentSource, SearchDocument

Resource = dict[str, Any]


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def narrative(resource: Resource) -> str:
    """The resource's narrative (``text.div``) as plain text."""
    div = (resource.get("text") or {}).get("div")
    if not isinstance(div, str):
        return ""
    parser = _TextOnly()
    parser.feed(div)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def _strings(*values: Any) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str) and value.strip():
            out.append(value.strip())
        elif isinstance(value, list):
            out.extend(_strings(*value))
    return out


def human_name(name: Resource) -> str:
    """``Dr Ada B. Lovelace``: the name's text, or its parts in reading order."""
    if isinstance(name.get("text"), str) and name["text"].strip():
        return name["text"].strip()
    return " ".join(
        _strings(name.get("prefix"), name.get("given"), name.get("family"), name.get("suffix"))
    )


def _names(resource: Resource) -> list[str]:
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    official = [n for n in names if n.get("use") == "official"]
    ordered = official + [n for n in names if n not in official]
    return [text for n in ordered if (text := human_name(n))]


def concept_text(concept: Any) -> list[str]:
    """What a CodeableConcept says in words: its text and its codings' displays."""
    if not isinstance(concept, dict):
        return []
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    return list(dict.fromkeys(_strings(concept.get("text"), [c.get("display") for c in codings])))


def _codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return _strings([c.get("code") for c in concept.get("coding") or [] if isinstance(c, dict)])


def address_text(address: Any, *, street: bool) -> list[str]:
    """An address in words; ``street`` includes the lines and postal code."""
    if not isinstance(address, dict):
        return []
    parts = [address.get("city"), address.get("district"), address.get("state")]
    parts.append(address.get("country"))
    if street:
        parts = [address.get("line"), address.get("postalCode"), *parts]
    return _strings(*parts)


def _identifiers(resource: Resource) -> list[str]:
    return _strings(
        [i.get("value") for i in resource.get("identifier") or [] if isinstance(i, dict)]
    )


def _join(*groups: Iterable[str]) -> str:
    return "\n".join(dict.fromkeys(s for group in groups for s in group if s))


def patient_document(resource: Resource) -> SearchDocument | None:
    names = _names(resource)
    pid = resource["id"]
    addresses = [
        a for address in resource.get("address") or [] for a in address_text(address, street=True)
    ]
    telecom = _strings(
        [t.get("value") for t in resource.get("telecom") or [] if isinstance(t, dict)]
    )
    languages = [
        t
        for c in resource.get("communication") or []
        for t in concept_text((c or {}).get("language"))
    ]
    return SearchDocument(
        kind="patient",
        id=pid,
        title=names[0] if names else f"Patient {pid}",
        body=_join(
            names[1:],
            _strings(resource.get("birthDate")),
            addresses,
            telecom,
            languages,
            [narrative(resource)],
        ),
        keywords=tuple(_identifiers(resource)),
        url=f"Patient/{pid}",
        patient_id=pid,
        fields={k: resource[k] for k in ("birthDate", "gender") if k in resource},
    )


def practitioner_document(resource: Resource) -> SearchDocument | None:
    names = _names(resource)
    qualifications = [
        t for q in resource.get("qualification") or [] for t in concept_text((q or {}).get("code"))
    ]
    places = [
        a for address in resource.get("address") or [] for a in address_text(address, street=False)
    ]
    return SearchDocument(
        kind="practitioner",
        id=resource["id"],
        title=names[0] if names else f"Practitioner {resource['id']}",
        body=_join(names[1:], qualifications, places, [narrative(resource)]),
        keywords=tuple(_identifiers(resource)),
        url=f"Practitioner/{resource['id']}",
        fields={"qualifications": qualifications} if qualifications else {},
    )


def organization_document(resource: Resource) -> SearchDocument | None:
    kinds = [t for concept in resource.get("type") or [] for t in concept_text(concept)]
    places = [
        a for address in resource.get("address") or [] for a in address_text(address, street=True)
    ]
    name = resource.get("name") or f"Organization {resource['id']}"
    return SearchDocument(
        kind="organization",
        id=resource["id"],
        title=name,
        body=_join(_strings(resource.get("alias")), kinds, places, [narrative(resource)]),
        keywords=tuple(_identifiers(resource)),
        url=f"Organization/{resource['id']}",
        fields={"type": kinds} if kinds else {},
    )


def location_document(resource: Resource) -> SearchDocument | None:
    kinds = [t for concept in resource.get("type") or [] for t in concept_text(concept)]
    return SearchDocument(
        kind="location",
        id=resource["id"],
        title=resource.get("name") or f"Location {resource['id']}",
        body=_join(
            _strings(resource.get("alias"), resource.get("description")),
            kinds,
            concept_text(resource.get("physicalType")),
            address_text(resource.get("address"), street=True),
            [narrative(resource)],
        ),
        keywords=tuple(_identifiers(resource)),
        url=f"Location/{resource['id']}",
        fields={"type": kinds} if kinds else {},
    )


def medication_document(resource: Resource) -> SearchDocument | None:
    code = resource.get("code")
    names = concept_text(code)
    ingredients = [
        t
        for i in resource.get("ingredient") or []
        if isinstance(i, dict)
        for t in concept_text(i.get("itemCodeableConcept"))
        + _strings((i.get("itemReference") or {}).get("display"))
    ]
    form = concept_text(resource.get("form"))
    return SearchDocument(
        kind="medication",
        id=resource["id"],
        title=names[0] if names else (_codes(code) or [f"Medication {resource['id']}"])[0],
        body=_join(
            names[1:],
            form,
            ingredients,
            _strings((resource.get("manufacturer") or {}).get("display")),
            [narrative(resource)],
        ),
        keywords=tuple(_codes(code) + _identifiers(resource)),
        url=f"Medication/{resource['id']}",
        fields={"form": form[0]} if form else {},
    )


FHIR_BUILDERS: dict[str, tuple[str, Callable[[Resource], SearchDocument | None]]] = {
    "Patient": ("patient", patient_document),
    "Practitioner": ("practitioner", practitioner_document),
    "Organization": ("organization", organization_document),
    "Location": ("location", location_document),
    "Medication": ("medication", medication_document),
}
"""FHIR type -> (kind, builder) of the documents this plugin indexes itself."""


def fhir_sources() -> list[DocumentSource]:
    """The document sources of the FHIR types above."""
    return [
        DocumentSource(kind=kind, resource_type=rtype, to_document=build)
        for rtype, (kind, build) in FHIR_BUILDERS.items()
    ]


# --- documents as job payloads ------------------------------------------------------------


def document_payload(doc: SearchDocument) -> dict[str, Any]:
    """A document as JSON (the payload of the ``search.index_document`` job)."""
    payload = dataclasses.asdict(doc)
    payload["keywords"] = list(doc.keywords)
    return payload


def document_from_payload(payload: dict[str, Any]) -> SearchDocument:
    """The inverse of :func:`document_payload`; raises ``ValueError`` for a bad payload."""
    try:
        return SearchDocument(
            kind=str(payload["kind"]),
            id=str(payload["id"]),
            title=str(payload["title"]),
            body=str(payload.get("body") or ""),
            keywords=tuple(str(k) for k in payload.get("keywords") or ()),
            url=payload.get("url"),
            patient_id=payload.get("patient_id"),
            fields=dict(payload.get("fields") or {}),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a search document: {exc}") from None
