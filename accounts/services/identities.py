"""Creating, changing and revoking identities: the one write path for API clients, employees and
access groups, shared by the back office and the management commands.

Every function takes the acting :class:`Principal` and the channel, and decides itself:

- the actor administers the identity's tenant (``tenant.tenant_manage``; a platform principal
  administers every tenant and is the only one who may touch a superuser);
- **no grant beyond your own**: what a change would grant must be covered by the actor's own
  grants;
- **no take-over**: an identity more powerful than the actor cannot be changed, given a new
  secret or password, or deleted by them (that would hand them its grants);
- **nobody changes their own access**: an actor never adds, extends or changes their own groups,
  scopes, staff, superuser or active flag or temporary grants (another administrator does);
- **temporary rights make nothing that outlasts them**: standing grants (groups, memberships,
  client scopes) and take-overs need the actor's *standing* grants to cover them; a window needs
  what the actor holds until its end (``accounts.holdings``).

Every write locks the stored row (``select_for_update``) and reads the values it compares from
it, never from an instance a form has already changed, and writes only the columns that changed,
so a password change, a secret rotation and a profile save never undo one another. Any
``is_active`` transition, new secret and new password moves ``token_generation``, so tokens
issued before stop working at once and a reactivation does not revive them. Every change writes
an :class:`AccessChange` (before and after, never a secret or hash).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import holdings
from accounts.models import (
    AccessChange,
    AccessGroup,
    ApiClient,
    Employee,
    TemporaryGrant,
    grants_of_groups,
    temporary_grants,
)
from accounts.principal import API_CLIENT, EMPLOYEE, PLATFORM, Principal, in_tree
from accounts.scopes import Grants
from accounts.tokens import CLIENT_SUBJECT_PREFIX, PROVISIONING, IssuedToken, issue_token
from core.channels import Channel
from core.errors import (
    ConflictError,
    DoesNotExist,
    InvalidInput,
    NotPermitted,
    first_or_not_found,
    full_clean,
    validation_message,
)
from tenancy.models import Tenant

Action = AccessChange.Action
SubjectKind = AccessChange.SubjectKind

BEYOND_OWN_GRANTS = "You cannot grant scopes or restrictions beyond your own."
TAKE_OVER = "This identity holds scopes or restrictions beyond your own; you cannot change it."
TAKE_OVER_REVIEW = "another tenant administrator who holds it decides this line."
OWN_ACCESS = (
    "Nobody changes their own access (groups, scopes, status or temporary access); ask another "
    "tenant administrator."
)
ONLY_TEMPORARY = (
    "You hold some of this only for a time; rights held temporarily cannot grant access that "
    "lasts beyond them."
)


def tenant_by_code(code: str) -> Tenant:
    tenant = Tenant.objects.filter(code=code).first()
    if tenant is None:
        raise InvalidInput(f"Unknown tenant {code!r}.")
    return tenant


# --- the rules every identity write shares ----------------------------------------------------


def _administers(actor: Principal, tenant_id: int | None, channel: Channel | None = None) -> None:
    """The actor may administer identities of ``tenant_id`` (None: platform superusers): a
    tenant administrator, or over SCIM a provisioning client (``iam.scim_manage``)."""
    if actor.is_platform:
        return
    administers = actor.grants.can_manage_tenant() or (
        channel == Channel.SCIM and actor.grants.can_provision()
    )
    if tenant_id is None or actor.tenant_id != tenant_id or not administers:
        raise NotPermitted("You may administer identities of your own tenant only.")


def _in_tree(grants: Grants, tenant_id: int | None) -> Grants:
    """Grants as they hold in the tenant's restriction tree (the actor's already are)."""
    if tenant_id is None:
        return grants
    return in_tree(grants, Tenant.objects.only("pk", "tree_version").get(pk=tenant_id))


def _lasting_power(actor: Principal, tenant_id: int | None, until=None) -> Grants:
    """What the actor may give away for good (``until`` None) or for a window ending at
    ``until``: their grants, limited to what they hold without end (or until then)."""
    held = holdings.of_actor(actor)
    if held.everything:
        return actor.grants
    lasting = held.standing() if until is None else held.lasting(until)
    return actor.grants & _in_tree(lasting, tenant_id)


def _may_grant(actor: Principal, wanted: Grants, tenant_id: int | None, *, until=None) -> None:
    """``wanted`` is covered by the actor's own grants, and by what they hold for good (a
    standing grant) or until ``until`` (a window)."""
    wanted = _in_tree(wanted, tenant_id)
    if not actor.grants.covers_grants(wanted):
        missing = ", ".join(wanted.not_covered_in(actor.grants))
        raise NotPermitted(f"{BEYOND_OWN_GRANTS[:-1]}: {missing}.", field="scopes")
    if not _lasting_power(actor, tenant_id, until).covers_grants(wanted):
        raise NotPermitted(ONLY_TEMPORARY, field="scopes")


def _may_take_over(actor: Principal, held: Grants, tenant_id: int | None) -> None:
    """A new secret, password or set of grants hands the actor what the identity holds: they
    must hold it for good themselves."""
    held = _in_tree(held, tenant_id)
    if not actor.grants.covers_grants(held):
        raise NotPermitted(TAKE_OVER)
    if not _lasting_power(actor, tenant_id).covers_grants(held):
        raise NotPermitted(ONLY_TEMPORARY)


def is_themselves(actor: Principal | None, identity) -> bool:
    """Whether ``identity`` is the actor's own employee or API client."""
    if actor is None:
        return False
    if isinstance(identity, Employee):
        return actor.kind in (EMPLOYEE, PLATFORM) and actor.id == str(identity.pk)
    if isinstance(identity, ApiClient):
        return actor.kind == API_CLIENT and actor.id == identity.client_id
    return False


