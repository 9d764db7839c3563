"""The one write path for customers.

API views, the admin, the import endpoint and the management commands call these functions;
nothing else writes a customer or its restriction. Each one is atomic, checks the principal's
grants through the querysets of :mod:`customers.querysets`, and writes the RestrictionChange audit
rows itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.principal import Principal
from config.errors import ConflictError, DoesNotExist, InvalidInput, NotPermitted
from customers.mail import send_password_reset_email
from customers.models import (
    Account,
    Address,
    Channel,
    Customer,
    RestrictionChange,
    generate_address_id,
    generate_customer_number,
)
from tenancy.models import Site, Tenant
from tenancy.services import restriction_hold


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "not in the request", as opposed to an explicit null

RESERVED_CUSTOMER_NUMBERS = frozenset({"search", "import"})
MAX_TAGS = 50  # per address; the same limits as the address body
MAX_TAG_LENGTH = 64

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
    "mixins": {},
    "metadata_mixins": {},
}

NOT_FOUND_MESSAGE = "Customer not found."


# -- checks shared by every write ---------------------------------------------------------------


def _require_valid_restriction(tenant_id: int, value: str | None) -> None:
    """Valid restrictions: null or one of the tenant's valid restrictions."""
    if value is not None and not restriction_hold(tenant_id=tenant_id, code=value):
        raise InvalidInput(
            f"Restriction {value!r} is not one of the tenant's valid restrictions.",
            field="restriction",
            type="invalid_value",
        )


def _require_valid_site(tenant_id: int, site: str) -> None:
    if not Site.objects.filter(tenant_id=tenant_id, code=site).exists():
        raise InvalidInput(
            f"Site {site!r} is not a site of this tenant.",
            field="preferredSite",
            type="invalid_value",
        )


def _require_manageable(actor: Principal, restriction: str | None, *, resulting: bool) -> None:
    """Manage coverage: a manage scope covering the current (or resulting) restriction."""
    if not actor.grants.manageable().covers(restriction):
        what = "the resulting" if resulting else "this customer's"
        raise NotPermitted(f"Your manage scope does not cover {what} restriction.")


def _require_assignable(actor: Principal, *values: str | None) -> None:
    """restriction.restriction_manage covering the old and the new value (on create: the
    new value only)."""
    assignable = actor.grants.assignable()
    if not all(assignable.covers(value) for value in values):
        covered = " and ".join(repr(value) for value in values)
        raise NotPermitted(
            f"Setting the restriction requires restriction.restriction_manage covering {covered}."
        )


def _audit(
    actor: Principal, channel: str, changes: Iterable[tuple[int, str, str | None]], new: str | None
) -> None:
    RestrictionChange.objects.bulk_create(
        RestrictionChange(
            tenant_id=actor.tenant_id,
            customer_id=customer_id,
            customer_number=number,
            old_value=old,
            new_value=new,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            channel=channel,
        )
        for customer_id, number, old in changes
    )


def _locked_visible(actor: Principal, customer_number: str) -> Customer:
    customer = (
        Customer.objects.visible_to(actor)
        .select_for_update()
        .filter(customer_number=customer_number)
        .first()
    )
    if customer is None:
        raise DoesNotExist(NOT_FOUND_MESSAGE)  # same answer: invisible or absent
    return customer


def _locked_manageable_customer(actor: Principal, customer_number: str) -> Customer:
    customer = _locked_visible(actor, customer_number)
    _require_manageable(actor, customer.restriction, resulting=False)
    return customer


def _normalise_email(email: str) -> str:
    return email.strip().lower()


def _account_create(
    *,
    actor: Principal,
    customer: Customer,
    email: str,
    password: str | None = None,
    password_hash: str | None = None,
    send_password_reset: bool = False,
) -> Account:
    email = _normalise_email(email)
    if Account.objects.filter(tenant_id=actor.tenant_id, email=email).exists():
        raise ConflictError(
            f"An account with e-mail {email!r} already exists.", field="email", type="conflict"
        )
    hashed = password_hash or (make_password(password) if password else "")
    try:
        with transaction.atomic():
            account = Account.objects.create(
                tenant_id=actor.tenant_id, customer=customer, email=email, password=hashed
            )
    except IntegrityError as exc:  # a concurrent request took the e-mail
        raise ConflictError(f"An account with e-mail {email!r} already exists.") from exc
    if send_password_reset and not hashed:
        transaction.on_commit(lambda: send_password_reset_email.enqueue(account.pk))
    return account


