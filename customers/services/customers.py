"""Creating, changing and deleting customers and their login accounts."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from accounts.principal import Principal
from core.errors import ConflictError, InvalidInput, NotPermitted
from customers.mail import send_password_reset_email
from customers.models import (
    Account,
    Channel,
    Customer,
    CustomerErasure,
    DeletedCustomerNumber,
    generate_customer_number,
)
from customers.services.checks import (
    UNSET,
    audit,
    carry_restriction,
    locked_manageable_customer,
    locked_visible,
    merged,
    require_assignable,
    require_manageable,
    require_valid_restriction,
    require_valid_site,
    with_defaults,
)
from customers.services.migration import active_password_migration
from tenancy.models import Tenant
from tenancy.services import restriction_hold

RESERVED_CUSTOMER_NUMBERS = frozenset({"search", "import"})
# Profile fields a client may set, with the value a replacing upsert returns them to.
PROFILE_DEFAULTS: dict[str, Any] = {
    "title": None,
    "first_name": None,
    "middle_name": None,
    "last_name": None,
    "contact_email": None,
    "contact_phone": None,
    "company": None,
    "preferred_language": "en_US",
    "preferred_currency": "USD",
    "preferred_site": "main",
    "type": "CUSTOMER",
    "photo_url": None,
    "active": True,
    "on_hold": False,
    "b2b_company_registration_id": None,
    "b2b_legal_entities": [],
    "mixins": {},
    "metadata_mixins": {},
}


def _normalise_email(email: str) -> str:
    return email.strip().lower()


def _account_create(
    *,
    actor: Principal,
    customer: Customer,
    email: str,
    password: str | None = None,
    password_hash: str | None = None,
    legacy_auth: dict | None = None,
    send_password_reset: bool = False,
) -> Account:
    email = _normalise_email(email)
    if legacy_auth is not None and active_password_migration(actor.tenant_id) is None:
        raise InvalidInput(
            "Importing legacyAuth needs an active password migration retention window "
            "(/config/password-migration-retention).",
            field="account.legacyAuth",
        )
    if Account.objects.filter(tenant_id=actor.tenant_id, email=email).exists():
        raise ConflictError(
            f"An account with e-mail {email!r} already exists.", field="email", type="conflict"
        )
    hashed = password_hash or (make_password(password) if password else "")
    try:
        with transaction.atomic():
            account = Account.objects.create(
                tenant_id=actor.tenant_id,
                customer=customer,
                email=email,
                password=hashed,
                legacy_auth=legacy_auth,
            )
    except IntegrityError as exc:  # a concurrent request took the e-mail
        raise ConflictError(f"An account with e-mail {email!r} already exists.") from exc
    if send_password_reset and not hashed and legacy_auth is None:
        transaction.on_commit(lambda: send_password_reset_email.enqueue(account.pk))
    return account


@transaction.atomic
def customer_create(
    *,
    actor: Principal,
    fields: dict[str, Any],
    restriction: str | None = UNSET,
    customer_number: str | None = None,
    password: str | None = None,
    account_email: str | None = None,
    account_password_hash: str | None = None,
    account_legacy_auth: dict | None = None,
    send_password_reset: bool = True,
    channel: str = Channel.API,
) -> Customer:
    """Create a customer. A ``contactEmail`` (or ``account_email``) creates an
    account; the caller's manage scope must cover the resulting restriction."""
    tenant = Tenant.objects.get(pk=actor.tenant_id)
    values = with_defaults(PROFILE_DEFAULTS, fields)
    require_valid_site(tenant.pk, values["preferred_site"])
    login_email = account_email or values["contact_email"]
    if password and not login_email:
        raise InvalidInput("A password needs a contactEmail for the account.", field="password")

    default = _default_restriction(actor, tenant, values["preferred_site"])
    if restriction is UNSET:
        restriction = default
    elif restriction != default:
        # Sending a value (null included) other than the default is setting the restriction.
        require_valid_restriction(tenant.pk, restriction)
        require_assignable(actor, restriction)
    require_manageable(actor, restriction, resulting=True)

    if customer_number is None:
        customer_number = _unused_customer_number(tenant)
    elif customer_number in RESERVED_CUSTOMER_NUMBERS:
        raise InvalidInput(f"{customer_number!r} is reserved.", field="id")
    elif _taken(tenant, customer_number):
        # The one documented existence oracle: a taken number is a conflict, whoever holds it
        # (or held it: deleted numbers are not given out again unless the tenant allows it).
        raise ConflictError("The customer number is already taken.", field="id")

    customer = Customer(
        tenant=tenant, customer_number=customer_number, restriction=restriction, **values
    )
    if customer.contact_email:
        customer.contact_email = _normalise_email(customer.contact_email)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError as exc:
        raise ConflictError("The customer number is already taken.") from exc

    if login_email:
        _account_create(
            actor=actor,
            customer=customer,
            email=login_email,
            password=password,
            password_hash=account_password_hash,
            legacy_auth=account_legacy_auth,
            send_password_reset=send_password_reset,
        )
    if restriction is not None:
        audit(actor, channel, [(customer.pk, customer.customer_number, None)], restriction)
    return customer


def _default_restriction(actor: Principal, tenant: Tenant, preferred_site: str) -> str | None:
    """Default on create: the preferred site when synced and valid, else the caller's single
    manage value."""
    if tenant.sync_restrictions_with_sites and restriction_hold(
        tenant_id=tenant.pk, code=preferred_site
    ):
        return preferred_site
    return actor.grants.manageable().single_restriction


