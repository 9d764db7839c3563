"""The second lock: what the request may see and change, handed to PostgreSQL's row-level
security policies (migration ``customers/0007_row_level_security``).

The policies read five settings of the database session, set here from the same ``Principal``
and ``Grants`` the application filters by (never a second copy of the rules):

- ``customers.tenant_low`` / ``customers.tenant_high``: the tenants (one, or all of them);
- ``customers.read`` / ``customers.manage`` / ``customers.assign``: ``*`` for every restriction
  (null included), else the comma-separated values, empty for nothing.

No context means an empty tenant range: no rows (fail closed). Each edge binds the principal it
resolved (accounts.api.base, accounts.middleware, accounts.commands, customers.jobs), always
transaction-locally (``SET LOCAL``), so nothing survives its transaction and nothing
is ever left on a database session: a request in its transaction; commands and task workers
with a *standing* context on their connection, which every statement carries into its own
transaction (:func:`stand`). An API request binds in the statement that looks its principal
up, when the principal's context is the one it had last time (``lookup``/``bind_request``).

"All tenants" (the platform principal, platform-wide commands) and "whole tenant" (an
operator) contexts are logged to the ``customers.rowsecurity`` logger. On SQLite nothing is
bound (there are no policies).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import astuple, dataclass

from django.conf import settings
from django.db import connections, transaction
from psycopg.pq import TransactionStatus

from accounts.principal import Principal
from accounts.scopes import Coverage, Right
from core import plans, replicas

logger = logging.getLogger("customers.rowsecurity")

SETTINGS = ("tenant_low", "tenant_high", *(right.value for right in Right))
_MAX_TENANT = 2**63 - 1


def coverage_text(coverage: Coverage) -> str:
    """A coverage as the settings hold it: ``*``, or the comma-separated values."""
    return "*" if coverage.everything else ",".join(sorted(coverage.restrictions))


@dataclass(frozen=True)
class RowContext:
    tenant_low: int
    tenant_high: int
    read: str
    manage: str
    assign: str

    @classmethod
    def of(cls, principal: Principal | None, *, reads: Coverage | None = None) -> RowContext:
        """The principal's rights in its tenant (all tenants for the platform principal;
        nothing without a principal). ``reads``: what it reads instead of its read right (the
        audit API reads the history of the customers its audit scope covers)."""
        if principal is None:
            return NOTHING
        if principal.tenant_id is None:
            return ALL_TENANTS if principal.sees_every_tenant else NOTHING
        rights = [coverage_text(right.coverage(principal.grants)) for right in Right]
        if reads is not None:
            rights[0] = coverage_text(reads)
        return cls(principal.tenant_id, principal.tenant_id, *rights)

    @classmethod
    def for_privacy(cls, principal: Principal) -> RowContext:
        """A data-subject request's rights: reading and removing (or marking) the customers its
        ``customer.privacy_manage`` covers, in its tenant; never a restriction change."""
        if principal.tenant_id is None:
            return NOTHING
        covered = coverage_text(principal.grants.privacy_manageable())
        return cls(principal.tenant_id, principal.tenant_id, covered, covered, "")

    @classmethod
    def whole_tenant(cls, tenant_id: int) -> RowContext:
        return cls(tenant_id, tenant_id, "*", "*", "*")

    def values(self) -> list[str]:
        return [str(value) for value in astuple(self)]


NOTHING = RowContext(0, -1, "", "", "")
ALL_TENANTS = RowContext(0, _MAX_TENANT, "*", "*", "*")
# Finding who is calling, before there is a principal (a sign-in, a token's principal lookup, a
# session's employee, a command's --actor): every tenant's identities, and no customer (no
# right covers any restriction). The principal found binds its own context for what follows.
SIGN_IN = RowContext(0, _MAX_TENANT, "", "", "")


def _uses_policies(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def _fuses() -> bool:
    """Whether a binding may share its query with other statements (one round trip). Not on
    a distributed database: Citus carries a ``SET LOCAL`` to the workers as the whole text of
    the query it came in, which would run the other statements there too."""
    return not settings.DATABASE_DISTRIBUTED


def binding(context: RowContext) -> str:
    """The statements that bind ``context`` for the current transaction (never for the session:
    see :func:`stand`): one ``SET LOCAL`` per setting, the values written in (a setting takes
    no parameter). ``SET LOCAL``, not ``set_config(…, true)``: a distributed database (Citus)
    carries ``SET LOCAL`` to the servers that hold the rows, and nothing else."""
    return "; ".join(
        f"SET LOCAL customers.{name} = {literal(value)}"
        for name, value in zip(SETTINGS, context.values(), strict=True)
    )


def literal(value: str) -> str:
    """``value`` as an SQL string literal (standard conforming strings: quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def skip_binding(cursor) -> None:
    """Move a (psycopg) cursor that ran :func:`binding` and then a statement of its own in one
    query past the binding's results, to the statement's."""
    for _ in SETTINGS:
        cursor.nextset()


def bind(context: RowContext, *, using: str = "default") -> None:
    """Hand ``context`` to the policies for the current transaction (PostgreSQL; nothing to do
    on SQLite)."""
    if not _uses_policies(using):
        return
    connection = connections[using]
    connection.__dict__.pop(_BOUND, None)  # (the standing context binds again after this)
    with connection.cursor() as cursor:
        cursor.execute(binding(context))


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
    context: RowContext | None, *, reason: str | None = None, using: str | None = None
) -> Iterator[None]:
    """Run the block in a transaction bound to ``context`` (None: the block binds it itself,
    as a request does once it knows its principal). Inside a caller's transaction the previous
    context is put back afterwards (a failing block's savepoint rollback does that by itself);
    otherwise the transaction ends with the block, and the context with it. ``using``: by
    default the database the block's reads go to (a read replica inside a request served from
    one, core.replicas), so that the context binds where it is read."""
    using = using or replicas.current_alias()
    if not _uses_policies(using):
        yield
        return
    connection = connections[using]
    depth = connection.__dict__.get(_DEPTH, 0)
    connection.__dict__[_DEPTH] = depth + 1  # (the standing context steps aside)
    # Inside a caller's transaction, what to bind again afterwards: nothing when a standing
    # context takes over again (each statement brings it), else what is bound now.
    takes_over = depth == 0 and connection.__dict__.get(_STANDING) is not None
    previous = current(using) if connection.in_atomic_block and not takes_over else None
    try:
        with transaction.atomic(using=using):
            if context is not None:
                _audit(context, reason)
                bind(context, using=using)
            yield
    finally:
        connection.__dict__[_DEPTH] = depth
    if previous is not None:
        bind(previous, using=using)