# -- customers ----------------------------------------------------------------------------------


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
    send_password_reset: bool = True,
    channel: str = Channel.API,
) -> Customer:
    """Create a customer. A ``contactEmail`` (or ``account_email``) creates an
    account; the caller's manage scope must cover the resulting restriction."""
    tenant = Tenant.objects.get(pk=actor.tenant_id)
    values = {**PROFILE_DEFAULTS, **fields}
    _require_valid_site(tenant.pk, values["preferred_site"])
    login_email = account_email or values["contact_email"]
    if password and not login_email:
        raise InvalidInput("A password needs a contactEmail for the account.", field="password")

    default = _default_restriction(actor, tenant, values["preferred_site"])
    if restriction is UNSET:
        restriction = default
    elif restriction != default:
        # Sending a value (null included) other than the default is setting the restriction.
        _require_valid_restriction(tenant.pk, restriction)
        _require_assignable(actor, restriction)
    _require_manageable(actor, restriction, resulting=True)

    if customer_number is None:
        customer_number = _unused_customer_number(tenant.pk)
    elif customer_number in RESERVED_CUSTOMER_NUMBERS:
        raise InvalidInput(f"{customer_number!r} is reserved.", field="id")
    elif Customer.objects.filter(tenant=tenant, customer_number=customer_number).exists():
        # The one documented existence oracle: a taken number is a conflict, whoever holds it.
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
            send_password_reset=send_password_reset,
        )
    if restriction is not None:
        _audit(actor, channel, [(customer.pk, customer.customer_number, None)], restriction)
    return customer


def _default_restriction(actor: Principal, tenant: Tenant, preferred_site: str) -> str | None:
    """Default on create: the preferred site when synced and valid, else the caller's single
    manage value."""
    if tenant.sync_restrictions_with_sites and restriction_hold(
        tenant_id=tenant.pk, code=preferred_site
    ):
        return preferred_site
    return actor.grants.manageable().single_restriction


def _unused_customer_number(tenant_id: int) -> str:
    while True:  # 32**10 possibilities: a collision is rare, two in a row rarer still
        number = generate_customer_number()
        if not Customer.objects.filter(tenant_id=tenant_id, customer_number=number).exists():
            return number


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
    customer = _locked_visible(actor, customer_number)
    _require_manageable(actor, customer.restriction, resulting=False)
    if expected_version is not None and expected_version != customer.version:
        raise ConflictError(
            f"Version {expected_version} does not match the stored version {customer.version}.",
            field="metadata.version",
            type="version_mismatch",
        )
    values = {**PROFILE_DEFAULTS, **fields} if replace else dict(fields)
    if customer.contact_email and values.get("contact_email", customer.contact_email) is None:
        if not replace or "contact_email" in fields:
            raise InvalidInput("contactEmail cannot be removed once set.", field="contactEmail")
        values["contact_email"] = customer.contact_email
    if values.get("contact_email"):
        values["contact_email"] = _normalise_email(values["contact_email"])
    if "preferred_site" in values and values["preferred_site"] != customer.preferred_site:
        _require_valid_site(actor.tenant_id, values["preferred_site"])
    for name, value in values.items():
        setattr(customer, name, value)

    old = customer.restriction
    if restriction is not UNSET and restriction != old:
        _require_valid_restriction(actor.tenant_id, restriction)
        _require_assignable(actor, old, restriction)
        _require_manageable(actor, restriction, resulting=True)
        customer.restriction = restriction
        _audit(actor, channel, [(customer.pk, customer.customer_number, old)], restriction)
    customer.version += 1
    customer.save()
    return customer


@transaction.atomic
def customer_delete(*, actor: Principal, customer_number: str) -> None:
    _locked_manageable_customer(actor, customer_number).delete()


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
    return selection


@transaction.atomic
def customer_delete_many(*, actor: Principal, customers: QuerySet[Customer]) -> int:
    """Delete a selection with its addresses and accounts: all of it, or nothing. Returns the
    number of customers deleted."""
    selection = customer_delete_check(actor=actor, customers=customers)
    _, per_model = selection.delete()
    return per_model.get(Customer._meta.label, 0)


@transaction.atomic
def account_assign(*, actor: Principal, customer_number: str, email: str) -> Account:
    customer = _locked_manageable_customer(actor, customer_number)
    return _account_create(actor=actor, customer=customer, email=email)


# -- bulk restriction assignment ----------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentResult:
    matched: int
    changed: int
    batches: int

    @property
    def unchanged(self) -> int:
        return self.matched - self.changed


