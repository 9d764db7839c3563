"""The one restriction filter. Every read path starts here; writes check through it.

Fail closed: no principal, or a principal without the right, gets ``.none()``. Null
restrictions are reachable only through an unsuffixed (``everything``) grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connections, models
from django.db.models import Exists, Expression, OuterRef, Q
from django.db.models.expressions import Col
from django.db.models.lookups import Exact
from django.db.models.sql.where import WhereNode

from accounts.rowsecurity import coverage_text
from accounts.scopes import Coverage, Right
from core import fastjson
from customers.deletion import delete_with_tenant

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


def named_tenant(query) -> int | None:
    """The tenant ``query`` is held to by a plain ``tenant_id = value`` condition on its base
    table (one of the conditions all of which a row must meet), or ``None``."""
    alias = query.base_table
    nodes = [query.where]
    while nodes:
        node = nodes.pop()
        if node.negated or (node.connector != "AND" and len(node.children) > 1):
            continue
        for child in node.children:
            if isinstance(child, WhereNode):
                nodes.append(child)
            elif (
                isinstance(child, Exact)
                and isinstance(child.lhs, Col)
                and child.lhs.alias == alias
                and child.lhs.target.attname == "tenant_id"
                and isinstance(child.rhs, int)
            ):
                return child.rhs
    return None


class DefaultAddress(Expression):
    """The subquery of :meth:`CustomerQuerySet.with_default_address`, written once per database
    engine: compiled by the ORM, its forty expressions cost a list request more than its
    statement does."""

    output_field = fastjson.JSONField()
    _sql: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {}

    def __init__(self, fields: tuple[str, ...]):
        super().__init__()
        self.fields = fields

    def as_sql(self, compiler, connection):
        key = (connection.vendor, self.fields)
        if key not in self._sql:
            self._sql[key] = self._parts(connection)
        select, condition = self._sql[key]
        customer = compiler.quote_name_unless_alias(compiler.query.base_table)
        quote = connection.ops.quote_name
        tenant, number = f"{customer}.{quote('tenant_id')}", f"{customer}.{quote('id')}"
        named = named_tenant(compiler.query)
        key = f"a.customer_id = {number} {condition}"
        if named is not None:  # (Citus routes the subquery by a tenant it names, not by ours)
            return f"{select} %s AND a.tenant_id = {tenant} AND {key}", [named]
        return f"{select} {tenant} AND {key}", []

    def _parts(self, connection) -> tuple[str, str]:
        """The statement before the outer customer's tenant, and after its id (the address
        is looked up by its key, which carries the tenant)."""
        from customers.models import Address

        quote = connection.ops.quote_name
        postgresql = connection.vendor == "postgresql"
        pairs = []
        for name in self.fields:
            field = Address._meta.get_field(name)
            column = f"a.{quote(field.column)}"
            if not postgresql and isinstance(field, models.JSONField):
                column = f"json({column})"  # (SQLite: the JSON, not its text)
            pairs.append(f"'{name}', {column}")
        build = "jsonb_build_object" if postgresql else "json_object"
        table = quote(Address._meta.db_table)
        columns = ", ".join(pairs)  # (names from the model, not from a request)
        select = f"(SELECT {build}({columns}) FROM {table} a WHERE a.tenant_id ="  # noqa: S608
        return select, "AND a.is_default)"


class TenantRowQuerySet(models.QuerySet):
    def delete(self):
        """Django's delete, each of its statements naming the tenant (``TenantCollector``)."""
        return delete_with_tenant(self)

    # (as Django's own: never on the manager, where it would delete the whole table)
    delete.alters_data = True
    delete.queryset_only = True


class CustomerQuerySet(TenantRowQuerySet):
    def with_right(self, principal: Principal | None, right: Right) -> CustomerQuerySet:
        """The customers over which ``principal`` holds ``right``: one of the three below."""
        return _covered(self, principal, right)

    def visible_to(self, principal: Principal | None) -> CustomerQuerySet:
        return _covered(self, principal, Right.READ)

    def visible_count(self, principal: Principal) -> int:
        """``visible_to(principal).count()`` for a principal of one tenant. On PostgreSQL, inside
        the principal's bound row-security context, one index-only count that the policies do
        not re-check row by row (``customers_visible_count``, migration 0012: it applies the
        bound context by hand and counts only what both it and the principal cover). On a
        distributed database (Citus) the plain count, on the tenant's shard: the function's
        owner bypasses row security on the coordinator only."""
        visible = self.visible_to(principal)
        if connections[self.db].vendor != "postgresql" or settings.DATABASE_DISTRIBUTED:
            return visible.count()
        if principal.tenant_id is None or Right.READ.coverage(principal.grants).is_empty:
            return 0
        wanted = coverage_text(Right.READ.coverage(principal.grants))
        with connections[self.db].cursor() as cursor:
            cursor.execute("SELECT customers_visible_count(%s)", [wanted])
            return cursor.fetchone()[0]

    def rows_by_ids_first(self, start: int, stop: int) -> CustomerQuerySet:
        """Rows ``start:stop`` of this (scoped, ordered) queryset in one statement: their ids
        first, an index range under the ``LIMIT`` with every condition of this queryset, then
        those rows by primary key alone. The outer part repeats none of the conditions, so the
        planner has nothing else to read them by (repeated, they once made it read every row
        they matched, sort it and join the page's ids to it). It adds no row: the ids are this
        queryset's."""
        ids = self.values("pk")[start:stop]  # (a LIMIT keeps the planner from merging it away)
        rows = self.model.objects.filter(pk__in=ids)
        tenant = named_tenant(self.query)
        if tenant is not None and settings.DATABASE_DISTRIBUTED:
            rows = rows.filter(tenant_id=tenant)  # (Citus: on the tenant's shard alone)
        return rows.order_by(*self.query.order_by)

    def with_default_address(self, fields: tuple[str, ...]) -> CustomerQuerySet:
        """Each row with its default address's ``fields`` as one JSON object (``None`` without
        one), looked up by customer in the row's own statement for the rows read and only for
        them: a correlated subquery on ``address_one_default_per_customer``. A join would let
        the planner choose how to read the addresses, and behind the address table's policy it
        cannot estimate them: it once materialised every default address of a 100,000-customer
        tenant and rescanned them for each row of the page. Adds no customer (the address is
        the row's own)."""
        return self.annotate(default_address=DefaultAddress(fields))

    def audited_by(self, principal: Principal | None) -> CustomerQuerySet:
        """The customers whose restriction history the principal's audit scope covers (the
        audit API; it reads no customer data through it)."""
        if principal is None:
            return self.none()
        return _within(self, principal, principal.grants.auditable())

    def manageable_by(self, principal: Principal | None) -> CustomerQuerySet:
        return _covered(self, principal, Right.MANAGE)

    def privacy_managed_by(self, principal: Principal | None) -> CustomerQuerySet:
        """The customers whose data-subject requests the principal handles
        (``customer.privacy_manage``: export, erasure, legal hold)."""
        if principal is None:
            return self.none()
        return _within(self, principal, principal.grants.privacy_manageable())

    def assignable_by(self, principal: Principal | None) -> CustomerQuerySet:
        """Customers whose restriction the principal may change (manage + restriction_manage)."""
        return _covered(self, principal, Right.ASSIGN)


