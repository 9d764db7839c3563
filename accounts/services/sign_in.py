"""Staff sign-in through the tenant's identity provider (OpenID Connect): its configuration, the
mapping of the provider's groups onto access groups, and what a sign-in changes.

The rules of every identity change hold here too (``accounts.services.identities``):

- configuring the provider is administering the tenant, and whoever controls the provider can
  sign in as any employee of the tenant, so setting or changing it (issuer, client, claims)
  needs the actor to hold for good everything any active employee of the tenant holds;
- a mapping hands an access group to whoever the provider names, so mapping a group (or
  changing a mapping) needs the actor to hold that group's grants for good;
- at sign-in, the employee's memberships of the mapped access groups are set from the
  provider's groups by the tenant's operator on the channel ``sso`` (recorded like every
  membership change); access groups no mapping names are left as administrators set them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from accounts import rowsecurity
from accounts.models import (
    AccessChange,
    AccessGroup,
    Employee,
    ProviderGroup,
    SignInProvider,
    TemporaryGrant,
    grants_of_groups,
    temporary_grants,
)
from accounts.principal import Principal
from accounts.services import identities
from core.channels import Channel
from core.errors import ConflictError, DoesNotExist, InvalidInput, NotPermitted, full_clean
from tenancy.models import Tenant

Action = AccessChange.Action

# What decides who may sign in as whom: changing any of it is a take-over of every employee.
TRUST_FIELDS = ("issuer", "client_id", "client_secret", "username_claim", "groups_claim")
PROVIDER_FIELDS = frozenset({*TRUST_FIELDS, "name", "required", "create_employees"})
SECRET_SHOWN_AS = "(changed)"  # noqa: S105 - what the log shows instead of a secret


def _everyone(tenant: Tenant, actor: Principal) -> Any:
    """What all active employees of the tenant hold now (the provider may sign in as any)."""
    people = Employee.objects.in_tenant_of(actor).filter(tenant=tenant, is_active=True)
    groups = (
        AccessGroup.objects.in_tenant_of(actor)
        .filter(tenant=tenant, employees__in=people)
        .distinct()
    )
    temporary = TemporaryGrant.objects.in_tenant_of(actor).current().filter(employee__in=people)
    return grants_of_groups(groups) | temporary_grants(temporary)


def _shown(fields: Mapping[str, Any]) -> dict:
    """A provider's settings as the access-change log keeps them (never the secret)."""
    return {
        name: (SECRET_SHOWN_AS if name == "client_secret" else value)
        for name, value in fields.items()
    }


@transaction.atomic
def provider_save(
    *, actor: Principal, channel: Channel, tenant: Tenant, fields: dict
) -> SignInProvider:
    """Set up or change the tenant's sign-in provider. ``client_secret`` empty or missing on a
    change: keep the stored one."""
    identities.administers(actor, tenant.pk)
    unknown = set(fields) - PROVIDER_FIELDS
    if unknown:
        raise InvalidInput(f"Not settable here: {', '.join(sorted(unknown))}.")
    stored = (
        SignInProvider.objects.in_tenant_of(actor).select_for_update().filter(tenant=tenant).first()
    )
    fields = dict(fields)
    if stored is not None and not fields.get("client_secret"):
        fields.pop("client_secret", None)
    provider = stored or SignInProvider(tenant=tenant)
    before = {} if stored is None else {name: getattr(stored, name) for name in fields}
    after = {name: value for name, value in fields.items() if before.get(name) != value}
    if stored is not None and not after:
        return stored
    if stored is None or after.keys() & set(TRUST_FIELDS):
        try:
            identities.may_take_over(actor, _everyone(tenant, actor), tenant.pk)
        except NotPermitted as exc:
            raise NotPermitted(
                "Whoever controls the sign-in provider can sign in as any employee of the "
                "tenant, and some hold access beyond your own: another administrator who holds "
                "it sets the provider up."
            ) from exc
    for name, value in after.items():
        setattr(provider, name, value)
    full_clean(provider, validate_unique=False)
    provider.save()
    identities.record_access_change(
        actor,
        channel,
        tenant,
        Action.CHANGED,
        before={f"sign-in {k}": v for k, v in _shown({k: before.get(k) for k in after}).items()},
        after={f"sign-in {k}": v for k, v in _shown(after).items()},
    )
    return provider