def restriction_assign_check(
    *, actor: Principal, customers: QuerySet[Customer], value: str | None
) -> QuerySet[Customer]:
    """Every refusal :func:`restriction_assign` can give, before it changes anything: validity
    and restriction_manage for ``value`` and for every selected customer. Returns the selection
    to move.
    Callers that assign several values (one per selection) check them all first."""
    _require_valid_restriction(actor.tenant_id, value)
    grants = actor.grants
    if not grants.assignable().covers(value) or not grants.manageable().covers(value):
        raise NotPermitted(f"You may not assign the restriction {value!r}.")
    selection = customers.filter(tenant_id=actor.tenant_id)
    if grants.assignable().everything and grants.manageable().everything:
        return selection
    movable = selection.assignable_by(actor)
    blocked = selection.count() - movable.count()
    if blocked:
        raise NotPermitted(
            f"{blocked} selected customer(s) carry a restriction you may not change."
        )
    return movable


BatchStep = Callable[[int], tuple[int, int, int | None]]
BatchHook = Callable[[int, int, int], None]


def run_in_batches(
    step: BatchStep,
    *,
    after_pk: int = 0,
    in_batch: BatchHook | None = None,
    on_batch: BatchHook | None = None,
) -> AssignmentResult:
    """Run ``step(last_pk) -> (matched, changed, new_last_pk)`` in one transaction per batch
    until it matches nothing. ``in_batch(matched, changed, last_pk)`` runs inside each batch's
    transaction (progress that must commit with the batch), ``on_batch`` after its commit."""
    matched = changed = batches = 0
    last_pk = after_pk
    while True:
        with transaction.atomic():
            batch_matched, batch_changed, batch_last = step(last_pk)
            if batch_matched and in_batch is not None:
                in_batch(batch_matched, batch_changed, batch_last)
        if not batch_matched:
            break
        last_pk = batch_last
        matched += batch_matched
        changed += batch_changed
        batches += 1
        if on_batch is not None:
            on_batch(batch_matched, batch_changed, batch_last)
    return AssignmentResult(matched, changed, batches)


def restriction_assign(
    *,
    actor: Principal,
    customers: QuerySet[Customer],
    value: str | None,
    channel: str,
    batch_size: int = 2000,
    dry_run: bool = False,
    after_pk: int = 0,
    in_batch: BatchHook | None = None,
    on_batch: BatchHook | None = None,
) -> AssignmentResult:
    """Set ``value`` on every customer of ``customers`` (checked and audited), in keyset batches.

    Each batch is one transaction: the rows are locked, one set-based ``UPDATE`` changes those
    not already carrying ``value``, and one bulk insert writes their audit rows. An interrupted
    run leaves whole batches; running again (or from ``after_pk``, the last batch's position)
    finishes the job: already-set rows are counted as unchanged.
    """
    if batch_size < 1:
        raise InvalidInput("The batch size must be at least 1.", field="batch_size")
    selection = restriction_assign_check(actor=actor, customers=customers, value=value)
    ordered = selection.order_by("pk")
    assign_batch = _assign_batch_in_one_statement if _one_statement_batches() else _assign_batch

    def step(last_pk: int) -> tuple[int, int, int | None]:
        # Re-held in every batch: the value cannot leave the tenant's list mid-run.
        _require_valid_restriction(actor.tenant_id, value)
        batch = ordered.filter(pk__gt=last_pk)
        if dry_run:
            return _count_batch(batch, value, batch_size)
        return assign_batch(batch.select_for_update(), value, batch_size, actor, channel)

    return run_in_batches(step, after_pk=after_pk, in_batch=in_batch, on_batch=on_batch)


def _one_statement_batches() -> bool:
    return connection.vendor == "postgresql"


def _count_batch(batch: QuerySet, value, batch_size: int) -> tuple[int, int, int | None]:
    rows = list(batch.values_list("pk", "restriction")[:batch_size])
    if not rows:
        return 0, 0, None
    return len(rows), sum(1 for _, old in rows if old != value), rows[-1][0]


def _assign_batch(
    batch: QuerySet, value, batch_size: int, actor: Principal, channel: str
) -> tuple[int, int, int | None]:
    """Portable: lock and read the batch, one UPDATE of the rows that change, one audit insert."""
    rows = list(batch.values_list("pk", "customer_number", "restriction")[:batch_size])
    if not rows:
        return 0, 0, None
    changing = [row for row in rows if row[2] != value]
    if changing:
        Customer.objects.filter(pk__in=[row[0] for row in changing]).update(
            restriction=value, version=F("version") + 1, modified_at=timezone.now()
        )
        _audit(actor, channel, changing, value)
    return len(rows), len(changing), rows[-1][0]


