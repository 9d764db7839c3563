"""Writes to tenant configuration. Validation lives in the models; these keep it atomic."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

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
    """R6: a value still carried by customers cannot leave the tenant's list."""
    count = restriction_in_use_count(tenant_id=tenant_id, code=code)
    if count:
        raise ValidationError(
            f"Restriction {code!r} is still carried by {count} customer(s); reassign them "
            "before removing it."
        )


@transaction.atomic
def restriction_remove(*, tenant: Tenant, code: str) -> None:
    ensure_restriction_unused(tenant_id=tenant.pk, code=code)
    Restriction.objects.filter(tenant=tenant, code=code).delete()
