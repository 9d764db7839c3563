"""Writes to tenant configuration. Validation lives in the models; these keep it atomic."""

from __future__ import annotations

from django.db import connection, transaction

from core.errors import ConflictError, full_clean
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
        raise ConflictError(f"Tenant {code!r} already exists.", field="code")
    tenant = Tenant(code=code, name=name, sync_restrictions_with_sites=sync_restrictions_with_sites)
    full_clean(tenant)
    tenant.save()
    for site_code in dict.fromkeys([DEFAULT_SITE, *sites]):
        site = Site(tenant=tenant, code=site_code)
        full_clean(site, exclude=["tenant"])
        site.save()
    for restriction_code in dict.fromkeys(restrictions):
        restriction = Restriction(tenant=tenant, code=restriction_code)
        full_clean(restriction, exclude=["tenant"])
        restriction.save()
    return tenant


def restriction_hold(*, tenant_id: int, code: str) -> bool:
    """Whether ``code`` is one of the tenant's valid restrictions.

    On PostgreSQL the restriction's row stays share-locked until the caller's transaction ends,
    so a concurrent ``customers.services.restriction_remove`` waits for the write that relies
    on it and then counts its customers. (SQLite serialises writers anyway.)
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
