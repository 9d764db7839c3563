"""The second lock: what the request may see and change, handed to PostgreSQL's row-level
security policies (migration ``customers/0007_row_level_security``).

The policies read five settings of the database session, set here from the same ``Principal``
and ``Grants`` the application filters by (never a second copy of the rules):

- ``customers.tenant_low`` / ``customers.tenant_high``: the tenants (one, or all of them);
- ``customers.read`` / ``customers.manage`` / ``customers.assign``: ``*`` for every restriction
  (null included), else the comma-separated values, empty for nothing.

No context means an empty tenant range: no rows (fail closed). Each edge binds the principal it
resolved (accounts.api, accounts.middleware, accounts.commands, customers.jobs): a request
transaction-locally (``set_config(…, true)``), so nothing survives its transaction; commands and
task workers for their whole run (session-wide), putting the previous context back when they
finish. "All tenants" (the platform principal, platform-wide commands) and "whole tenant" (an
operator) contexts are logged to the ``customers.rowsecurity`` logger. On SQLite nothing is
bound (there are no policies).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass

from django.db import connections, transaction

from accounts.principal import Principal
from accounts.scopes import Coverage, Right

logger = logging.getLogger("customers.rowsecurity")

SETTINGS = ("tenant_low", "tenant_high", *(right.value for right in Right))
_MAX_TENANT = 2**63 - 1


def _coverage(coverage: Coverage) -> str:
    return "*" if coverage.everything else ",".join(sorted(coverage.restrictions))


@dataclass(frozen=True)
class RowContext:
    tenant_low: int
    tenant_high: int
    read: str
    manage: str
    assign: str

    @classmethod
    def of(cls, principal: Principal | None) -> RowContext:
        """The principal's rights in its tenant (all tenants for the platform principal;
        nothing without a principal)."""
        if principal is None:
            return NOTHING
        if principal.tenant_id is None:
            return ALL_TENANTS if principal.sees_every_tenant else NOTHING
        rights = (_coverage(right.coverage(principal.grants)) for right in Right)
        return cls(principal.tenant_id, principal.tenant_id, *rights)

    @classmethod
    def whole_tenant(cls, tenant_id: int) -> RowContext:
        return cls(tenant_id, tenant_id, "*", "*", "*")

    def values(self) -> list[str]:
        return [str(value) for value in astuple(self)]


NOTHING = RowContext(0, -1, "", "", "")
ALL_TENANTS = RowContext(0, _MAX_TENANT, "*", "*", "*")


def _uses_policies(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def binding(context: RowContext, *, local: bool = True) -> tuple[str, list[str]]:
    """The one statement (and its parameters) that binds ``context``: for the current
    transaction (``local``) or the session."""
    scope = "true" if local else "false"
    assignments = ", ".join(f"set_config('customers.{name}', %s, {scope})" for name in SETTINGS)
    return f"SELECT {assignments}", context.values()


def bind(context: RowContext, *, local: bool = True, using: str = "default") -> None:
    """Hand ``context`` to the policies (PostgreSQL; nothing to do on SQLite)."""
    if not _uses_policies(using):
        return
    with connections[using].cursor() as cursor:
        cursor.execute(*binding(context, local=local))


def current(using: str = "default") -> RowContext:
    """The context bound now (NOTHING when none is)."""
    if not _uses_policies(using):
        return NOTHING
    reads = ", ".join(f"current_setting('customers.{name}', true)" for name in SETTINGS)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {reads}")
        low, high, read, manage, assign = cursor.fetchone()
    if not low or not high:
        return NOTHING
    return RowContext(int(low), int(high), read or "", manage or "", assign or "")


def _audit(context: RowContext, reason: str | None) -> None:
    if context == ALL_TENANTS:
        logger.info("row security: all tenants, for %s", reason or "an unnamed operation")
    elif context.read == context.manage == context.assign == "*":
        logger.info(
            "row security: the whole of tenant %s, for %s",
            context.tenant_low,
            reason or "an unnamed operation",
        )


@contextmanager
def row_context(
    context: RowContext | None, *, reason: str | None = None, using: str = "default"
) -> Iterator[None]:
    """Run the block in a transaction bound to ``context`` (None: the block binds it itself,
    as a request does once it knows its principal). Inside a caller's transaction the previous
    context is put back afterwards (a failing block's savepoint rollback does that by itself);
    otherwise the transaction ends with the block, and the context with it."""
    if not _uses_policies(using):
        yield
        return
    outer = connections[using].in_atomic_block
    previous = current(using) if outer else None
    with transaction.atomic(using=using):
        if context is not None:
            _audit(context, reason)
            bind(context, using=using)
        yield
    if previous is not None:
        bind(previous, using=using)


@contextmanager
def session_context(context: RowContext, *, reason: str, using: str = "default") -> Iterator[None]:
    """For a command or a task run: ``context`` for every transaction of the block (they
    are many: batches commit one by one), then the previous one again."""
    if not _uses_policies(using):
        yield
        return
    _audit(context, reason)
    previous = current(using)
    bind(context, local=False, using=using)
    try:
        yield
    finally:
        connection = connections[using]
        # In a transaction that is to be rolled back, the rollback restores what was there.
        if not (connection.in_atomic_block and connection.needs_rollback):
            bind(previous, local=False, using=using)


class _RequestTransaction:
    def __init__(self, using: str):
        self.using = using

    def close(self, response) -> None:
        """A server error answered from inside the transaction (the handler turned an
        exception into a response) must not commit what it left behind."""
        if response.status_code >= 500:
            transaction.set_rollback(True, using=self.using)


@contextmanager
def request_transaction(using: str = "default") -> Iterator[_RequestTransaction]:
    """An API request's transaction (PostgreSQL; SQLite runs without one, as before), which
    binds its principal inside it: a :func:`row_context` without a context of its own."""
    with row_context(None, using=using):
        yield _RequestTransaction(using)
