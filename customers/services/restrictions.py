"""Removing a value from a tenant's valid restrictions: refused while customers carry it.

It lives with the customers (not in ``tenancy``) because the answer depends on them."""

from __future__ import annotations

from django.db import transaction

from accounts import rowsecurity
from core.errors import ConflictError
from customers.models import Customer
from tenancy.models import Restriction, Tenant


def restriction_in_use_count(*, tenant_id: int, code: str) -> int:
    """Every customer of the tenant counts, visible to the caller or not: an explicit
    whole-tenant context for the row-level security policies (logged)."""
    context = rowsecurity.RowContext.whole_tenant(tenant_id)
    with rowsecurity.row_context(context, reason=f"counting customers with restriction {code}"):
        return Customer.objects.filter(tenant_id=tenant_id, restriction=code).count()


def ensure_restriction_unused(*, tenant_id: int, code: str) -> None:
    """Valid restrictions: a value still carried by customers cannot leave the tenant's list."""
    count = restriction_in_use_count(tenant_id=tenant_id, code=code)
    if count:
        raise ConflictError(
            f"Restriction {code!r} is still carried by {count} customer(s); reassign them "
            "before removing it."
        )


@transaction.atomic
def restriction_remove(*, tenant: Tenant, code: str) -> None:
    """Remove a value from the tenant's list, refused while customers carry it. The row lock
    makes writers that assign the value finish (or wait) first, so the count is final."""
    locked = list(Restriction.objects.select_for_update().filter(tenant=tenant, code=code))
    if not locked:
        return
    children = sorted(
        Restriction.objects.filter(tenant=tenant, parent__in=locked).values_list("code", flat=True)
    )
    if children:
        raise ConflictError(
            f"Restriction {code!r} has values below it ({', '.join(children)}); move or remove "
            "them first."
        )
    ensure_restriction_unused(tenant_id=tenant.pk, code=code)
    Restriction.objects.filter(pk__in=[r.pk for r in locked]).delete()
