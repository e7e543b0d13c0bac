"""The FHIR engine: transport-free processing of FHIR R4 interactions.

A :class:`~platform_core.fhir.request.FhirRequest` goes in, a
:class:`~platform_core.fhir.request.FhirResponse` comes out; the Flask blueprint in
``platform_core.web`` only translates HTTP to and from these objects.
"""
