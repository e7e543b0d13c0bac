"""Credential documents: what an upload really is, its safe title, and its FHIR form.

The type of an upload is decided by its first bytes (:func:`sniff`), never by the declared
``Content-Type`` or the file name: a PDF sent as ``image/png`` is stored as
``application/pdf``, and anything that is not a PDF, PNG or JPEG (an ``.exe`` renamed
``.pdf``) is refused. A DocumentReference describes the bytes (type, author, subject,
size, SHA-1) and a Binary holds them, with the DocumentReference as its
``securityContext``: the core lets exactly those who may read the DocumentReference read
the Binary. A credential DocumentReference is about a Practitioner, in no patient's
compartment, so over FHIR REST only admins and backend services reach either; owners use the
plugin API.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from typing import Any

from platform_core.fhir.instants import format_instant, now_utc
from plugins.practitioners.profile import CREDENTIAL_TYPES

MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
"""Leading bytes of the accepted formats, and the content type they get."""

EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}

TYPE_DISPLAY = {
    "licence": "Licence to practise",
    "degree": "Degree certificate",
    "identity": "Identity document",
    "other": "Other credential",
}
"""The ``credential-type`` codes of uploads and their displays."""

ACCESS_SYSTEM = "https://fireside.health/fhir/CodeSystem/practitioners-access"
CREDENTIAL_LABEL = {"system": ACCESS_SYSTEM, "code": "credential", "display": "Credential document"}
"""The security label on every credential Binary and DocumentReference, saying what they
are (access follows from the compartment and ``securityContext``, not from the label)."""

MAX_TITLE = 120
_UNSAFE = re.compile(r"[^\w.\- ()]+")


def sniff(data: bytes) -> str | None:
    """The content type of ``data`` from its magic bytes; None when not accepted."""
    for magic, content_type in MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def safe_title(filename: str | None, content_type: str) -> str:
    """The original file name made safe to show and to send back in a header: no folders,
    no control or shell characters, at most :data:`MAX_TITLE` characters; ``document.pdf``
    when nothing is left."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _UNSAFE.sub("_", name)
    name = " ".join(name.split()).strip(" ._")
    if len(name) > MAX_TITLE:
        stem, dot, ext = name.rpartition(".")
        keep = MAX_TITLE - len(ext) - 1 if dot and len(ext) <= 8 else MAX_TITLE
        name = (stem[:keep] + "." + ext) if dot and len(ext) <= 8 else name[:MAX_TITLE]
    return name or "document" + EXTENSIONS[content_type]


def binary_resource(data: bytes, content_type: str, document_reference_id: str) -> dict[str, Any]:
    """The Binary holding the bytes, readable by whoever may read its DocumentReference."""
    return {
        "resourceType": "Binary",
        "meta": {"security": [CREDENTIAL_LABEL]},
        "contentType": content_type,
        "securityContext": {"reference": f"DocumentReference/{document_reference_id}"},
        "data": base64.b64encode(data).decode("ascii"),
    }


def document_reference(
    *,
    practitioner_id: str,
    binary_id: str,
    kind: str,
    content_type: str,
    data: bytes,
    title: str,
) -> dict[str, Any]:
    """The DocumentReference describing an upload (R4: ``subject`` may be a Practitioner)."""
    practitioner = {"reference": f"Practitioner/{practitioner_id}"}
    return {
        "resourceType": "DocumentReference",
        "meta": {"security": [CREDENTIAL_LABEL]},
        "status": "current",
        "type": {
            "coding": [{"system": CREDENTIAL_TYPES, "code": kind, "display": TYPE_DISPLAY[kind]}],
            "text": TYPE_DISPLAY[kind],
        },
        "subject": practitioner,
        "date": format_instant(now_utc()),
        "author": [practitioner],
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "url": f"Binary/{binary_id}",
                    "size": len(data),
                    "hash": base64.b64encode(
                        hashlib.sha1(data, usedforsecurity=False).digest()
                    ).decode("ascii"),
                    "title": title,
                }
            }
        ],
    }