_signing_in: ContextVar[bool] = ContextVar("row_security_signing_in", default=False)


@contextmanager
def signing_in(using: str = "default") -> Iterator[None]:
    """Run the block in a transaction bound to :data:`SIGN_IN` (on the primary, where
    identities are read), unless it already runs in one."""
    if _signing_in.get():
        yield
        return
    token = _signing_in.set(True)
    try:
        with row_context(SIGN_IN, using=using):
            yield
    finally:
        _signing_in.reset(token)


@contextmanager
def session_context(context: RowContext, *, reason: str, using: str = "default") -> Iterator[None]:
    """For a command or a task run: ``context`` for every statement of the block, in however
    many transactions it runs (batches commit one by one), then the previous one again. It
    stands on the connection, not in the database session (:func:`stand`), so it holds behind
    a connection pooler in transaction mode too and never outlives the block."""
    if not _uses_policies(using):
        yield
        return
    _audit(context, reason)
    previous = standing(using)
    stand(context, using=using)
    try:
        yield
    finally:
        stand(previous, using=using)


# -- the standing context ---------------------------------------------------------------------
#
# Nothing is ever bound for a database session: a context lasts one transaction. A command or a
# task run that works under one context for many transactions sets it *standing* on its Django
# connection: every statement the connection sends while no transaction-level context is bound
# (row_context, a request) carries the binding itself, in the same query (two statements, run
# in order, in one transaction), so autocommit statements and each batch's transaction are all
# bound, on whichever server connection a pooler gives them.

