"""Plans a database session keeps for the statements every request runs (PostgreSQL).

Under the row-level security policies, planning a statement that fetches one row by a key
costs more than running it (about 0.3 ms each for the token's principal lookup and for a
customer read by its number, against a few hundredths to run them): the policies' conditions
are planned with the statement each time. The statements a request runs by a unique key are
therefore prepared once per database session with SQL's ``PREPARE`` and run with ``EXECUTE``
afterwards, in the same query text as whatever is sent with them (client-side binding: one
round trip, as before). PostgreSQL plans such a statement for its values a few times, then
keeps one plan, which for a lookup by a unique key is the same index scan. A list's statement
is not prepared: its best plan depends on the size of the tenant and on what the page asks.

On a distributed database (Citus) the statements are prepared on the coordinator, which
routes each execution to the tenant's shard with its values and the transaction's context (the
policies are applied where the rows are, each time). Off behind a connection pooler in
transaction mode (``DATABASE_POOL_MODE=transaction``: the statement would be prepared on one of
its server connections and executed on another) and with ``DATABASE_PREPARED_STATEMENTS=0``.
Each session holds at most :data:`MAX_PER_SESSION` of them; the oldest is let go first.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from weakref import WeakKeyDictionary

from django.conf import settings

from core.database import sqlstate

MAX_PER_SESSION = 64
_PLACEHOLDER = re.compile(r"%[%s]")
_PARAMETER = re.compile(r"(?<!%)(?:%%)*%s")


class _Session:
    """What one database session has prepared: statement text → name, oldest first."""

    def __init__(self) -> None:
        self.names: OrderedDict[str, str] = OrderedDict()
        self.made = 0
        self.released: list[str] = []  # let go of in the next query sent
        self.unsure = False  # a query that prepared failed: whether it did is unknown


# Keyed by the DB-API connection: a new connection (Django reconnects) is a new session.
_sessions: WeakKeyDictionary = WeakKeyDictionary()
# Statement texts the server refused to prepare (a parameter whose type the text leaves open):
# they run as they are from then on, in this process.
_refused: set[str] = set()
_MAX_REFUSED = 1_000
_reusing: ContextVar[bool] = ContextVar("plans_reusing", default=False)


def enabled(connection) -> bool:
    return (
        connection.vendor == "postgresql"
        and settings.DATABASE_PREPARED_STATEMENTS
        and settings.DATABASE_POOL_MODE != "transaction"
    )


def prepared(connection, sql: str, params) -> tuple[str, int]:
    """The query text that runs ``sql`` (``%s`` placeholders for ``params``, a list) through
    this session's prepared statement for it, and how many results of other statements come
    before the statement's own in that text (those that prepare it or let an old one go). The
    text takes the same parameters, once each. ``sql`` unchanged when it cannot be prepared
    (one statement only, positional parameters only)."""
    if (
        not enabled(connection)
        or ";" in sql
        or not isinstance(params, list | tuple)
        or sql in _refused
    ):
        return sql, 0
    connection.ensure_connection()
    session = _sessions.get(connection.connection)
    if session is None:
        session = _sessions[connection.connection] = _Session()
    known = not session.unsure and sql in session.names
    if not known and len(_PARAMETER.findall(sql)) != len(params):
        return sql, 0  # (not our placeholders: left as it is)
    before = []
    if session.unsure:
        before.append("DEALLOCATE ALL")
        session.names.clear()
        session.released.clear()
        session.unsure = False
    before.extend(f"DEALLOCATE {name}" for name in session.released)
    session.released.clear()
    name = session.names.get(sql)
    if name is None:
        session.made += 1
        name = f"plan_{session.made}"
        numbers = iter(range(1, len(params) + 1))
        body = _PLACEHOLDER.sub(lambda m: "%%" if m[0] == "%%" else f"${next(numbers)}", sql)
        before.append(f"PREPARE {name} AS {body}")
        session.names[sql] = name
        if len(session.names) > MAX_PER_SESSION:
            _, oldest = session.names.popitem(last=False)
            session.released.append(oldest)
    else:
        session.names.move_to_end(sql)
    arguments = f"({', '.join(['%s'] * len(params))})" if params else ""
    return "; ".join([*before, f"EXECUTE {name}{arguments}"]), len(before)


_EXECUTED = re.compile(r"\bEXECUTE (plan_\d+)")


def statement_of(connection, text: str) -> str:
    """The statement a query text sent with :func:`prepared`'s text stands for (the text
    itself when it executes nothing this session prepared): what the query-counting tests read."""
    executed = _EXECUTED.findall(text) if connection.vendor == "postgresql" else None
    session = _sessions.get(connection.connection) if executed and connection.connection else None
    if not executed or session is None:
        return text
    by_name = {name: sql for sql, name in session.names.items()}
    return by_name.get(executed[-1], text)


def forget(connection, sql: str | None = None, error: BaseException | None = None) -> None:
    """A query sent with :func:`prepared`'s text for ``sql`` failed with ``error``: what it
    prepared is unknown, so the session lets all of them go with its next one; a statement the
    server could not prepare (a syntax or type error) is not prepared again."""
    code = (sqlstate(error) if error is not None else None) or ""
    if sql is not None and code.startswith("42") and code != "42P05":
        if len(_refused) >= _MAX_REFUSED:
            _refused.clear()
        _refused.add(sql)
    if connection.connection is None:
        return  # (closed: the next session starts with nothing prepared)
    session = _sessions.get(connection.connection)
    if session is not None:
        session.unsure = True


@contextmanager
def forgotten_on_failure(connection, sql: str) -> Iterator[None]:
    """Around the execution of :func:`prepared`'s text for ``sql``: :func:`forget` if it
    fails."""
    try:
        yield
    except Exception as error:
        forget(connection, sql, error)
        raise


@contextmanager
def reused() -> Iterator[None]:
    """Statements of the block that read rows run through prepared statements (a block that
    reads by a unique key: a customer by its number)."""
    token = _reusing.set(True)
    try:
        yield
    finally:
        _reusing.reset(token)


def reuse_plans(execute, sql, params, many, context):
    """Execute wrapper (installed on every PostgreSQL connection that may): inside
    :func:`reused`, one ``SELECT`` runs as its prepared statement."""
    raw = context["cursor"].cursor
    if (
        not _reusing.get()
        or many
        or getattr(raw, "name", None)  # (a server-side cursor declares its own statement)
        or not sql.lstrip().startswith("SELECT")
    ):
        return execute(sql, params, many, context)
    connection = context["connection"]
    text, skipped = prepared(connection, sql, params)
    with forgotten_on_failure(connection, sql):
        result = execute(text, params, many, context)
    for _ in range(skipped):
        raw.nextset()
    return result


def install(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver."""
    if enabled(connection) and reuse_plans not in connection.execute_wrappers:
        connection.execute_wrappers.append(reuse_plans)