def with_account(condition: Q) -> Q:
    """Customers with a login account matching ``condition`` (lookups on the account). A
    condition on the rows of an already scoped customer queryset: it adds no customer."""
    from customers.models import Account

    # (by tenant and customer: the account's key, and one shard of a distributed database)
    accounts = Account.objects.filter(
        condition, tenant_id=OuterRef("tenant_id"), customer=OuterRef("pk")
    )
    return Q(Exists(accounts))


class CustomerRelatedQuerySet(TenantRowQuerySet):
    """Addresses and accounts: visible exactly when their customer is (the same filter)."""

    def visible_to(self, principal: Principal | None) -> models.QuerySet:
        from customers.models import Customer

        visible = self.filter(customer__in=Customer.objects.visible_to(principal))
        if principal is not None and principal.tenant_id is not None:
            # (the rows' own tenant too: their key, and one shard of a distributed database)
            visible = visible.filter(tenant_id=principal.tenant_id)
        return visible

    def bulk_create(self, objs, *args, **kwargs):
        """Rows whose customer is at hand carry its restriction (``OfCustomer``); the others
        bring ``customer_restriction`` themselves."""
        objs = list(objs)
        customer = self.model._meta.get_field("customer")
        for obj in objs:
            if customer.is_cached(obj):
                obj.customer_restriction = obj.restriction_of_customer()
        return super().bulk_create(objs, *args, **kwargs)


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


class CustomerViewQuerySet(models.QuerySet):
    """The read-access log, for the audit API and the back office's "who viewed it"."""

    def audited_by(self, principal: Principal | None) -> models.QuerySet:
        """What an audit reader may see of the log. Unsuffixed ``audit.audit_read``: every view
        in its tenant (deleted customers' included); suffixed: the views of customers whose
        restriction it covers now; a platform superuser: every tenant's."""
        if principal is None:
            return self.none()
        if principal.sees_every_tenant:
            return self.all()
        coverage = principal.grants.auditable()
        if principal.tenant_id is None or coverage.is_empty:
            return self.none()
        views = self.filter(tenant_id=principal.tenant_id)
        if coverage.everything:
            return views
        from customers.models import Customer

        covered = Customer.objects.audited_by(principal).values("customer_number")
        return views.filter(customer_number__in=covered)


class CustomerErasureQuerySet(models.QuerySet):
    def audited_by(self, principal: Principal | None) -> models.QuerySet:
        """Erasure records for an audit reader: unsuffixed ``audit.audit_read``, every one of
        its tenant; suffixed, those of customers whose restriction (when erased) it covers; a
        platform superuser, every tenant's."""
        if principal is None:
            return self.none()
        if principal.sees_every_tenant:
            return self.all()
        coverage = principal.grants.auditable()
        if principal.tenant_id is None or coverage.is_empty:
            return self.none()
        return self.filter(covered_condition(coverage), tenant_id=principal.tenant_id)


class MassReadAlertQuerySet(models.QuerySet):
    def administered_by(self, principal: Principal | None) -> models.QuerySet:
        """A tenant's mass-read alerts, for its administrators (the platform: every tenant's)."""
        if principal is None:
            return self.none()
        if principal.sees_every_tenant:
            return self.all()
        if principal.tenant_id is None or not principal.grants.can_manage_tenant():
            return self.none()
        return self.filter(tenant_id=principal.tenant_id)


class PrivacyExportQuerySet(models.QuerySet):
    def requested_by(self, principal: Principal | None) -> models.QuerySet:
        """The exports the principal asked for itself (nobody else's, whatever their rights)."""
        if principal is None or principal.tenant_id is None:
            return self.none()
        return self.filter(
            tenant_id=principal.tenant_id, actor_kind=principal.kind, actor_id=principal.id
        )


class JobQuerySet(TenantRowQuerySet):
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

        uncovered = JobRestriction.objects.filter(
            tenant_id=OuterRef("tenant_id"), job=OuterRef("pk")
        ).exclude(covered_condition(readable))
        return jobs.filter(~Exists(uncovered))
