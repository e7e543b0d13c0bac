"""Audit: an AuditEvent for every sign-in, token and FHIR interaction (see ``records``)."""

from platform_core.audit.records import AuditRecord

__all__ = ["AuditRecord"]