@transaction.atomic
def provider_delete(*, actor: Principal, channel: Channel, tenant: Tenant) -> None:
    """Switch sign-in through the provider off (password sign-in works again for those who
    have a password)."""
    identities.administers(actor, tenant.pk)
    stored = (
        SignInProvider.objects.in_tenant_of(actor).select_for_update().filter(tenant=tenant).first()
    )
    if stored is None:
        raise DoesNotExist("This tenant has no sign-in provider.")
    identities.record_access_change(
        actor, channel, tenant, Action.CHANGED, before={"sign-in provider": stored.name}
    )
    stored.delete()


@transaction.atomic
def provider_group_save(
    *,
    actor: Principal,
    channel: Channel,
    tenant: Tenant,
    mapping_pk: int | None,
    name: str,
    access_group: AccessGroup,
) -> ProviderGroup:
    """Map the provider's group ``name`` onto ``access_group`` (or change a mapping): whoever the
    provider puts in that group becomes a member at their next sign-in."""
    identities.administers(actor, tenant.pk)
    if access_group.tenant_id != tenant.pk:
        raise InvalidInput("Access groups belong to the tenant.", field="access_group")
    if mapping_pk is None:
        mapping = ProviderGroup(tenant=tenant)
    else:
        mapping = (
            ProviderGroup.objects.in_tenant_of(actor)
            .select_for_update()
            .select_related("access_group")
            .filter(pk=mapping_pk, tenant=tenant)
            .first()
        )
        if mapping is None:
            raise DoesNotExist("This mapping no longer exists.")
        identities.may_take_over(actor, mapping.access_group.grants(), tenant.pk)
        if (mapping.name, mapping.access_group_id) == (name, access_group.pk):
            return mapping  # (nothing changes, nothing is recorded)
        identities.record_access_change(
            actor,
            channel,
            mapping.access_group,
            Action.CHANGED,
            before={"provider group": mapping.name},
        )
    identities.may_grant(actor, access_group.grants(), tenant.pk)
    mapping.name, mapping.access_group = name, access_group
    full_clean(mapping)
    mapping.save()
    identities.record_access_change(
        actor, channel, access_group, Action.CHANGED, after={"provider group": name}
    )
    return mapping


@transaction.atomic
def provider_group_delete(*, actor: Principal, channel: Channel, mapping: ProviderGroup) -> None:
    identities.administers(actor, mapping.tenant_id)
    stored = (
        ProviderGroup.objects.in_tenant_of(actor)
        .select_for_update()
        .select_related("access_group")
        .filter(pk=mapping.pk)
        .first()
    )
    if stored is None:
        raise DoesNotExist("This mapping no longer exists.")
    identities.may_take_over(actor, stored.access_group.grants(), stored.tenant_id)
    identities.record_access_change(
        actor, channel, stored.access_group, Action.CHANGED, before={"provider group": stored.name}
    )
    stored.delete()


# --- a sign-in --------------------------------------------------------------------------------


class SignInRefused(Exception):
    """The provider vouched for someone who may not sign in here; the message says why."""


def _claim_text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    return value if isinstance(value, str) else ""


