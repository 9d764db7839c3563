"""Who is calling: one value for API tokens, admin sessions and management commands."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.scopes import Grants
from core.channels import ActorKind
from tenancy.services import restriction_tree

API_CLIENT = ActorKind.API_CLIENT.value
EMPLOYEE = ActorKind.EMPLOYEE.value
OPERATOR = ActorKind.OPERATOR.value
PLATFORM = ActorKind.PLATFORM.value


def in_tree(grants: Grants, tenant) -> Grants:
    """``grants`` as they hold in ``tenant``: each suffix covering the values below it in the
    tenant's restriction tree (unchanged in a flat tenant)."""
    return grants.expanded(restriction_tree(tenant.pk, tenant.tree_version))


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
        if employee.is_superuser:
            return cls.platform(employee).in_tenant(tenant)
        if employee.tenant_id != tenant.pk:
            raise ValueError("An employee acts only in their own tenant.")
        return cls(
            tenant.pk,
            tenant.code,
            in_tree(employee.grants(), tenant),
            EMPLOYEE,
            str(employee.pk),
            employee.username,
        )

    @classmethod
    def for_api_client(cls, client) -> Principal:
        return cls(
            client.tenant_id,
            client.tenant.code,
            in_tree(client.grants(), client.tenant),
            API_CLIENT,
            client.client_id,
            client.name,
        )

    @classmethod
    def platform(cls, superuser) -> Principal:
        """A platform superuser in the back office: every tenant, every right. Querysets give
        it every tenant's rows and the database binds it to all tenants; a write in one
        tenant is made as :meth:`in_tenant`. (``None`` is never "everything": it is nobody.)"""
        if not superuser.is_superuser:
            raise ValueError("Only a platform superuser acts for the platform.")
        return cls(None, "", Grants.everything(), PLATFORM, str(superuser.pk), superuser.username)

    def audit_fields(self) -> dict[str, str]:
        """Who did it, as every audit record stores it."""
        return {"actor_kind": self.kind, "actor_id": self.id, "actor_name": self.name}

    @property
    def is_platform(self) -> bool:
        return self.kind == PLATFORM

    @property
    def sees_every_tenant(self) -> bool:
        return self.is_platform and self.tenant_id is None

    def in_tenant(self, tenant) -> Principal:
        """The principal acting in ``tenant``: itself in its own tenant; the platform as an
        employee of that tenant holding every scope."""
        if self.sees_every_tenant:
            return type(self)(tenant.pk, tenant.code, self.grants, EMPLOYEE, self.id, self.name)
        if self.tenant_id != tenant.pk:
            raise ValueError("A principal acts only in its own tenant.")
        return self

    @classmethod
    def system(cls, name: str) -> Principal:
        """The service itself doing housekeeping that grants nothing (``expire_access``): no
        tenant, no grants; its name is what the audit records say did it."""
        return cls(None, "", Grants(), OPERATOR, name, name)

    @classmethod
    def operator(cls, tenant, name: str = "operator") -> Principal:
        """An unrestricted operator running a management command."""
        return cls(tenant.pk, tenant.code, Grants.everything(), OPERATOR, name, name)