def _not_themselves(actor: Principal, identity) -> None:
    if is_themselves(actor, identity):
        raise NotPermitted(OWN_ACCESS)


def access_change(
    actor: Principal,
    channel: Channel,
    subject,
    action: Action,
    before: dict | None = None,
    after: dict | None = None,
    *,
    break_glass: bool = False,
) -> AccessChange:
    """The record of one change of ``subject``'s access (not yet saved: a batch is written with
    one ``bulk_create``)."""
    kind, subject_id, name = _subject(subject)
    return AccessChange(
        tenant_id=subject.pk if isinstance(subject, Tenant) else subject.tenant_id,
        subject_kind=kind,
        subject_id=subject_id,
        subject_name=name,
        action=action,
        before=before or {},
        after=after or {},
        channel=channel,
        break_glass=break_glass,
        **actor.audit_fields(),
    )


def _record(
    actor: Principal,
    channel: Channel,
    subject,
    action: Action,
    before: dict | None = None,
    after: dict | None = None,
    *,
    break_glass: bool = False,
) -> AccessChange:
    change = access_change(actor, channel, subject, action, before, after, break_glass=break_glass)
    change.save()
    return change


def _subject(subject) -> tuple[str, str, str]:
    if isinstance(subject, ApiClient):
        return SubjectKind.API_CLIENT, subject.client_id, subject.name
    if isinstance(subject, Employee):
        return SubjectKind.EMPLOYEE, str(subject.pk), subject.username
    if isinstance(subject, AccessGroup):
        return SubjectKind.ACCESS_GROUP, str(subject.pk), subject.name
    if isinstance(subject, Tenant):
        return SubjectKind.TENANT, subject.code, subject.name
    raise TypeError(f"Not an identity: {subject!r}")


def _changes(stored, fields: dict) -> tuple[dict, dict]:
    """(before, after) of the fields whose value differs from the stored row's."""
    changed = {name: value for name, value in fields.items() if getattr(stored, name) != value}
    return {name: getattr(stored, name) for name in changed}, changed


