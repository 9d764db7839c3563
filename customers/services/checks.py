"""Checks every customer write shares: valid values, the principal's rights, row locks, the
audit trail. The rights are read from the principal's ``Grants``, the same coverage the
querysets of :mod:`customers.querysets` filter by."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection

from accounts.principal import Principal
from core.errors import InvalidInput, NotPermitted, first_or_not_found
from core.mergepatch import merge_patch
from customers.models import Account, Address, Customer, RestrictionChange, restriction_key
from tenancy.models import Site
from tenancy.services import restriction_hold


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "not in the request", as opposed to an explicit null

NOT_FOUND_MESSAGE = "Customer not found."

# JSON objects a partial update merges into (RFC 7396) instead of replacing.
MERGED_FIELDS = frozenset({"mixins", "metadata_mixins"})


def merged(instance, fields: dict[str, Any]) -> dict[str, Any]:
    """A partial update's ``fields`` with the JSON objects merged into the stored ones (a null
    one removes every member)."""
    result = dict(fields)
    for name in MERGED_FIELDS & fields.keys():
        patch = fields[name]
        result[name] = {} if patch is None else merge_patch(getattr(instance, name), patch)
    return result


def with_defaults(defaults: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` over ``defaults`` for a create or a replace (a null JSON object is empty)."""
    return {
        **defaults,
        **{
            name: {} if value is None and name in MERGED_FIELDS else value
            for name, value in fields.items()
        },
    }


def require_valid_restriction(tenant_id: int, value: str | None) -> None:
    """Valid restrictions: null or one of the tenant's valid restrictions."""
    if value is not None and not restriction_hold(tenant_id=tenant_id, code=value):
        raise InvalidInput(
            f"Restriction {value!r} is not one of the tenant's valid restrictions.",
            field="restriction",
            type="invalid_value",
        )


def require_valid_site(tenant_id: int, site: str) -> None:
    if not Site.objects.filter(tenant_id=tenant_id, code=site).exists():
        raise InvalidInput(
            f"Site {site!r} is not a site of this tenant.",
            field="preferredSite",
            type="invalid_value",
        )


def require_manageable(actor: Principal, restriction: str | None, *, resulting: bool) -> None:
    """Manage coverage: a manage scope covering the current (or resulting) restriction."""
    if not actor.grants.may_manage(restriction):
        what = "the resulting" if resulting else "this customer's"
        raise NotPermitted(f"Your manage scope does not cover {what} restriction.")


def require_assignable(actor: Principal, *values: str | None) -> None:
    """Changing a restriction: manage and restriction_manage covering the old and the new value
    (on create: the new value only)."""
    if not all(actor.grants.may_assign(value) for value in values):
        covered = " and ".join(repr(value) for value in values)
        raise NotPermitted(
            "Setting the restriction requires customer.customer_manage and "
            f"restriction.restriction_manage covering {covered}."
        )


# The rows that carry their customer's restriction (``OfCustomer``).
CARRIERS = (Address, Account, RestrictionChange)


def carry_restriction(tenant_id: int, customer_ids: list[int], value: str | None) -> None:
    """The moved customers' addresses, accounts and history carry ``value`` now: one statement
    on PostgreSQL (its foreign keys check at commit that nothing was left behind)."""
    key = restriction_key(value)
    if connection.vendor != "postgresql":
        for model in CARRIERS:
            model.objects.filter(tenant_id=tenant_id, customer_id__in=customer_ids).exclude(
                customer_restriction=key
            ).update(customer_restriction=key)
        return
    tables = [model._meta.db_table for model in CARRIERS]
    moves = [
        f"UPDATE {table} SET customer_restriction = %s WHERE tenant_id = %s "  # noqa: S608
        "AND customer_id = ANY(%s) AND customer_restriction IS DISTINCT FROM %s"
        for table in tables
    ]
    *first, last = moves
    sql = "WITH " + ", ".join(f"m{i} AS ({move} RETURNING 1)" for i, move in enumerate(first))
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} {last}", [key, tenant_id, list(customer_ids), key] * len(moves))


def audit(
    actor: Principal, channel: str, changes: Iterable[tuple[int, str, str | None]], new: str | None
) -> None:
    RestrictionChange.objects.bulk_create(
        RestrictionChange(
            tenant_id=actor.tenant_id,
            customer_id=customer_id,
            customer_number=number,
            old_value=old,
            new_value=new,
            customer_restriction=restriction_key(new),  # (the customer carries it now)
            channel=channel,
            **actor.audit_fields(),
        )
        for customer_id, number, old in changes
    )


def locked_visible(actor: Principal, customer_number: str) -> Customer:
    visible = Customer.objects.visible_to(actor).select_for_update()
    # The same answer whether invisible or absent.
    return first_or_not_found(visible.filter(customer_number=customer_number), NOT_FOUND_MESSAGE)


def locked_manageable_customer(actor: Principal, customer_number: str) -> Customer:
    customer = locked_visible(actor, customer_number)
    require_manageable(actor, customer.restriction, resulting=False)
    return customer
