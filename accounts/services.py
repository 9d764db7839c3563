"""Creating and revoking identities; shared by the management commands and the admin."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import AccessGroup, ApiClient, Employee
from core.errors import ConflictError, InvalidInput, full_clean, validation_message
from tenancy.models import Tenant


def tenant_by_code(code: str) -> Tenant:
    tenant = Tenant.objects.filter(code=code).first()
    if tenant is None:
        raise InvalidInput(f"Unknown tenant {code!r}.")
    return tenant


@dataclass(frozen=True)
class CreatedClient:
    client: ApiClient
    secret: str


@transaction.atomic
def api_client_create(*, tenant: Tenant, name: str, scopes: list[str]) -> CreatedClient:
    if ApiClient.objects.filter(tenant=tenant, name=name).exists():
        raise ConflictError(f"An API client named {name!r} already exists in {tenant.code}.")
    client = ApiClient(tenant=tenant, name=name, scopes=scopes)
    secret = client.rotate_secret()
    full_clean(client, exclude=["client_id", "secret_hash"])
    client.save()
    return CreatedClient(client, secret)


@transaction.atomic
def api_client_rotate_secret(*, client: ApiClient) -> str:
    secret = client.rotate_secret()
    client.save(update_fields=["secret_hash", "token_generation"])
    return secret


@transaction.atomic
def api_client_update(*, client: ApiClient, name: str, scopes: list[str], is_active: bool) -> None:
    others = ApiClient.objects.filter(tenant_id=client.tenant_id, name=name).exclude(pk=client.pk)
    if others.exists():
        raise ConflictError(f"An API client named {name!r} already exists.")
    if client.is_active and not is_active:
        client.token_generation += 1  # tokens issued before stay dead after a reactivation
    client.name, client.scopes, client.is_active = name, scopes, is_active
    full_clean(client, exclude=["client_id", "secret_hash"])
    client.save(update_fields=["name", "scopes", "is_active", "token_generation"])


def api_client_deactivate(*, client: ApiClient) -> bool:
    """A deactivated client's tokens fail authentication on their next request. Returns
    whether the client was active."""
    if not client.is_active:
        return False
    client.is_active = False
    client.token_generation += 1  # tokens issued before stay dead after a reactivation
    client.save(update_fields=["is_active", "token_generation"])
    return True


def api_client_revoke(*, client_id: str) -> ApiClient:
    client = ApiClient.objects.filter(client_id=client_id).first()
    if client is None:
        raise InvalidInput(f"Unknown API client {client_id!r}.")
    api_client_deactivate(client=client)
    return client


@dataclass(frozen=True)
class GroupSpec:
    name: str
    scopes: list[str] | None  # None: join the existing group of that name
    restrictions: list[str]

    @classmethod
    def parse(cls, text: str) -> GroupSpec:
        """``NAME``, ``NAME:scope,scope`` or ``NAME:scope,scope:R1,R2``."""
        parts = text.split(":")
        if len(parts) > 3 or not parts[0]:
            raise InvalidInput(f"Invalid group {text!r}; use NAME:scope,scope[:R1,R2].")
        scopes = [s for s in parts[1].split(",") if s] if len(parts) > 1 else None
        restrictions = [r for r in parts[2].split(",") if r] if len(parts) > 2 else []
        if scopes is not None and not scopes:
            raise InvalidInput(f"Group {parts[0]!r} lists no scopes.")
        return cls(parts[0], scopes, restrictions)


def access_group_resolve(*, tenant: Tenant, spec: GroupSpec) -> AccessGroup:
    existing = AccessGroup.objects.filter(tenant=tenant, name=spec.name).first()
    if spec.scopes is None:
        if existing is None:
            raise InvalidInput(f"Unknown access group {spec.name!r} in {tenant.code}.")
        return existing
    if existing is not None:
        if sorted(existing.scopes) != sorted(spec.scopes) or sorted(
            existing.restrictions
        ) != sorted(spec.restrictions):
            raise InvalidInput(
                f"Access group {spec.name!r} already exists in {tenant.code} with other scopes."
            )
        return existing
    group = AccessGroup(
        tenant=tenant, name=spec.name, scopes=spec.scopes, restrictions=spec.restrictions
    )
    full_clean(group)
    group.save()
    return group


@transaction.atomic
def employee_create(
    *,
    tenant: Tenant,
    username: str,
    password: str,
    groups: list[GroupSpec],
    is_staff: bool = False,
    email: str = "",
) -> Employee:
    if not password:
        raise InvalidInput("The password is empty.")
    if Employee.objects.filter(username=username).exists():
        raise ConflictError(f"An employee named {username!r} already exists.")
    employee = Employee(tenant=tenant, username=username, is_staff=is_staff, email=email)
    try:
        validate_password(password, employee)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc), field="password") from exc
    employee.set_password(password)
    full_clean(employee, exclude=["password"])
    employee.save()
    employee.access_groups.set([access_group_resolve(tenant=tenant, spec=g) for g in groups])
    return employee


EMPLOYEE_EDITABLE_FIELDS = frozenset(
    {"username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"}
)


@transaction.atomic
def employee_update(
    *, employee: Employee, fields: dict, access_groups: list[AccessGroup] | None = None
) -> None:
    """Change an employee's profile, status and access groups (never the tenant or password:
    those have their own paths)."""
    unknown = set(fields) - EMPLOYEE_EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(f"Not editable here: {', '.join(sorted(unknown))}.")
    if employee.is_active and fields.get("is_active") is False:
        employee.token_generation += 1  # tokens issued before stay dead after a reactivation
    for name, value in fields.items():
        setattr(employee, name, value)
    full_clean(employee, exclude=["password"])
    employee.save()
    if access_groups is not None:
        if any(group.tenant_id != employee.tenant_id for group in access_groups):
            raise InvalidInput("Access groups belong to the employee's own tenant.")
        employee.access_groups.set(access_groups)