def _locked(manager, pk, *, reached_by: Principal | None = None):
    """The row, locked. With ``reached_by``: only within that actor's tenant (every tenant for
    the platform), so that another tenant's identity answers exactly like a missing one (no
    oracle of what exists elsewhere); whether the actor may change it is checked after."""
    message = f"This {manager.model._meta.verbose_name} no longer exists."
    rows = manager.select_for_update().filter(pk=pk)
    if reached_by is not None and not reached_by.is_platform:
        tenant_id = reached_by.tenant_id
        rows = rows.filter(tenant_id=tenant_id) if tenant_id is not None else rows.none()
    return first_or_not_found(rows, message)


def _saved_unless_taken(row, message: str) -> None:
    """Save ``row``; a unique name taken at the same moment by a concurrent write (after the
    check before) is the same :class:`ConflictError`, and the caller's transaction goes on."""
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        raise ConflictError(message) from exc


def tenant_change_recorded(
    *, actor: Principal, channel: Channel, tenant: Tenant, before: dict, after: dict
) -> None:
    """Record a change of a tenant setting that changes what access means (its valid
    restrictions and their tree: what suffixed scopes cover; its longest temporary access: what
    a request or a break-glass activation can grant); the tenant's own page or services make
    the change itself."""
    if before != after:
        _record(actor, channel, tenant, Action.CHANGED, before, after)


# The rules above, for the other identity write paths (temporary access, access reviews).
administers = _administers
may_grant = _may_grant
may_take_over = _may_take_over
not_themselves = _not_themselves
lasting_power = _lasting_power
record_access_change = _record


def locked_api_client(actor: Principal, client_pk: int) -> ApiClient:
    """The client's row, locked, when ``actor`` may change it (administers it, no take-over)."""
    client = _locked(ApiClient.objects, client_pk, reached_by=actor)
    _administers(actor, client.tenant_id)
    _may_take_over(actor, client.grants(), client.tenant_id)
    return client


# --- API clients ------------------------------------------------------------------------------


def _check_client(actor: Principal, client: ApiClient) -> None:
    """The client's values are valid and grant nothing beyond the actor's own. (Unique names
    are checked by the callers, with a conflict's own message.)"""
    exclude = ["client_id", "secret_hash"]
    full_clean(client, exclude=exclude, validate_unique=False, validate_constraints=False)
    _may_grant(actor, client.standing_grants(), client.tenant_id)


@dataclass(frozen=True)
class CreatedClient:
    client: ApiClient
    secret: str


@transaction.atomic
def api_client_create(
    *,
    actor: Principal,
    channel: Channel,
    tenant: Tenant,
    name: str,
    scopes: list[str],
    secret: str | None = None,
) -> CreatedClient:
    """A new client; its secret is random unless given."""
    _administers(actor, tenant.pk)
    client = ApiClient(tenant=tenant, name=name, scopes=scopes)
    _check_client(actor, client)
    if ApiClient.objects.filter(tenant=tenant, name=name).exists():
        raise ConflictError(f"An API client named {name!r} already exists in {tenant.code}.")
    secret = client.rotate_secret(secret)
    client.save()
    _record(actor, channel, client, Action.CREATED, after={"name": name, "scopes": scopes})
    return CreatedClient(client, secret)


@transaction.atomic
def api_client_update(
    *,
    actor: Principal,
    channel: Channel,
    client_pk: int,
    name: str,
    scopes: list[str],
    is_active: bool,
) -> ApiClient:
    client = _locked(ApiClient.objects, client_pk, reached_by=actor)
    _administers(actor, client.tenant_id)
    _may_take_over(actor, client.grants(), client.tenant_id)
    before, after = _changes(client, {"name": name, "scopes": scopes, "is_active": is_active})
    if not after:
        return client
    if after.keys() - {"name"}:
        _not_themselves(actor, client)
    if "name" in after:
        others = ApiClient.objects.filter(tenant_id=client.tenant_id, name=name)
        if others.exclude(pk=client.pk).exists():
            raise ConflictError(f"An API client named {name!r} already exists.")
    for field, value in after.items():
        setattr(client, field, value)
    _check_client(actor, client)
    update_fields = list(after)
    if "is_active" in after:
        # Either way: tokens issued before a deactivation stay dead after a reactivation.
        client.token_generation += 1
        update_fields.append("token_generation")
    client.save(update_fields=update_fields)
    _record_status_and_changes(actor, channel, client, before, after)
    return client


