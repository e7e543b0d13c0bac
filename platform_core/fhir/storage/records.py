"""Plain records the storage layer hands out: a stored resource version and history pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from platform_core.fhir import jsonio
from platform_core.fhir.instants import format_instant, http_date


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource as stored; ``content`` is its JSON text (None if deleted)."""

    rid: int
    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: str | None
    method: str | None = None

    @property
    def etag(self) -> str:
        """The weak ETag of this version."""
        return f'W/"{self.version_id}"'

    @property
    def reference(self) -> str:
        """``Type/id``."""
        return f"{self.resource_type}/{self.id}"

    def resource(self) -> dict[str, Any]:
        """The resource parsed (decimals kept as written)."""
        if self.content is None:
            raise ValueError(f"{self.reference} version {self.version_id} is deleted")
        return jsonio.loads_stored(self.content)

    def version_headers(self, base_url: str) -> dict[str, str]:
        """``ETag``, ``Last-Modified`` and ``Location`` for this version."""
        return {
            "ETag": self.etag,
            "Last-Modified": http_date(self.last_updated),
            "Location": f"{base_url}/{self.reference}/_history/{self.version_id}",
        }

    @property
    def last_updated_instant(self) -> str:
        """``meta.lastUpdated`` as written on the wire."""
        return format_instant(self.last_updated)
