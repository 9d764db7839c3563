"""The one restriction filter (SPEC R1). Every read path starts here; writes check through it.

Fail closed: no principal, or a principal without the right, gets ``.none()``. Null
restrictions are reachable only through an unsuffixed (``everything``) grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Prefetch

from accounts.scopes import Coverage

if TYPE_CHECKING:
    from accounts.principal import Principal


def _covered(queryset: models.QuerySet, tenant_id: int | None, coverage: Coverage):
    if tenant_id is None or coverage.is_empty:
        return queryset.none()
    queryset = queryset.filter(tenant_id=tenant_id)
    if coverage.everything:
        return queryset
    return queryset.filter(restriction__in=sorted(coverage.restrictions))


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, principal: Principal | None) -> CustomerQuerySet:
        if principal is None:
            return self.none()
        return _covered(self, principal.tenant_id, principal.grants.readable())

    def manageable_by(self, principal: Principal | None) -> CustomerQuerySet:
        if principal is None:
            return self.none()
        return _covered(self, principal.tenant_id, principal.grants.manageable())

    def assignable_by(self, principal: Principal | None) -> CustomerQuerySet:
        """Customers whose restriction the principal may change (manage + restriction_manage)."""
        if principal is None:
            return self.none()
        return _covered(
            self.manageable_by(principal), principal.tenant_id, principal.grants.assignable()
        )

    def with_relations(self, expand: frozenset[str] = frozenset()) -> CustomerQuerySet:
        """Constant queries per page: default addresses always, the rest when expanded."""
        from customers.models import Address

        prefetches: list[Prefetch | str] = [
            Prefetch(
                "addresses",
                queryset=Address.objects.filter(is_default=True),
                to_attr="default_addresses",
            )
        ]
        prefetches += [relation for relation in ("addresses", "accounts") if relation in expand]
        return self.prefetch_related(*prefetches)


class CustomerRelatedQuerySet(models.QuerySet):
    """Addresses and accounts: visible exactly when their customer is (the same filter)."""

    def visible_to(self, principal: Principal | None) -> models.QuerySet:
        from customers.models import Customer

        return self.filter(customer__in=Customer.objects.visible_to(principal))
