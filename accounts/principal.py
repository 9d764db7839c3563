"""Who is calling: one value for API tokens, admin sessions and management commands."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.scopes import Grants

API_CLIENT = "api_client"
EMPLOYEE = "employee"
OPERATOR = "operator"
PLATFORM = "platform"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int | None  # None only for the platform principal (it reads no customer)
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
    def platform(cls, superuser) -> Principal:
        """A platform superuser administering identities of any tenant (and other
        superusers). It belongs to no tenant, so every customer query built for it is empty:
        to work on a tenant's customers a superuser acts through :meth:`for_employee`."""
        if not superuser.is_superuser:
            raise ValueError("Only a platform superuser acts for the platform.")
        return cls(None, "", Grants.everything(), PLATFORM, str(superuser.pk), superuser.username)

    @property
    def is_platform(self) -> bool:
        return self.kind == PLATFORM

    @classmethod
    def operator(cls, tenant, name: str = "operator") -> Principal:
        """An unrestricted operator running a management command."""
        return cls(tenant.pk, tenant.code, Grants.everything(), OPERATOR, name, name)
