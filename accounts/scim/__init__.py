"""SCIM 2.0 (RFC 7643/7644) provisioning of employees and access groups, for a tenant's identity
provider: ``/scim/v2/<tenant>/``. The protocol's documents, filters and patches are
``scim2-models``'; every change goes through the identity services (``accounts.services``)."""