def _record_status_and_changes(actor, channel, subject, before: dict, after: dict) -> None:
    before, after = dict(before), dict(after)
    if "is_active" in after:
        before.pop("is_active")
        active = after.pop("is_active")
        _record(actor, channel, subject, Action.REACTIVATED if active else Action.DEACTIVATED)
    if after:
        _record(actor, channel, subject, Action.CHANGED, before, after)


@transaction.atomic
def api_client_rotate_secret(
    *, actor: Principal, channel: Channel, client_pk: int, secret: str | None = None
) -> str:
    """A new secret (random unless given), returned in clear once; every earlier token stops
    working."""
    client = _locked(ApiClient.objects, client_pk, reached_by=actor)
    _administers(actor, client.tenant_id)
    _may_take_over(actor, client.grants(), client.tenant_id)
    secret = client.rotate_secret(secret)
    client.save(update_fields=["secret_hash", "token_generation"])
    _record(actor, channel, client, Action.SECRET_ROTATED)
    return secret


PROVISIONING_TOKEN_LIFETIME = timedelta(days=365)


@transaction.atomic
def api_client_provisioning_token(
    *, actor: Principal, channel: Channel, client_pk: int
) -> IssuedToken:
    """A long-lived access token for an identity provider's SCIM provisioning (providers such
    as Entra ID keep one "secret token"), shown once. It hands over what the client holds, so
    it is a take-over like a new secret; it is accepted by the SCIM endpoints only, and it stops
    working when the client's secret is rotated or the client deactivated."""
    client = _locked(ApiClient.objects, client_pk, reached_by=actor)
    _administers(actor, client.tenant_id)
    _may_take_over(actor, client.grants(), client.tenant_id)
    if not client.is_active or not client.grants().can_provision():
        raise InvalidInput(
            f"{client.name} is not an active client holding iam.scim_manage: no provisioning "
            "token for it."
        )
    issued = issue_token(
        subject=f"{CLIENT_SUBJECT_PREFIX}{client.client_id}",
        tenant_code=client.tenant.code,
        scopes=list(client.scopes),
        generation=client.token_generation,
        use=PROVISIONING,
        lifetime=PROVISIONING_TOKEN_LIFETIME,
    )
    until = timezone.now() + PROVISIONING_TOKEN_LIFETIME
    _record(
        actor,
        channel,
        client,
        Action.CHANGED,
        after={"provisioning token": f"issued, valid until {until:%Y-%m-%d}"},
    )
    return issued


@transaction.atomic
def api_client_deactivate(*, actor: Principal, channel: Channel, client_pk: int) -> bool:
    """A deactivated client's tokens fail authentication on their next request. Returns
    whether the client was active."""
    client = _locked(ApiClient.objects, client_pk, reached_by=actor)
    _administers(actor, client.tenant_id)
    _not_themselves(actor, client)
    # A stronger client is read-only for the actor: stopping it is changing it. (Stopping
    # hands nothing over, so rights held for a time suffice.)
    if not actor.grants.covers_grants(_in_tree(client.grants(), client.tenant_id)):
        raise NotPermitted(TAKE_OVER)
    if not client.is_active:
        return False
    client.is_active = False
    client.token_generation += 1
    client.save(update_fields=["is_active", "token_generation"])
    _record(actor, channel, client, Action.DEACTIVATED)
    return True


def api_client_by_client_id(client_id: str) -> ApiClient:
    client = ApiClient.objects.select_related("tenant").filter(client_id=client_id).first()
    if client is None:
        raise InvalidInput(f"Unknown API client {client_id!r}.")
    return client


# --- access groups ----------------------------------------------------------------------------


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


