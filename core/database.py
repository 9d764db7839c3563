"""A time limit on every statement a web request runs (PostgreSQL).

A request's query is cancelled by the server when it runs longer than
``REQUEST_STATEMENT_TIMEOUT_MS``, so no expensive search can hold a worker or the database; the
client gets a 503 with the error body. Management commands and task workers are other processes
and keep their own limits (none by default): only a process that serves requests calls
:func:`serve_requests` (``config/wsgi.py``; the tests call the receiver directly).
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, OperationalError
from django.db.backends.signals import connection_created
from django.dispatch import receiver

_serving_requests = False


def serve_requests() -> None:
    """Mark this process as a web server: its database sessions get the request time limit."""
    global _serving_requests
    _serving_requests = True


@receiver(connection_created)
def limit_statement_time(sender, connection, **kwargs) -> None:
    milliseconds = settings.REQUEST_STATEMENT_TIMEOUT_MS
    if not (_serving_requests and milliseconds and connection.vendor == "postgresql"):
        return
    if settings.DATABASE_POOL_MODE == "transaction":
        # A session setting would stay on one of the pooler's server connections and miss the
        # others: the pooler sets the limit on each of its connections (``connect_query``,
        # docs/scaling.md).
        return
    # On the DB-API connection itself: once per session, and not counted as a request's query.
    with connection.connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{milliseconds}ms"])


def sqlstate(exc: BaseException) -> str | None:
    """PostgreSQL's error code behind a (Django) database error; None on another engine."""
    return getattr(getattr(exc.__cause__, "diag", None), "sqlstate", None)


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether a database error is PostgreSQL cancelling a statement for taking too long."""
    return isinstance(exc, OperationalError) and sqlstate(exc) == "57014"  # query_canceled


def is_invalid_pattern(exc: BaseException) -> bool:
    """Whether a database error is the engine refusing a regular expression of the query (on
    PostgreSQL ``invalid_regular_expression``; on SQLite, Python's ``re`` raising inside the
    ``REGEXP`` function): the caller's mistake, unlike any other error of a search."""
    code = sqlstate(exc)
    if code is not None:
        return code == "2201B"  # invalid_regular_expression
    return "user-defined function raised exception" in str(exc)


# Citus reports a shard's refusal at commit (a deferred key that no longer holds there) as an
# internal error of the coordinator, without the shard's own code.
_SHARD_COMMIT_FAILED = "could not commit transaction for shard"


def is_refused_at_commit(exc: BaseException) -> bool:
    """Whether a database error raised by a ``COMMIT`` is the database refusing what the
    transaction did as the data stands now (a deferred constraint: a row it refers to was
    removed meanwhile; a serialization failure): nothing of it was saved."""
    code = sqlstate(exc)
    if code is None:
        return isinstance(exc, IntegrityError)  # (SQLite checks its deferred keys at commit)
    return code.startswith(("23", "40")) or (code == "XX000" and _SHARD_COMMIT_FAILED in str(exc))
