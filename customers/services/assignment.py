"""Bulk restriction assignment: a selection moved to one value in keyset batches, checked
whole before anything changes and audited row by row (set-based, in one statement per batch on
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.principal import Principal
from core.errors import InvalidInput, NotPermitted
from customers.models import Customer, RestrictionChange, restriction_key
from customers.services.checks import (
    CARRIERS,
    audit,
    carry_restriction,
    require_valid_restriction,
)


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
    require_valid_restriction(actor.tenant_id, value)
    if not actor.grants.may_assign(value):
        raise NotPermitted(f"You may not assign the restriction {value!r}.")
    selection = customers.filter(tenant_id=actor.tenant_id)
    if actor.grants.assignable().everything:
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
        require_valid_restriction(actor.tenant_id, value)
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
        moved = [row[0] for row in changing]
        Customer.objects.filter(tenant_id=actor.tenant_id, pk__in=moved).update(
            restriction=value, version=F("version") + 1, modified_at=timezone.now()
        )
        carry_restriction(actor.tenant_id, moved, value)
        audit(actor, channel, changing, value)
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
    # (the moved customers' rows carry the new value: checks.carry_restriction, in this statement)
    carried = ", ".join(
        f"carried{i} AS (UPDATE {model._meta.db_table} AS r "  # noqa: S608 - the models' tables
        "SET customer_restriction = %s FROM changed "
        "WHERE r.tenant_id = %s AND r.customer_id = changed.id RETURNING 1)"
        for i, model in enumerate(CARRIERS)
    )
    sql = f"""
        WITH batch (id, customer_number, restriction) AS ({select_sql}),
        changed AS (
            UPDATE {customers} AS c
               SET restriction = %s, version = c.version + 1, modified_at = %s
              FROM batch
             WHERE c.tenant_id = %s AND c.id = batch.id
               AND batch.restriction IS DISTINCT FROM %s
         RETURNING c.id, batch.customer_number, batch.restriction AS old_value
        ),
        {carried},
        audited AS (
            INSERT INTO {audit} (tenant_id, customer_id, customer_number, old_value, new_value,
                                 customer_restriction, actor_kind, actor_id, actor_name,
                                 channel, changed_at)
            SELECT %s, id, customer_number, old_value, %s, %s, %s, %s, %s, %s, %s FROM changed
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
        actor.tenant_id,
        value,
        *[restriction_key(value), actor.tenant_id] * len(CARRIERS),
        actor.tenant_id,
        value,
        restriction_key(value),
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