def provider_groups(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The provider's groups of the person: a list of names, or none when the claim is absent;
    anything else refuses the sign-in."""
    groups = claims.get(claim, [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise SignInRefused(
            f"The provider's {claim} claim is not a list of group names; nothing was changed."
        )
    return groups


@transaction.atomic
def signed_in(*, provider: SignInProvider, claims: Mapping[str, Any]) -> Employee:
    """The employee the provider's verified ID token ``claims`` name, their memberships of the
    mapped access groups set from the provider's groups; a new employee when the tenant allows
    it. All or nothing."""
    tenant = provider.tenant
    operator = Principal.operator(tenant, name=f"identity provider {provider.name}")
    username = _claim_text(claims, provider.username_claim)
    if not username:
        raise SignInRefused(
            f"The provider's ID token has no {provider.username_claim} claim to sign in with."
        )
    groups = set(provider_groups(claims, provider.groups_claim))
    profile = {
        "email": _claim_text(claims, "email"),
        "first_name": _claim_text(claims, "given_name")[:150],
        "last_name": _claim_text(claims, "family_name")[:150],
    }
    profile = {name: value for name, value in profile.items() if value}
    employee = (
        Employee.objects.in_tenant_of(operator).filter(tenant=tenant, username=username).first()
    )
    if employee is None:
        if not provider.create_employees:
            raise SignInRefused(
                f"{username} is not an employee of {tenant.name} here; ask a tenant "
                "administrator to add you."
            )
        try:
            employee = identities.employee_create(
                actor=operator,
                channel=Channel.SSO,
                tenant=tenant,
                username=username,
                password=None,
                is_staff=True,
                email=profile.pop("email", ""),
                profile=profile,
            )
        except ConflictError as exc:
            # (the same person signing in twice at once: the other sign-in created them)
            employee = (
                Employee.objects.in_tenant_of(operator)
                .filter(tenant=tenant, username=username)
                .first()
            )
            if employee is None:
                raise SignInRefused(f"{username} cannot be added here: {exc.message}") from exc
        except InvalidInput as exc:
            raise SignInRefused(f"{username} cannot be added here: {exc.message}") from exc
        else:
            profile = {}
    elif not employee.is_active:
        raise SignInRefused(f"{username} is deactivated here; ask a tenant administrator.")
    elif employee.is_superuser:
        raise SignInRefused("A superuser signs in with their password.")
    mappings = ProviderGroup.objects.in_tenant_of(operator).filter(tenant=tenant)
    managed, wanted = set(), set()
    for group_name, access_group_id in mappings.values_list("name", "access_group_id"):
        managed.add(access_group_id)
        if group_name in groups:
            wanted.add(access_group_id)
    current = set(employee.access_groups.values_list("pk", flat=True))
    memberships = (current - managed) | wanted
    access_groups = None
    if memberships != current:
        access_groups = list(
            AccessGroup.objects.in_tenant_of(operator).filter(tenant=tenant, pk__in=memberships)
        )
    try:
        return identities.employee_update(
            actor=operator,
            channel=Channel.SSO,
            employee_pk=employee.pk,
            fields=profile,
            access_groups=access_groups,
        )
    except InvalidInput as exc:
        raise SignInRefused(
            f"The provider's profile of {username} was refused: {exc.message}"
        ) from exc


def password_refusal(employee: Employee) -> str | None:
    """Why ``employee`` may not sign in with a password (their tenant signs in through its
    provider only), or None."""
    if employee.tenant_id is None or employee.is_superuser:
        return None
    operator = Principal.operator(employee.tenant)
    # (a password sign-in has no principal yet: the tenant's provider is read bound to it)
    with rowsecurity.row_context(
        rowsecurity.RowContext.of(operator),
        reason=f"password sign-in of an employee of {employee.tenant.code}",
    ):
        provider = (
            SignInProvider.objects.in_tenant_of(operator)
            .filter(tenant_id=employee.tenant_id, required=True)
            .only("name")
            .first()
        )
    if provider is None:
        return None
    return (
        f"Employees of this tenant sign in through {provider.name}: use “Sign in with "
        f"{provider.name}” at /sso/{employee.tenant.code}/."
    )
