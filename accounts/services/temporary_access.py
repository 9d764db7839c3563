"""Access for a window of time: temporary grants, requests for them, and break-glass.

The one write path for :class:`TemporaryGrant` and :class:`AccessRequest`, with the rules of
the identity services (``accounts.services.identities``): the actor administers the tenant,
grants nothing beyond their own grants, cannot change an identity stronger than themselves;
rows are locked; every change is an :class:`AccessChange`.

- A tenant administrator grants an employee an access group (or one scope) or an API client one
  scope, from ``valid_from`` until ``valid_until``; outside the window it grants nothing, at
  once (the principal lookup reads the window), whether or not :func:`expire_access` has run.
- An employee asks for a group or a scope for a duration up to the tenant's maximum with a
  reason; a tenant administrator who could grant it (never the requester) approves it, which
  creates the grant, or denies it. Tenant administrators are e-mailed through the task worker.
- A group marked for emergency self-activation may be activated by an employee for themselves
  at once ("break-glass"): the grant, the request and the access-change record are marked, and
  every tenant administrator is e-mailed at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import rowsecurity
from accounts.mail import send_access_request_email
from accounts.models import (
    BREAK_GLASS_ADMINISTRATION,
    AccessChange,
    AccessGroup,
    AccessRequest,
    ApiClient,
    Employee,
    TemporaryGrant,
    validate_scope_list,
)
from accounts.principal import EMPLOYEE, PLATFORM, Principal
from accounts.scopes import Grants
from accounts.services import identities as services
from core.channels import Channel
from core.datetimes import until
from core.errors import ConflictError, DoesNotExist, InvalidInput, NotPermitted, full_clean
from tenancy.models import Tenant

Action = AccessChange.Action
Status = AccessRequest.Status

SELF_APPROVAL = "Nobody approves their own request; another tenant administrator decides it."
EXPIRY_ACTOR = "expire_access"


def _what(group: AccessGroup | None, scope: str) -> dict:
    return {"group": group.name} if group is not None else {"scope": scope}


def _check_what(tenant: Tenant, group: AccessGroup | None, scope: str, *, employee: bool) -> None:
    """A group of the tenant (employees only), or one valid scope of the tenant."""
    if (group is None) == (not scope):
        raise InvalidInput("Name either an access group or one scope.", field="group")
    if group is not None:
        if not employee:
            raise InvalidInput("API clients hold scopes, not access groups.", field="group")
        if group.tenant_id != tenant.pk:
            raise InvalidInput("The access group belongs to another tenant.", field="group")
        return
    try:
        validate_scope_list([scope], tenant, suffixes=True)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="scope") from exc


def _grants_of(group: AccessGroup | None, scope: str) -> Grants:
    return group.grants() if group is not None else Grants.from_strings([scope])


def _create_grant(
    *,
    actor: Principal,
    channel: Channel,
    holder: Employee | ApiClient,
    group: AccessGroup | None,
    scope: str,
    valid_from: datetime,
    valid_until: datetime,
    reason: str,
    break_glass: bool = False,
    request: AccessRequest | None = None,
) -> TemporaryGrant:
    grant = TemporaryGrant(
        tenant_id=holder.tenant_id,
        employee=holder if isinstance(holder, Employee) else None,
        api_client=holder if isinstance(holder, ApiClient) else None,
        group=group,
        scope=scope,
        valid_from=valid_from,
        valid_until=valid_until,
        break_glass=break_glass,
        reason=reason,
        granted_by_kind=actor.kind,
        granted_by_id=actor.id,
        granted_by_name=actor.name,
    )
    full_clean(grant, exclude=["employee", "api_client", "group"])
    grant.save()
    after = {
        **_what(group, scope),
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(),
        "reason": reason,
    }
    if request is not None:
        after["request"] = request.pk
    services.record_access_change(
        actor, channel, holder, Action.TEMPORARY_GRANTED, after=after, break_glass=break_glass
    )
    return grant


def _locked_holder(actor: Principal, *, employee_pk=None, client_pk=None):
    if employee_pk is not None:
        holder = services.locked_employee(actor, employee_pk)
    else:
        holder = services.locked_api_client(actor, client_pk)
    if not holder.is_active:
        raise InvalidInput("Temporary access is granted to active identities only.")
    return holder


@transaction.atomic
def temporary_grant_create(
    *,
    actor: Principal,
    channel: Channel,
    employee_pk: int | None = None,
    client_pk: int | None = None,
    group: AccessGroup | None = None,
    scope: str = "",
    valid_from: datetime | None = None,
    valid_until: datetime,
    reason: str = "",
) -> TemporaryGrant:
    """A tenant administrator grants an employee (``employee_pk``) a group or a scope, or an API
    client (``client_pk``) a scope, for ``valid_from`` (default: now) to ``valid_until``."""
    if (employee_pk is None) == (client_pk is None):
        raise InvalidInput("Name either an employee or an API client.")
    holder = _locked_holder(actor, employee_pk=employee_pk, client_pk=client_pk)
    services.not_themselves(actor, holder)
    tenant = Tenant.objects.get(pk=holder.tenant_id)
    _check_what(tenant, group, scope, employee=isinstance(holder, Employee))
    now = timezone.now()
    valid_from = valid_from or now
    if valid_until <= max(valid_from, now):
        raise InvalidInput(
            "The end must be in the future and after the start.", field="valid_until"
        )
    if valid_until - max(valid_from, now) > tenant.max_temporary_access:
        raise InvalidInput(
            f"Temporary access lasts at most {_hours(tenant.max_temporary_access)} (this "
            "tenant's longest temporary access); grant it again when it ends, or make it "
            "standing access.",
            field="valid_until",
        )
    services.may_grant(actor, _grants_of(group, scope), tenant.pk, until=valid_until)
    return _create_grant(
        actor=actor,
        channel=channel,
        holder=holder,
        group=group,
        scope=scope,
        valid_from=valid_from,
        valid_until=valid_until,
        reason=reason,
    )


@transaction.atomic
def temporary_grant_revoke(*, actor: Principal, channel: Channel, grant_pk: int) -> bool:
    """End a temporary grant now (the holder loses it on their next request). False when it had
    already gone (expired and tidied, or revoked)."""
    grant = (
        TemporaryGrant.objects.select_for_update(of=("self",))
        .select_related("group")
        .filter(pk=grant_pk)
        .first()
    )
    if grant is None:
        return False
    if grant.employee_id is not None:
        holder = services.locked_employee(actor, grant.employee_id)
    else:
        holder = services.locked_api_client(actor, grant.api_client_id)
    services.record_access_change(
        actor,
        channel,
        holder,
        Action.TEMPORARY_REVOKED,
        before={**_what(grant.group, grant.scope), "valid_until": grant.valid_until.isoformat()},
        break_glass=grant.break_glass,
    )
    grant.delete()
    return True


def expire_access(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Tidy the grants whose window has passed: record that each expired and delete it; returns
    how many. Correctness never depends on this running: an expired grant already grants
    nothing. Safe to run concurrently (rows taken by another run are skipped)."""
    now = now or timezone.now()
    operator = Principal.system(EXPIRY_ACTOR)
    expired = 0
    while True:
        # (every tenant's grants and access-change log: the platform's context, audited)
        with rowsecurity.row_context(rowsecurity.ALL_TENANTS, reason=EXPIRY_ACTOR):
            batch = list(
                TemporaryGrant.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("group", "employee", "api_client")
                .filter(valid_until__lte=now)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return expired
            AccessChange.objects.bulk_create(
                services.access_change(
                    operator,
                    Channel.COMMAND,
                    grant.holder,
                    Action.EXPIRED,
                    before={
                        **_what(grant.group, grant.scope),
                        "valid_until": grant.valid_until.isoformat(),
                    },
                    break_glass=grant.break_glass,
                )
                for grant in batch
            )
            TemporaryGrant.objects.filter(pk__in=[grant.pk for grant in batch]).delete()
            expired += len(batch)


# --- requests and break-glass -----------------------------------------------------------------


def _themselves(actor: Principal) -> Employee:
    """The employee acting for themselves (asking for access), their row locked: an active
    employee of the tenant they act in."""
    employee = None
    if actor.kind == EMPLOYEE and actor.id.isdigit() and actor.tenant_id is not None:
        employee = (
            Employee.objects.select_for_update()
            .filter(pk=actor.id, tenant_id=actor.tenant_id, is_active=True)
            .first()
        )
    if employee is None:
        raise NotPermitted("Only active employees of a tenant ask for access.")
    return employee


def _notify(request: AccessRequest, event: str) -> None:
    transaction.on_commit(lambda: send_access_request_email.enqueue(request.pk, event))


@transaction.atomic
def access_request_create(
    *,
    actor: Principal,
    channel: Channel,
    group: AccessGroup | None = None,
    scope: str = "",
    duration: timedelta,
    reason: str,
    break_glass: bool = False,
) -> AccessRequest:
    """An employee (``actor``) asks for temporary access for themselves. With ``break_glass``
    (a group that allows emergency self-activation only) it is granted at once and every tenant
    administrator is told; otherwise it waits for a tenant administrator's decision."""
    employee = _themselves(actor)
    tenant = Tenant.objects.get(pk=employee.tenant_id)
    _check_what(tenant, group, scope, employee=True)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why you need the access.", field="reason")
    if duration <= timedelta(0) or duration > tenant.max_temporary_access:
        raise InvalidInput(
            f"The duration must be more than nothing and at most "
            f"{_hours(tenant.max_temporary_access)} (this tenant's maximum).",
            field="duration",
        )
    pending = AccessRequest.objects.filter(
        requester=employee, status=Status.PENDING, group=group, scope=scope
    )
    if pending.exists():
        raise ConflictError("You already asked for this; the request is waiting for a decision.")
    request = AccessRequest(
        tenant=tenant,
        requester=employee,
        group=group,
        scope=scope,
        duration=duration,
        reason=reason,
        break_glass=break_glass,
    )
    if not break_glass:
        request.save()
        _notify(request, "asked")
        return request
    if group is None or not group.break_glass:
        raise NotPermitted(
            "Only access groups marked for emergency self-activation can be activated at once; "
            "ask for this one instead.",
            field="group",
        )
    if group.carries_tenant_administration:
        raise NotPermitted(BREAK_GLASS_ADMINISTRATION, field="group")
    now = timezone.now()
    # (the employee's row is locked above: two activations at once cannot both pass these)
    today = AccessRequest.objects.filter(
        requester=employee, status=Status.ACTIVATED, decided_at__gt=now - timedelta(days=1)
    )
    if today.count() >= tenant.break_glass_per_day:
        raise ConflictError(
            f"You have activated emergency access {tenant.break_glass_per_day} "
            f"time{'s' if tenant.break_glass_per_day != 1 else ''} in the last 24 hours, this "
            "tenant's limit; ask a tenant administrator for access instead.",
            field="group",
        )
    active = (
        TemporaryGrant.objects.current(now)
        .filter(employee=employee, group=group, break_glass=True)
        .order_by("-valid_until")
        .first()
    )
    if active is not None:
        raise ConflictError(
            f"Your emergency access to {group.name} is active {until(active.valid_until, now)}; "
            "it is not activated again or extended while it lasts. Ask a tenant administrator "
            "if you need it longer.",
            field="group",
        )
    themselves = Principal.for_employee(employee, tenant)
    request.status = Status.ACTIVATED
    request.decided_by = employee
    request.decided_by_name = employee.username
    request.decided_at = now
    request.valid_until = now + duration
    request.save()
    request.grant = _create_grant(
        actor=themselves,
        channel=channel,
        holder=employee,
        group=group,
        scope="",
        valid_from=now,
        valid_until=request.valid_until,
        reason=reason,
        break_glass=True,
        request=request,
    )
    request.save(update_fields=["grant"])
    _notify(request, "break_glass")
    return request


def unacknowledged_activations(tenant_id: int) -> QuerySet[AccessRequest]:
    """The tenant's break-glass activations no tenant administrator has acknowledged yet."""
    return AccessRequest.objects.filter(
        tenant_id=tenant_id, status=Status.ACTIVATED, acknowledged_at__isnull=True
    ).select_related("requester", "group")


@transaction.atomic
def break_glass_acknowledge(*, actor: Principal, request_pks: list[int]) -> int:
    """A tenant administrator has seen these activations (never their own): they leave the
    index page. Returns how many were acknowledged now."""
    if actor.tenant_id is None:
        raise InvalidInput("Acknowledge activations as an administrator of their tenant.")
    services.administers(actor, actor.tenant_id)
    activations = unacknowledged_activations(actor.tenant_id).filter(pk__in=request_pks)
    if actor.kind == EMPLOYEE:
        activations = activations.exclude(requester_id=actor.id)
    return activations.update(acknowledged_at=timezone.now(), acknowledged_by_name=actor.name)


def _hours(duration: timedelta) -> str:
    hours = duration.total_seconds() / 3600
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def _locked_pending(request_pk: int) -> AccessRequest:
    request = (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("group", "requester")
        .filter(pk=request_pk)
        .first()
    )
    if request is None:
        raise DoesNotExist("This request no longer exists.")
    if request.status != Status.PENDING:
        raise ConflictError(
            f"This request was already decided ({request.get_status_display().lower()})."
        )
    return request


def _decider(actor: Principal) -> Employee | None:
    if actor.kind not in (EMPLOYEE, PLATFORM):
        return None
    return Employee.objects.filter(pk=actor.id).first()


@transaction.atomic
def access_request_decide(
    *, actor: Principal, channel: Channel, request_pk: int, approve: bool, note: str = ""
) -> AccessRequest:
    """Approve (the grant starts now and lasts the duration asked for) or deny a pending
    request. The decider administers the tenant, is not the requester, and (to approve) could
    grant the access themselves."""
    request = _locked_pending(request_pk)
    services.administers(actor, request.tenant_id)
    if actor.kind in (EMPLOYEE, PLATFORM) and actor.id == str(request.requester_id):
        raise NotPermitted(SELF_APPROVAL)
    decider = _decider(actor)
    now = timezone.now()
    request.decided_by = decider
    request.decided_by_name = actor.name
    request.decided_at = now
    request.decision_note = note
    if not approve:
        request.status = Status.DENIED
        request.save()
        _notify(request, "denied")
        return request
    requester = Employee.objects.select_for_update().get(pk=request.requester_id)
    if not requester.is_active:
        raise ConflictError("The requester is no longer active; deny the request instead.")
    tenant = Tenant.objects.get(pk=request.tenant_id)
    if request.duration > tenant.max_temporary_access:
        raise ConflictError(
            f"This request asks for longer than this tenant's longest temporary access now "
            f"({_hours(tenant.max_temporary_access)}); deny it and let the employee ask again."
        )
    valid_until = now + request.duration
    services.may_grant(
        actor, _grants_of(request.group, request.scope), request.tenant_id, until=valid_until
    )
    request.status = Status.APPROVED
    request.valid_until = valid_until
    request.grant = _create_grant(
        actor=actor,
        channel=channel,
        holder=requester,
        group=request.group,
        scope=request.scope,
        valid_from=now,
        valid_until=request.valid_until,
        reason=request.reason,
        request=request,
    )
    request.save()
    _notify(request, "approved")
    return request


@transaction.atomic
def access_request_withdraw(*, actor: Principal, request_pk: int) -> AccessRequest:
    """The requester takes back a request that is still waiting."""
    request = _locked_pending(request_pk)
    if actor.kind != EMPLOYEE or str(request.requester_id) != actor.id:
        raise DoesNotExist("This request no longer exists.")
    request.status = Status.WITHDRAWN
    request.decided_at = timezone.now()
    request.save(update_fields=["status", "decided_at"])
    return request
