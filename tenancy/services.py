"""Writes to tenant configuration. Validation lives in the models; these keep it atomic."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from tenancy.models import Restriction, Site, Tenant

DEFAULT_SITE = "main"


@transaction.atomic
def tenant_create(
    *,
    code: str,
    name: str,
    restrictions: list[str],
    sites: list[str],
    sync_restrictions_with_sites: bool = False,
) -> Tenant:
    if Tenant.objects.filter(code=code).exists():
        raise ValidationError({"code": f"Tenant {code!r} already exists."})
    tenant = Tenant(code=code, name=name, sync_restrictions_with_sites=sync_restrictions_with_sites)
    tenant.full_clean()
    tenant.save()
    for site_code in dict.fromkeys([DEFAULT_SITE, *sites]):
        site = Site(tenant=tenant, code=site_code)
        site.full_clean(exclude=["tenant"])
        site.save()
    for restriction_code in dict.fromkeys(restrictions):
        restriction = Restriction(tenant=tenant, code=restriction_code)
        restriction.full_clean(exclude=["tenant"])
        restriction.save()
    return tenant


def restriction_in_use_count(*, tenant_id: int, code: str) -> int:
    from customers.models import Customer  # tenancy stays importable without customers

    return Customer.objects.filter(tenant_id=tenant_id, restriction=code).count()


def ensure_restriction_unused(*, tenant_id: int, code: str) -> None:
    """Valid restrictions: a value still carried by customers cannot leave the tenant's list."""
    count = restriction_in_use_count(tenant_id=tenant_id, code=code)
    if count:
        raise ValidationError(
            f"Restriction {code!r} is still carried by {count} customer(s); reassign them "
            "before removing it."
        )


def restriction_hold(*, tenant_id: int, code: str) -> bool:
    """Whether ``code`` is one of the tenant's valid restrictions (valid restrictions).

    On PostgreSQL the restriction's row stays share-locked until the caller's transaction ends,
    so a concurrent :func:`restriction_remove` waits for the write that relies on it and then
    counts its customers. (SQLite serialises writers anyway.)
    """
    if connection.vendor != "postgresql":
        return Restriction.objects.filter(tenant_id=tenant_id, code=code).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Restriction._meta.db_table} "  # noqa: S608 - the model's table
            "WHERE tenant_id = %s AND code = %s FOR SHARE",
            [tenant_id, code],
        )
        return cursor.fetchone() is not None


@transaction.atomic
def restriction_remove(*, tenant: Tenant, code: str) -> None:
    """Remove a value from the tenant's list, refused while customers carry it. The row lock
    makes writers that assign the value finish (or wait) first, so the count is final."""
    locked = list(Restriction.objects.select_for_update().filter(tenant=tenant, code=code))
    if not locked:
        return
    ensure_restriction_unused(tenant_id=tenant.pk, code=code)
    Restriction.objects.filter(pk__in=[r.pk for r in locked]).delete()