def _taken(tenant: Tenant, customer_number: str) -> bool:
    if Customer.objects.filter(tenant=tenant, customer_number=customer_number).exists():
        return True
    if CustomerErasure.objects.filter(tenant=tenant, customer_number=customer_number).exists():
        return True  # (an erased customer's number: taken for good)
    return (
        not tenant.customer_number_reuse
        and (
            DeletedCustomerNumber.objects.filter(tenant=tenant, customer_number=customer_number)
        ).exists()
    )


def _unused_customer_number(tenant: Tenant) -> str:
    while True:  # 32**10 possibilities: a collision is rare, two in a row rarer still
        number = generate_customer_number()
        if not _taken(tenant, number):
            return number


def _remember_deleted(tenant_id: int, numbers: list[str]) -> None:
    DeletedCustomerNumber.objects.bulk_create(
        [DeletedCustomerNumber(tenant_id=tenant_id, customer_number=n) for n in numbers],
        ignore_conflicts=True,  # deleted before, reused since (a tenant that allows it)
    )


@transaction.atomic
def customer_update(
    *,
    actor: Principal,
    customer_number: str,
    fields: dict[str, Any],
    restriction: str | None = UNSET,
    expected_version: int | None = None,
    replace: bool = False,
    channel: str = Channel.API,
) -> Customer:
    """Patch (``replace=False``) or replace (upsert of an existing customer) the profile.

    Fields not sent keep their value on patch and return to defaults on replace; an absent
    ``restriction`` never changes it.
    """
    customer = locked_visible(actor, customer_number)
    require_manageable(actor, customer.restriction, resulting=False)
    if expected_version is not None and expected_version != customer.version:
        raise ConflictError(
            f"Version {expected_version} does not match the stored version {customer.version}.",
            field="metadata.version",
            type="version_mismatch",
        )
    values = with_defaults(PROFILE_DEFAULTS, fields) if replace else merged(customer, fields)
    if customer.contact_email and values.get("contact_email", customer.contact_email) is None:
        if not replace or "contact_email" in fields:
            raise InvalidInput("contactEmail cannot be removed once set.", field="contactEmail")
        values["contact_email"] = customer.contact_email
    if values.get("contact_email"):
        values["contact_email"] = _normalise_email(values["contact_email"])
    if "preferred_site" in values and values["preferred_site"] != customer.preferred_site:
        require_valid_site(actor.tenant_id, values["preferred_site"])
    for name, value in values.items():
        setattr(customer, name, value)

    old = customer.restriction
    if restriction is not UNSET and restriction != old:
        require_valid_restriction(actor.tenant_id, restriction)
        require_assignable(actor, old, restriction)
        customer.restriction = restriction
    customer.version += 1
    customer.save()
    if customer.restriction != old:  # (after the move: the audit row carries the new value)
        carry_restriction(customer.tenant_id, [customer.pk], restriction)
        audit(actor, channel, [(customer.pk, customer.customer_number, old)], restriction)
    return customer


@transaction.atomic
def customer_upsert(
    *,
    actor: Principal,
    customer_number: str,
    fields: dict[str, Any],
    restriction: str | None = UNSET,
    expected_version: int | None = None,
    password: str | None = None,
    send_password_reset: bool = True,
) -> tuple[Customer, bool]:
    """Replace the profile of the visible customer ``customer_number``, or create it when
    there is none the actor can see (a number taken by an invisible customer is a conflict,
    as for any create). Returns the customer and whether it was created."""
    if Customer.objects.visible_to(actor).filter(customer_number=customer_number).exists():
        customer = customer_update(
            actor=actor,
            customer_number=customer_number,
            fields=fields,
            restriction=restriction,
            expected_version=expected_version,
            replace=True,
        )
        return customer, False
    customer = customer_create(
        actor=actor,
        fields=fields,
        restriction=restriction,
        customer_number=customer_number,
        password=password,
        send_password_reset=send_password_reset,
    )
    return customer, True


@transaction.atomic
def customer_delete(*, actor: Principal, customer_number: str) -> None:
    customer = locked_manageable_customer(actor, customer_number)
    if customer.legal_hold:
        raise ConflictError(
            f"{customer_number} is under a legal hold ({customer.legal_hold}): it cannot be "
            "deleted until the hold is lifted."
        )
    _remember_deleted(customer.tenant_id, [customer.customer_number])
    customer.delete()


def customer_delete_check(*, actor: Principal, customers: QuerySet[Customer]) -> QuerySet:
    """The visible part of a selection, refused whole when any of it is not manageable."""
    selection = customers.visible_to(actor)
    if actor.grants.manageable().everything:
        return selection
    blocked = selection.count() - selection.manageable_by(actor).count()
    if blocked:
        raise NotPermitted(
            f"{blocked} selected customer{'s are' if blocked != 1 else ' is'} outside your "
            "manage scope; nothing was deleted."
        )
    held = selection.exclude(legal_hold="").count()
    if held:
        raise ConflictError(
            f"{held:,} selected customer{'s are' if held != 1 else ' is'} under a legal hold; "
            "nothing was deleted."
        )
    return selection


@transaction.atomic
def customer_delete_many(*, actor: Principal, customers: QuerySet[Customer]) -> int:
    """Delete a selection with its addresses and accounts: all of it, or nothing. Returns the
    number of customers deleted."""
    deleted: dict[int, list[str]] = {}
    selection = customer_delete_check(actor=actor, customers=customers)
    for tenant_id, number in selection.values_list("tenant_id", "customer_number"):
        deleted.setdefault(tenant_id, []).append(number)
    for tenant_id, numbers in deleted.items():
        _remember_deleted(tenant_id, numbers)
    _, per_model = selection.delete()
    return per_model.get(Customer._meta.label, 0)


@transaction.atomic
def account_assign(*, actor: Principal, customer_number: str, email: str) -> Account:
    customer = locked_manageable_customer(actor, customer_number)
    return _account_create(actor=actor, customer=customer, email=email)