@transaction.atomic
def access_group_save(
    *,
    actor: Principal,
    channel: Channel,
    tenant: Tenant,
    group_pk: int | None,
    name: str,
    scopes: list[str],
    restrictions: list[str],
    break_glass: bool | None = None,
    external_id: str | None = None,
) -> AccessGroup:
    """Create (``group_pk`` None) or change a group. Changing a group changes what every
    member holds, so the actor must cover what it granted and what it will grant.
    ``break_glass``: whether employees may activate it for themselves in an emergency (None:
    as it is; off for a new group). ``external_id``: the identity provider's id (None: as it
    is)."""
    _administers(actor, tenant.pk, channel)
    fields = {"name": name, "scopes": scopes, "restrictions": restrictions}
    if break_glass is not None:
        fields["break_glass"] = break_glass
    if external_id is not None:
        fields["external_id"] = external_id
    if group_pk is None:
        group = AccessGroup(tenant=tenant, **fields)
        before, after = {}, fields
    else:
        group = _locked(AccessGroup.objects, group_pk, reached_by=actor)
        if group.tenant_id != tenant.pk:
            raise DoesNotExist("This access group no longer exists.")
        _may_take_over(actor, group.grants(), group.tenant_id)
        before, after = _changes(group, fields)
        if not after:
            return group
        for field, value in after.items():
            setattr(group, field, value)
    # (no scopes is allowed here: a group provisioned over SCIM grants nothing until an
    # administrator says what; the back office's form asks for scopes itself)
    full_clean(
        group,
        exclude=["scopes"] if group.scopes == [] else None,
        validate_unique=False,
        validate_constraints=False,
    )
    _may_grant(actor, group.grants(), group.tenant_id)
    taken = f"An access group named {name!r} already exists."
    if "name" in after:
        others = AccessGroup.objects.filter(tenant=tenant, name=name).exclude(pk=group.pk)
        if others.exists():
            raise ConflictError(taken)
    _saved_unless_taken(group, taken)
    action = Action.CREATED if group_pk is None else Action.CHANGED
    _record(actor, channel, group, action, before, after)
    return group


@transaction.atomic
def access_group_set_members(
    *, actor: Principal, channel: Channel, group_pk: int, members: Iterable[int]
) -> AccessGroup:
    """Make ``members`` (employee ids) the group's members: the group's side of a membership
    change (SCIM). Each employee added or taken out has their access changed, so each is
    checked as a change of that employee: the actor administers them, is not one of them and
    may take them over; adding needs the group's grants held for good. All or nothing."""
    group = _locked(AccessGroup.objects, group_pk, reached_by=actor)
    _administers(actor, group.tenant_id, channel)
    wanted = set(members)
    current = set(group.employees.values_list("pk", flat=True))
    added, removed = wanted - current, current - wanted
    if not added and not removed:
        return group
    if added:
        _may_grant(actor, group.grants(), group.tenant_id)
    changed = list(
        Employee.objects.select_for_update()
        .filter(pk__in=added | removed, tenant_id=group.tenant_id)
        .order_by("pk")
    )
    if len(changed) != len(added | removed):
        raise InvalidInput("A member is not an employee of this tenant.", field="members")
    for employee in changed:
        if employee.is_superuser and not actor.is_platform:
            raise NotPermitted(TAKE_OVER)
        _not_themselves(actor, employee)
    # Taking over each of them is taking over what they hold together (coverage is a union per
    # scope): one check, with their groups and open windows read in two queries for all.
    _may_take_over(actor, _held_together(changed, group.tenant_id), group.tenant_id)
    group.employees.add(*(e for e in changed if e.pk in added))
    group.employees.remove(*(e for e in changed if e.pk in removed))
    AccessChange.objects.bulk_create(
        access_change(actor, channel, employee, Action.GROUP_ADDED, after={"group": group.name})
        if employee.pk in added
        else access_change(
            actor, channel, employee, Action.GROUP_REMOVED, before={"group": group.name}
        )
        for employee in changed
    )
    return group


def _held_together(employees: list[Employee], tenant_id: int) -> Grants:
    """What ``employees`` hold now, together (each one's grants, as ``Employee.grants``)."""
    groups = AccessGroup.objects.filter(tenant_id=tenant_id, employees__in=employees).distinct()
    windows = TemporaryGrant.objects.current().filter(employee__in=employees)
    return grants_of_groups(groups) | temporary_grants(windows)