_STANDING = "_row_security_standing"
# (and a statement run through its prepared one, core.plans: "EXECUTE", after "PREPARE" or
# "DEALLOCATE" the first time)
_READS_OR_WRITES_ROWS = (
    *("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "EXPLAIN"),
    *("EXECUTE", "PREPARE", "DEALLOC"),
)
_DEPTH = "_row_security_depth"


def standing(using: str = "default") -> RowContext | None:
    return connections[using].__dict__.get(_STANDING)


def stand(context: RowContext | None, *, using: str = "default", connection=None) -> None:
    """Make ``context`` the standing context of this thread's connection to ``using`` (or of
    ``connection``; None: none, statements bind nothing of their own)."""
    connection = connection or connections[using]
    if connection.vendor != "postgresql":
        return
    connection.__dict__[_STANDING] = context
    if _carry_standing not in connection.execute_wrappers:
        connection.execute_wrappers.append(_carry_standing)


_BOUND = "_row_security_standing_bound"


def _bound_in_this_transaction(connection, standing_context: RowContext) -> bool:
    """Whether this transaction has bound ``standing_context`` already, in a savepoint that
    still holds (each binding is one more ``SET LOCAL`` that Citus keeps, and sends to every
    worker it connects to, for the rest of the transaction). A transaction that has not begun
    yet (its ``BEGIN`` goes with its first statement) has bound nothing."""
    if connection.connection.info.transaction_status == TransactionStatus.IDLE:
        return False
    bound = connection.__dict__.get(_BOUND)
    if bound is None or bound[0] != standing_context:
        return False
    savepoints = tuple(connection.savepoint_ids)
    return savepoints[: len(bound[1])] == bound[1]


def _carry_standing(execute, sql, params, many, context):
    connection = context["connection"]
    standing_context = connection.__dict__.get(_STANDING)
    if connection.connection.info.transaction_status == TransactionStatus.IDLE:
        # (a statement that begins a transaction, a savepoint's too: nothing bound in it yet)
        connection.__dict__.pop(_BOUND, None)
    if (
        standing_context is None
        or connection.__dict__.get(_DEPTH, 0)
        or not sql.lstrip(" \n\t(")[:7].upper().startswith(_READS_OR_WRITES_ROWS)
    ):  # (a statement about no rows, such as a savepoint or a schema change, binds nothing)
        return execute(sql, params, many, context)
    binding_sql = binding(standing_context)
    raw = context["cursor"].cursor
    if many or getattr(raw, "name", None) or not _fuses():
        # (executemany, a server-side cursor, a distributed database: the binding goes first,
        # a query of its own, in the same transaction; one of its own when there is none)
        database = connection.connection
        if not connection.in_atomic_block:
            # (its commit checks deferred constraints: a refusal there is Django's error too)
            with connection.wrap_database_errors, database.transaction():
                database.execute(binding_sql)
                return execute(sql, params, many, context)
        if not _bound_in_this_transaction(connection, standing_context):
            database.execute(binding_sql)
            connection.__dict__[_BOUND] = (standing_context, tuple(connection.savepoint_ids))
        return execute(sql, params, many, context)
    if params is not None:
        binding_sql = _escaped(binding_sql)
    result = execute(f"{binding_sql}; {sql}", params, many, context)
    skip_binding(raw)
    return result


class _RequestTransaction:
    def __init__(self, using: str):
        self.using = using
        self.bound: RowContext | None = None  # what this transaction has bound so far

    def close(self, response) -> None:
        """A server error answered from inside the transaction (the handler turned an
        exception into a response) must not commit what it left behind."""
        if response.status_code >= 500 and connections[self.using].in_atomic_block:
            transaction.set_rollback(True, using=self.using)  # (SQLite runs without one)


_request: ContextVar[_RequestTransaction | None] = ContextVar("row_security_request", default=None)

# The context each principal had in its last request in this process, keyed by
# ``principal_key``: the guess the next request binds in the same statement as its principal
# lookup (one round trip and statement fewer). Only a guess: the request checks it against the
# principal it then builds and binds again when they differ, before any data is read.
_last_contexts: dict[tuple[str, str, str], RowContext] = {}
_LAST_CONTEXTS_MAX = 10_000


def principal_key(kind: str, identity: str, tenant_code: str) -> tuple[str, str, str]:
    return (kind, identity, tenant_code)


@contextmanager
def request_transaction(using: str = "default") -> Iterator[_RequestTransaction]:
    """An API request's transaction (PostgreSQL; SQLite runs without one, as before), which
    binds its principal inside it: a :func:`row_context` without a context of its own."""
    state = _RequestTransaction(using)
    token = _request.set(state if _uses_policies(using) else None)
    try:
        with row_context(None, using=using):
            yield state
    finally:
        _request.reset(token)


def lookup(sql: str, params: list, key: tuple[str, str, str], using: str = "default") -> list:
    """Run a principal lookup (one ``SELECT``, on the primary) and return its rows.

    On PostgreSQL the identities it reads are behind their policies, so the same round trip
    first binds :data:`SIGN_IN` (statements of their own, which run before the lookup's, all in
    one transaction). In an API request that reads from the same database, the round trip then
    binds the context ``key`` had last time in this process (statements after the lookup's), so
    that a principal whose rights have not changed costs no statement of its own to bind
    (:func:`bind_request` checks the guess). A lookup that finds nobody leaves nothing bound."""
    if not _uses_policies(using):
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    state = _request.get()
    if not _fuses():
        return _lookup_alone(sql, params, using)
    guess = _last_contexts.get(key) if state is not None and state.using == using else None
    connection = connections[using]
    # (its plan kept by the database session: core.plans)
    statement, preparing = plans.prepared(connection, sql, params)
    statements = [_escaped(binding(SIGN_IN)), statement]
    if guess is not None:
        statements.append(_escaped(binding(guess)))
    with connection.cursor() as cursor:
        # Statements in one query (client-side binding): the server runs them in order.
        with plans.forgotten_on_failure(connection, sql):
            cursor.execute("; ".join(statements), params)
        skip_binding(cursor)
        for _ in range(preparing):
            cursor.nextset()
        rows = cursor.fetchall()
    if not rows:
        if connection.in_atomic_block:
            bind(NOTHING, using=using)
        return rows
    if guess is not None:
        state.bound = guess
    return rows


def _lookup_alone(sql: str, params: list, using: str) -> list:
    """:func:`lookup` on a distributed database, in one round trip too: the identities live on
    the coordinator alone, so the sign-in context is bound there alone (``set_config``, which
    Citus does not carry to the workers), in the lookup's query. The principal found binds its
    context afterwards with ``SET LOCAL``, which reaches the workers; until then they hold no
    context (and answer nothing)."""
    connection = connections[using]
    connection.__dict__.pop(_BOUND, None)
    with ExitStack() as stack:
        if not connection.in_atomic_block:
            stack.enter_context(transaction.atomic(using=using))
        # (its plan kept by the database session: core.plans)
        statement, preparing = plans.prepared(connection, sql, params)
        with connection.cursor() as cursor:
            with plans.forgotten_on_failure(connection, sql):
                cursor.execute(f"{_escaped(coordinator_binding(SIGN_IN))}; {statement}", params)
            for _ in range(1 + preparing):
                cursor.nextset()
            rows = cursor.fetchall()
            if not rows:
                cursor.execute(binding(NOTHING))
    return rows


def coordinator_binding(context: RowContext) -> str:
    """One statement that binds ``context`` for the current transaction on the server it is
    sent to and nowhere else (a distributed database keeps it from the workers)."""
    values = ", ".join(
        f"set_config('customers.{name}', {literal(value)}, true)"
        for name, value in zip(SETTINGS, context.values(), strict=True)
    )
    return f"SELECT {values}"


def _escaped(statement: str) -> str:
    """``statement`` inside a query with parameters (its ``%`` taken literally)."""
    return statement.replace("%", "%%")


def bind_request(context: RowContext, key: tuple[str, str, str]) -> None:
    """Bind the request's principal on the database the request reads from: nothing to do when
    its lookup already bound ``context`` there."""
    state = _request.get()
    if state is None:
        bind(context)
        return
    if state.bound != context:
        bind(context, using=state.using)
        state.bound = context
    if len(_last_contexts) >= _LAST_CONTEXTS_MAX:
        _last_contexts.clear()
    _last_contexts[key] = context
