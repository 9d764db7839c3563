"""Who is calling: one value for API tokens, admin sessions and management commands."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.scopes import Grants

API_CLIENT = "api_client"
EMPLOYEE = "employee"
OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int
    tenant_code: str
    grants: Grants
    kind: str
    id: str
    name: str = ""  # human-readable, for audit records: username, client name, operator

    # DRF treats ``request.user`` as authenticated through this attribute.
    is_authenticated = True

    @classmethod
    def for_employee(cls, employee, tenant) -> Principal:
        """The employee acting in ``tenant`` (superusers may act in any tenant)."""
        if not employee.is_superuser and employee.tenant_id != tenant.pk:
            raise ValueError("An employee acts only in their own tenant.")
        return cls(
            tenant.pk,
            tenant.code,
            employee.grants(),
            EMPLOYEE,
            str(employee.pk),
            employee.username,
        )

    @classmethod
    def for_api_client(cls, client) -> Principal:
        return cls(
            client.tenant_id,
            client.tenant.code,
            client.grants(),
            API_CLIENT,
            client.client_id,
            client.name,
        )

    @classmethod
    def operator(cls, tenant, name: str = "operator") -> Principal:
        """An unrestricted operator running a management command."""
        return cls(tenant.pk, tenant.code, Grants.everything(), OPERATOR, name, name)