def access_group_resolve(*, actor: Principal, channel: Channel, tenant: Tenant, spec: GroupSpec):
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
    return access_group_save(
        actor=actor,
        channel=channel,
        tenant=tenant,
        group_pk=None,
        name=spec.name,
        scopes=spec.scopes,
        restrictions=spec.restrictions,
    )


# --- employees --------------------------------------------------------------------------------


def _check_password(password: str, employee: Employee) -> None:
    if not password:
        raise InvalidInput("The password is empty.", field="password")
    try:
        validate_password(password, employee)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc), field="password") from exc


def _set_memberships(actor, channel, employee: Employee, groups: Iterable[AccessGroup]) -> None:
    wanted = {group.pk: group for group in groups}
    if any(group.tenant_id != employee.tenant_id for group in wanted.values()):
        raise InvalidInput("Access groups belong to the employee's own tenant.")
    _may_grant(actor, grants_of_groups(wanted.values()), employee.tenant_id)
    current = {group.pk: group for group in employee.access_groups.all()}
    added = [wanted[pk] for pk in wanted.keys() - current.keys()]
    removed = [current[pk] for pk in current.keys() - wanted.keys()]
    employee.access_groups.remove(*removed)
    employee.access_groups.add(*added)
    for group in removed:
        _record(actor, channel, employee, Action.GROUP_REMOVED, before={"group": group.name})
    for group in added:
        _record(actor, channel, employee, Action.GROUP_ADDED, after={"group": group.name})


@transaction.atomic
def employee_create(
    *,
    actor: Principal,
    channel: Channel,
    tenant: Tenant,
    username: str,
    password: str | None,
    groups: list[GroupSpec] | list[AccessGroup] = (),
    is_staff: bool = False,
    email: str = "",
    profile: dict | None = None,
) -> Employee:
    """A new employee of ``tenant``. ``password`` None: no password sign-in (an employee
    provisioned by the identity provider signs in through it). ``profile``: first_name,
    last_name, external_id, is_active."""
    _administers(actor, tenant.pk, channel)
    profile = dict(profile or {})
    unknown = set(profile) - PROFILE_FIELDS
    if unknown:
        raise InvalidInput(f"Not settable here: {', '.join(sorted(unknown))}.")
    if Employee.objects.filter(username=username).exists():
        raise ConflictError(f"An employee named {username!r} already exists.")
    employee = Employee(tenant=tenant, username=username, is_staff=is_staff, email=email, **profile)
    if password is None:
        employee.set_unusable_password()
    else:
        _check_password(password, employee)
        employee.set_password(password)
    full_clean(employee, exclude=["password"])
    _saved_unless_taken(employee, f"An employee named {username!r} already exists.")
    _record(
        actor,
        channel,
        employee,
        Action.CREATED,
        after={"username": username, "email": email, "is_staff": is_staff, **profile},
    )
    resolved = [
        group
        if isinstance(group, AccessGroup)
        else access_group_resolve(actor=actor, channel=channel, tenant=tenant, spec=group)
        for group in groups
    ]
    _set_memberships(actor, channel, employee, resolved)
    return employee


EMPLOYEE_EDITABLE_FIELDS = frozenset(
    {
        "username",
        "first_name",
        "last_name",
        "email",
        "external_id",
        "is_active",
        "is_staff",
        "is_superuser",
    }
)
# What a new employee may be given besides the name, e-mail and staff flag.
PROFILE_FIELDS = frozenset({"first_name", "last_name", "external_id", "is_active"})


def locked_employee(actor: Principal, employee_pk: int) -> Employee:
    """The employee's row, locked, when ``actor`` may change it (administers it, no take-over;
    only the platform changes a superuser)."""
    return _locked_employee(actor, employee_pk)


def _locked_employee(actor: Principal, employee_pk: int, channel: Channel | None = None):
    employee = _locked(Employee.objects, employee_pk, reached_by=actor)
    if employee.is_superuser and not actor.is_platform:
        raise NotPermitted(TAKE_OVER)
    _administers(actor, employee.tenant_id, channel)
    if not is_themselves(actor, employee):  # (nobody takes themselves over)
        _may_take_over(actor, employee.grants(), employee.tenant_id)
    return employee


