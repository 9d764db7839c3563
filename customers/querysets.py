"""The one restriction filter. Every read path starts here; writes check through it.

Fail closed: no principal, or a principal without the right, gets ``.none()``. Null
restrictions are reachable only through an unsuffixed (``everything``) grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connections, models
from django.db.models import Exists, OuterRef, Q

from accounts.rowsecurity import coverage_text
from accounts.scopes import Coverage, Right

if TYPE_CHECKING:
    from accounts.principal import Principal


def covered_condition(coverage: Coverage, field: str = "restriction") -> Q:
    """:meth:`Coverage.covers` as SQL: every value for ``everything``, else the listed values
    (never null). An empty coverage matches nothing."""
    if coverage.everything:
        return Q()
    return Q(**{f"{field}__in": sorted(coverage.restrictions)})


def _covered(queryset: models.QuerySet, principal: Principal | None, right: Right):
    """The principal's tenant (every tenant for the platform principal) and ``right``'s
    coverage; nothing without a principal or a grant."""
    if principal is None:
        return queryset.none()
    return _within(queryset, principal, right.coverage(principal.grants))


def _within(queryset: models.QuerySet, principal: Principal, coverage: Coverage):
    if coverage.is_empty:
        return queryset.none()
    if principal.tenant_id is None:
        return (
            queryset.filter(covered_condition(coverage))
            if principal.sees_every_tenant
            else (queryset.none())
        )
    return queryset.filter(covered_condition(coverage), tenant_id=principal.tenant_id)


class CustomerQuerySet(models.QuerySet):
    def with_right(self, principal: Principal | None, right: Right) -> CustomerQuerySet:
        """The customers over which ``principal`` holds ``right``: one of the three below."""
        return _covered(self, principal, right)

    def visible_to(self, principal: Principal | None) -> CustomerQuerySet:
        return _covered(self, principal, Right.READ)

    def visible_count(self, principal: Principal) -> int:
        """``visible_to(principal).count()`` for a principal of one tenant. On PostgreSQL, inside
        the principal's bound row-security context, one index-only count that the policies do
        not re-check row by row (``customers_visible_count``, migration 0012: it applies the
        bound context by hand and counts only what both it and the principal cover)."""
        visible = self.visible_to(principal)
        if connections[self.db].vendor != "postgresql":
            return visible.count()
        if principal.tenant_id is None or Right.READ.coverage(principal.grants).is_empty:
            return 0
        wanted = coverage_text(Right.READ.coverage(principal.grants))
        with connections[self.db].cursor() as cursor:
            cursor.execute("SELECT customers_visible_count(%s)", [wanted])
            return cursor.fetchone()[0]

    def audited_by(self, principal: Principal | None) -> CustomerQuerySet:
        """The customers whose restriction history the principal's audit scope covers (the
        audit API; it reads no customer data through it)."""
        if principal is None:
            return self.none()
        return _within(self, principal, principal.grants.auditable())

    def manageable_by(self, principal: Principal | None) -> CustomerQuerySet:
        return _covered(self, principal, Right.MANAGE)

    def assignable_by(self, principal: Principal | None) -> CustomerQuerySet:
        """Customers whose restriction the principal may change (manage + restriction_manage)."""
        return _covered(self, principal, Right.ASSIGN)


def with_account(condition: Q) -> Q:
    """Customers with a login account matching ``condition`` (lookups on the account). A
    condition on the rows of an already scoped customer queryset: it adds no customer."""
    from customers.models import Account

    return Q(Exists(Account.objects.filter(condition, customer=OuterRef("pk"))))


class CustomerRelatedQuerySet(models.QuerySet):
    """Addresses and accounts: visible exactly when their customer is (the same filter)."""

    def visible_to(self, principal: Principal | None) -> models.QuerySet:
        from customers.models import Customer

        return self.filter(customer__in=Customer.objects.visible_to(principal))


class RestrictionChangeQuerySet(CustomerRelatedQuerySet):
    """The restriction history: as customer data (``visible_to``, the back office) and for the
    audit API (``audited_by``)."""

    def audited_by(self, principal: Principal | None) -> models.QuerySet:
        """What an audit reader may see of its tenant's restriction history. Unsuffixed
        ``audit.audit_read``: every change (deleted customers' included). Suffixed: the changes
        whose old or new value the suffixes cover, of customers whose restriction they cover now
        (so never a change of a customer it could not read; a deleted customer's: none)."""
        if principal is None or principal.tenant_id is None:
            return self.none()
        coverage = principal.grants.auditable()
        if coverage.is_empty:
            return self.none()
        changes = self.filter(tenant_id=principal.tenant_id)
        if coverage.everything:
            return changes
        values = sorted(coverage.restrictions)
        return changes.filter(
            Q(old_value__in=values) | Q(new_value__in=values), customer__restriction__in=values
        )


class JobQuerySet(models.QuerySet):
    def visible_to(
        self, principal: Principal | None, *, employee_id: int | None
    ) -> models.QuerySet:
        """Background jobs of the principal's tenant that ``employee_id`` started (or any, for a
        tenant administrator), and only those whose every involved restriction the principal
        may read: a job never reveals a selection its viewer could not see."""
        if principal is None:
            return self.none()
        readable = principal.grants.readable()
        if readable.is_empty:
            return self.none()
        jobs = self if principal.sees_every_tenant else self.filter(tenant_id=principal.tenant_id)
        if not principal.grants.can_manage_tenant():
            jobs = jobs.filter(requested_by_id=employee_id)
        if readable.everything:
            return jobs
        from customers.models import JobRestriction

        uncovered = JobRestriction.objects.filter(job=OuterRef("pk")).exclude(
            covered_condition(readable)
        )
        return jobs.filter(~Exists(uncovered))
