"""Batch and transaction Bundles posted to the FHIR base."""