ACCESS_FIELDS = frozenset({"is_active", "is_staff", "is_superuser"})


@transaction.atomic
def employee_update(
    *,
    actor: Principal,
    channel: Channel,
    employee_pk: int,
    fields: dict,
    access_groups: list[AccessGroup] | None = None,
) -> Employee:
    """Change an employee's profile, status and access groups (never the tenant or password:
    those have their own paths)."""
    unknown = set(fields) - EMPLOYEE_EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(f"Not editable here: {', '.join(sorted(unknown))}.")
    employee = _locked_employee(actor, employee_pk, channel)
    before, after = _changes(employee, fields)
    if after.keys() & ACCESS_FIELDS or (
        access_groups is not None
        and {g.pk for g in access_groups}
        != set(employee.access_groups.values_list("pk", flat=True))
    ):
        _not_themselves(actor, employee)
    if after.get("is_superuser") and not actor.is_platform:
        raise NotPermitted("Only a platform superuser makes superusers.")
    if after:
        for name, value in after.items():
            setattr(employee, name, value)
        # (the check constraint too: a non-superuser belongs to a tenant)
        full_clean(employee, exclude=["password"], validate_unique=False)
        if (
            "username" in after
            and Employee.objects.filter(username=after["username"]).exclude(pk=employee.pk).exists()
        ):
            raise ConflictError(f"An employee named {after['username']!r} already exists.")
        update_fields = list(after)
        if "is_active" in after:
            employee.token_generation += 1  # either way: earlier tokens stay dead
            update_fields.append("token_generation")
        employee.save(update_fields=update_fields)
        _record_status_and_changes(actor, channel, employee, before, after)
    if access_groups is not None:
        _set_memberships(actor, channel, employee, access_groups)
    return employee


@transaction.atomic
def employee_set_password(
    *, actor: Principal, channel: Channel, employee_pk: int, password: str | None
) -> Employee:
    """A new password set by an administrator (None: password login disabled); every earlier
    token stops working."""
    employee = _locked_employee(actor, employee_pk)
    if password is None:
        employee.set_unusable_password()
        employee.token_generation += 1
    else:
        _check_password(password, employee)
        employee.set_password(password)  # moves token_generation (Employee.set_password)
    employee.save(update_fields=["password", "token_generation"])
    _record(actor, channel, employee, Action.PASSWORD_CHANGED)
    return employee


@transaction.atomic
def employee_change_own_password(*, actor: Principal, password: str, channel: Channel) -> Employee:
    """An employee's (or a platform superuser's) new password, set by themselves (their old one
    was checked by the form); every earlier token stops working."""
    if actor.kind not in (EMPLOYEE, PLATFORM) or not actor.id.isdigit():
        raise NotPermitted("Only an employee changes their own password here.")
    employee = _locked(Employee.objects, int(actor.id))
    _check_password(password, employee)
    employee.set_password(password)
    employee.save(update_fields=["password", "token_generation"])
    _record(actor, channel, employee, Action.PASSWORD_CHANGED)
    return employee


# --- deleting ---------------------------------------------------------------------------------


@transaction.atomic
def identity_delete(*, actor: Principal, channel: Channel, identity) -> None:
    """Delete an API client, employee or access group (a group's members lose its grants)."""
    if isinstance(identity, Employee):
        stored = _locked_employee(actor, identity.pk, channel)
    else:
        if isinstance(identity, ApiClient):
            stored = _locked(ApiClient.objects, identity.pk, reached_by=actor)
        elif isinstance(identity, AccessGroup):
            stored = _locked(AccessGroup.objects, identity.pk, reached_by=actor)
        else:
            raise TypeError(f"Not an identity: {identity!r}")
        _administers(actor, stored.tenant_id, channel if isinstance(stored, AccessGroup) else None)
        _may_take_over(actor, stored.grants(), stored.tenant_id)
    _not_themselves(actor, stored)
    _record(actor, channel, stored, Action.DELETED)
    stored.delete()
