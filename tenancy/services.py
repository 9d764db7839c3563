"""Writes to tenant configuration. Validation lives in the models; these keep it atomic."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import F

from core.errors import ConflictError, InvalidInput, full_clean
from tenancy import tree
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
    try:
        parents = tree.parse_values(restrictions)
        tree.validate(parents)
    except tree.InvalidTree as exc:
        raise InvalidInput(str(exc), field="restrictions") from exc
    created = {}
    for restriction_code in parents:
        restriction = Restriction(tenant=tenant, code=restriction_code)
        full_clean(restriction, exclude=["tenant", "parent"])
        restriction.save()
        created[restriction_code] = restriction
    children = [
        Restriction(pk=created[code].pk, parent_id=created[parent].pk)
        for code, parent in parents.items()
        if parent is not None
    ]
    if children:
        Restriction.objects.bulk_update(children, ["parent"])
        tree_changed(tenant.pk)
        tenant.refresh_from_db(fields=["tree_version"])
    return tenant


def tree_changed(tenant_id: int) -> None:
    """Every process sees the new tree at its next request (call it in the changing
    transaction)."""
    Tenant.objects.filter(pk=tenant_id).update(tree_version=F("tree_version") + 1)


def restriction_parents(tenant_id: int, using: str | None = None) -> dict[str, str | None]:
    restrictions = Restriction.objects.using(using) if using else Restriction.objects
    rows = restrictions.filter(tenant_id=tenant_id).values_list("code", "parent__code")
    return dict(rows)


_BELOW: dict[tuple[int, int], dict[str, frozenset[str]]] = {}
_BELOW_LIMIT = 10_000  # (tenant, version) pairs kept per process


def restriction_tree(tenant_id: int, version: int) -> dict[str, frozenset[str]] | None:
    """What each of the tenant's values covers (itself and everything below), or None for a
    flat tenant (nothing to expand). Cached per process by the tenant's ``tree_version``, which
    every change moves, so a stale copy is never used; version 0 is a tenant that never had a
    parent, answered without a query."""
    if version == 0:
        return None
    key = (tenant_id, version)
    if key not in _BELOW:
        if len(_BELOW) >= _BELOW_LIMIT:
            _BELOW.clear()
        # From the primary: a replica behind it could hand an older tree for this version.
        parents = restriction_parents(tenant_id, using=DEFAULT_DB_ALIAS)
        _BELOW[key] = {} if tree.is_flat(parents) else tree.below(parents)
    return _BELOW[key] or None


def forget_trees() -> None:
    """Drop this process's copies (tests: a rolled-back transaction may hand out the same
    tenant id and version again with another tree)."""
    _BELOW.clear()


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
