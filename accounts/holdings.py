"""What an identity holds, and until when: one answer for every question about access.

An identity's *holdings* are its standing grants (an employee's access groups, an API client's
scopes) and its temporary grants (a group or one scope for a window, break-glass among them),
each with the window it holds in. Everything else is read from them:

- :meth:`Holdings.at` — the grants at a moment (what a token or a session may do);
- :meth:`Holdings.standing` — the grants that hold without end (what may create other
  standing grants);
- :meth:`Holdings.lasting` — what is held now *and* still at a later moment (what may create a
  window that ends then).

:func:`of_employee`, :func:`of_api_client` and :func:`of_actor` load one identity's holdings
with two queries; :func:`of_tenant` loads every identity of a tenant with three.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts import rowsecurity
from accounts.models import AccessGroup, ApiClient, Employee, TemporaryGrant
from accounts.principal import API_CLIENT, EMPLOYEE, Principal
from accounts.scopes import TENANT_MANAGE, Grants


class GrantKind(models.TextChoices):
    """The kinds of holding. Standing kinds have no window."""

    GROUP = "group", "access group"
    CLIENT_SCOPE = "client_scope", "scope"
    TEMPORARY_GROUP = "temporary_group", "temporary access group"
    TEMPORARY_SCOPE = "temporary_scope", "temporary scope"
    BREAK_GLASS = "break_glass", "break-glass"


@dataclass(frozen=True, slots=True)
class Holding:
    """One thing held: a group or scopes, standing (no window) or for a window."""

    kind: GrantKind
    scopes: tuple[str, ...]
    group: AccessGroup | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    grant_id: int | None = None  # the TemporaryGrant's

    @property
    def group_id(self) -> int | None:
        return None if self.group is None else self.group.pk

    @property
    def break_glass(self) -> bool:
        return self.kind == GrantKind.BREAK_GLASS

    @property
    def standing(self) -> bool:
        return self.valid_until is None

    def open_at(self, moment: datetime) -> bool:
        return self.standing or self.valid_from <= moment < self.valid_until

    def grants(self) -> Grants:
        return Grants.from_strings(self.scopes)


@dataclass(frozen=True, slots=True)
class Holdings:
    """Everything one identity holds (a platform superuser or an operator: ``everything``)."""

    items: tuple[Holding, ...] = ()
    everything: bool = False

    def _union(self, holdings: Iterable[Holding]) -> Grants:
        if self.everything:
            return Grants.everything()
        return Grants.from_strings(scope for holding in holdings for scope in holding.scopes)

    def at(self, moment: datetime | None = None) -> Grants:
        """What is held at ``moment`` (default: now)."""
        moment = moment or timezone.now()
        return self._union(h for h in self.items if h.open_at(moment))

    def standing(self) -> Grants:
        """What is held without end."""
        return self._union(h for h in self.items if h.standing)

    def lasting(self, until: datetime, now: datetime | None = None) -> Grants:
        """What is held now and for certain until ``until``: standing grants and the temporary
        ones open now whose window does not end before it."""
        now = now or timezone.now()
        return self._union(
            h for h in self.items if h.standing or (h.open_at(now) and h.valid_until >= until)
        )

    def temporary(self) -> tuple[Holding, ...]:
        """The temporary holdings, current and future (expired ones hold nothing)."""
        return tuple(h for h in self.items if not h.standing)


EVERYTHING = Holdings(everything=True)


def _temporary_holding(grant: TemporaryGrant) -> Holding:
    if grant.group_id is not None:
        kind = GrantKind.BREAK_GLASS if grant.break_glass else GrantKind.TEMPORARY_GROUP
    else:
        kind = GrantKind.TEMPORARY_SCOPE
    return Holding(
        kind,
        tuple(grant.scope_strings()),
        grant.group,
        grant.valid_from,
        grant.valid_until,
        grant.pk,
    )


def _group_holding(group: AccessGroup) -> Holding:
    return Holding(GrantKind.GROUP, tuple(group.scope_strings()), group)


def _unexpired(now: datetime | None = None):
    return TemporaryGrant.objects.filter(valid_until__gt=now or timezone.now()).select_related(
        "group"
    )


def of_employee(employee: Employee, now: datetime | None = None) -> Holdings:
    if employee.is_superuser:
        return EVERYTHING
    if employee.pk is None:
        return Holdings()
    groups = employee.access_groups.filter(tenant_id=employee.tenant_id)
    temporary = _unexpired(now).filter(employee_id=employee.pk, tenant_id=employee.tenant_id)
    return Holdings(
        (*map(_group_holding, groups), *map(_temporary_holding, temporary.order_by("pk")))
    )


def of_api_client(client: ApiClient, now: datetime | None = None) -> Holdings:
    standing = Holding(GrantKind.CLIENT_SCOPE, tuple(client.scopes))
    if client.pk is None:
        return Holdings((standing,))
    temporary = _unexpired(now).filter(api_client_id=client.pk, tenant_id=client.tenant_id)
    return Holdings((standing, *map(_temporary_holding, temporary.order_by("pk"))))


def of_actor(actor: Principal) -> Holdings:
    """The acting principal's holdings: its employee's or API client's, read from the stored
    rows; an operator's and the platform's are everything (they hold no window). An identity
    that no longer exists holds nothing."""
    if actor.kind == EMPLOYEE:
        employee = Employee.objects.filter(pk=actor.id).first() if actor.id.isdigit() else None
        return Holdings() if employee is None else of_employee(employee)
    if actor.kind == API_CLIENT:
        client = ApiClient.objects.filter(client_id=actor.id).first()
        return Holdings() if client is None else of_api_client(client)
    return EVERYTHING


def principal_now(kind: str, identity: str, tenant) -> Principal | None:
    """The principal an audit record names (``actor_kind``, ``actor_id``) as it is now, in
    ``tenant``: what work it asked for earlier (a background export) runs with its current
    rights, or not at all when it is gone, inactive or elsewhere (None)."""
    if kind == EMPLOYEE and identity.isdigit():
        employee = Employee.objects.filter(pk=identity, is_active=True, is_staff=True).first()
        if employee is not None and (employee.is_superuser or employee.tenant_id == tenant.pk):
            return Principal.for_employee(employee, tenant)
    if kind == API_CLIENT:
        client = ApiClient.objects.filter(client_id=identity, tenant_id=tenant.pk).first()
        if client is not None and client.is_active:
            return Principal.for_api_client(client)
    return None


@dataclass(frozen=True, slots=True)
class TenantHoldings:
    """Every identity of a tenant with its holdings (for reviews, tenant administrators and
    "who may see it"): employees and API clients keyed by primary key."""

    employees: dict[int, tuple[Employee, Holdings]] = field(default_factory=dict)
    api_clients: dict[int, tuple[ApiClient, Holdings]] = field(default_factory=dict)


def of_tenant(tenant_id: int, *, now: datetime | None = None, active_only: bool = True):
    """Every (active) identity of the tenant and what it holds: three queries."""
    employees = Employee.objects.filter(tenant_id=tenant_id, is_superuser=False)
    clients = ApiClient.objects.filter(tenant_id=tenant_id)
    if active_only:
        employees, clients = employees.filter(is_active=True), clients.filter(is_active=True)
    employees = list(
        employees.prefetch_related(
            models.Prefetch(
                "access_groups", queryset=AccessGroup.objects.filter(tenant_id=tenant_id)
            )
        ).order_by("username")
    )
    clients = list(clients.order_by("name"))
    temporary = defaultdict(list)
    for grant in _unexpired(now).filter(tenant_id=tenant_id).order_by("pk"):
        key = (
            (EMPLOYEE, grant.employee_id)
            if grant.employee_id
            else (API_CLIENT, grant.api_client_id)
        )
        temporary[key].append(_temporary_holding(grant))
    return TenantHoldings(
        {
            e.pk: (
                e,
                Holdings(
                    (
                        *map(_group_holding, e.access_groups.all()),
                        *temporary[(EMPLOYEE, e.pk)],
                    )
                ),
            )
            for e in employees
        },
        {
            c.pk: (
                c,
                Holdings(
                    (
                        Holding(GrantKind.CLIENT_SCOPE, tuple(c.scopes)),
                        *temporary[(API_CLIENT, c.pk)],
                    )
                ),
            )
            for c in clients
        },
    )


def tenant_administrators(tenant_id: int) -> QuerySet[Employee]:
    """The active staff employees of the tenant who hold unsuffixed ``tenant.tenant_manage``
    now (through a standing group or a temporary grant): who is told of requests, and who may
    review."""
    groups = [
        group.pk
        for group in AccessGroup.objects.filter(tenant_id=tenant_id)
        if group.grants().can_manage_tenant()
    ]
    now = timezone.now()
    temporary = TemporaryGrant.objects.current(now).filter(
        Q(group_id__in=groups) | Q(scope=TENANT_MANAGE)
    )
    return (
        Employee.objects.filter(tenant_id=tenant_id, is_active=True, is_staff=True)
        .filter(Q(access_groups__in=groups) | Q(pk__in=temporary.values("employee_id")))
        .distinct()
    )


def platform_superusers() -> int:
    """How many active platform superusers there are (every right over every tenant). They
    belong to no tenant, so a tenant's context cannot see them: they are counted under the
    sign-in context (every tenant's identities, no customer)."""
    with rowsecurity.row_context(rowsecurity.SIGN_IN, using="default"):
        return Employee.objects.filter(is_active=True, is_superuser=True).count()