def _assign_batch_in_one_statement(
    batch: QuerySet, value, batch_size: int, actor: Principal, channel: str
) -> tuple[int, int, int | None]:
    """PostgreSQL: the same three steps as :func:`_assign_batch` in one statement (data-modifying
    CTEs), so no row travels to Python. The batch query itself is the ORM's, scoping included."""
    select_sql, select_params = batch.values_list("pk", "customer_number", "restriction")[
        :batch_size
    ].query.sql_with_params()
    customers = Customer._meta.db_table
    audit = RestrictionChange._meta.db_table
    sql = f"""
        WITH batch (id, customer_number, restriction) AS ({select_sql}),
        changed AS (
            UPDATE {customers} AS c
               SET restriction = %s, version = c.version + 1, modified_at = %s
              FROM batch
             WHERE c.id = batch.id AND batch.restriction IS DISTINCT FROM %s
         RETURNING c.id, batch.customer_number, batch.restriction AS old_value
        ),
        audited AS (
            INSERT INTO {audit} (tenant_id, customer_id, customer_number, old_value, new_value,
                                 actor_kind, actor_id, actor_name, channel, changed_at)
            SELECT %s, id, customer_number, old_value, %s, %s, %s, %s, %s, %s FROM changed
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM audited),
               (SELECT max(id) FROM batch)
    """  # noqa: S608 - table names come from the models; every value is a parameter
    now = timezone.now()
    params = (
        *select_params,
        value,
        now,
        value,
        actor.tenant_id,
        value,
        actor.kind,
        actor.id,
        actor.name,
        channel,
        now,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        matched, changed, last_pk = cursor.fetchone()
    return matched, changed, last_pk


# -- addresses ----------------------------------------------------------------------------------

ADDRESS_DEFAULTS: dict[str, Any] = {
    "company_name": None,
    "street": None,
    "street_number": None,
    "street_appendix": None,
    "extra_line1": None,
    "extra_line2": None,
    "extra_line3": None,
    "extra_line4": None,
    "zip_code": None,
    "city": None,
    "state": None,
    "contact_phone": None,
    "tags": [],
    "is_default": False,
}


def _make_sole_default(customer: Customer, address: Address) -> None:
    if address.is_default:
        customer.addresses.exclude(pk=address.pk).filter(is_default=True).update(is_default=False)


@transaction.atomic
def address_create(
    *, actor: Principal, customer_number: str, fields: dict[str, Any], address_id: str | None = None
) -> Address:
    customer = _locked_manageable_customer(actor, customer_number)
    values = {**ADDRESS_DEFAULTS, **fields}
    if not customer.addresses.exists():
        values["is_default"] = True  # a customer's first address is its default
    if values["is_default"]:
        customer.addresses.filter(is_default=True).update(is_default=False)
    return Address.objects.create(
        tenant_id=actor.tenant_id,
        customer=customer,
        address_id=address_id or generate_address_id(),
        **values,
    )


@transaction.atomic
def address_update(
    *,
    actor: Principal,
    customer_number: str,
    address_id: str,
    fields: dict[str, Any],
    replace: bool,
) -> Address:
    customer = _locked_manageable_customer(actor, customer_number)
    address = customer.addresses.filter(address_id=address_id).first()
    if address is None:
        raise DoesNotExist("Address not found.")
    values = {**ADDRESS_DEFAULTS, **fields} if replace else fields
    for name, value in values.items():
        setattr(address, name, value)
    _make_sole_default(customer, address)
    address.save()
    return address


@transaction.atomic
def address_delete(*, actor: Principal, customer_number: str, address_id: str) -> None:
    customer = _locked_manageable_customer(actor, customer_number)
    deleted, _ = customer.addresses.filter(address_id=address_id).delete()
    if not deleted:
        raise DoesNotExist("Address not found.")


@transaction.atomic
def address_tags_change(
    *, actor: Principal, customer_number: str, address_id: str, tags: list[str], add: bool
) -> Address:
    customer = _locked_manageable_customer(actor, customer_number)
    address = customer.addresses.filter(address_id=address_id).first()
    if address is None:
        raise DoesNotExist("Address not found.")
    current = list(address.tags)
    if add:
        if any(len(tag) > MAX_TAG_LENGTH or "\x00" in tag for tag in tags):
            raise InvalidInput(
                f"A tag is at most {MAX_TAG_LENGTH} characters, without NUL.", field="tags"
            )
        address.tags = current + [tag for tag in dict.fromkeys(tags) if tag not in current]
        if len(address.tags) > MAX_TAGS:
            raise InvalidInput(f"An address has at most {MAX_TAGS} tags.", field="tags")
    else:
        address.tags = [tag for tag in current if tag not in tags]
    address.save(update_fields=["tags", "modified_at"])
    return address
