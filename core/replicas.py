"""Read replicas: which database a request reads from, and whether a replica may be used.

``DATABASE_REPLICA_URLS`` names the replicas (database aliases ``replica1``, ``replica2``, …).
An API request that only reads (``GET``/``HEAD``) is served from a healthy replica unless its
principal wrote within the read-your-writes window (``READ_YOUR_WRITES_SECONDS``, kept in the
shared cache, so every web node knows); everything else reads and writes the primary
(``default``): writes, every request of a principal that has just written, and every request
while no replica is healthy. The request's whole transaction, its row-security context
included, is on the database it reads from (:func:`reading_from`); the principal lookup stays on
the primary, so revoking a token or a scope takes effect at once on replicas too.

A replica is healthy when it answers and its replay is no more than ``REPLICA_MAX_LAG_SECONDS``
behind what it has received, with its WAL receiver running. Each process checks each replica
at most every ``REPLICA_CHECK_SECONDS``; a replica that fails while serving a request is marked
down at once (the request is served again from the primary, see accounts.api.base). ``/readyz``
and ``/metrics`` report every replica's state and lag.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connections

from core.database import is_statement_timeout

logger = logging.getLogger(__name__)

REPLICA_PREFIX = "replica"
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
T = TypeVar("T")
_reading_from: ContextVar[str | None] = ContextVar("reading_from", default=None)

# Seconds behind: 0 when everything received is replayed; else the time since the last replayed
# transaction. NULL: no WAL receiver (cut off from the primary: its data may be any age). (Any
# role sees whether the receiver runs, its pid; its details need pg_read_all_stats.)
LAG_QUERY = """
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0
  WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE pid IS NOT NULL) THEN NULL
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX)]


class ReplicaRouter:
    """Reads go where the request reads from (:func:`reading_from`), else to the primary;
    writes always to the primary; migrations only to the primary (replicas replay them)."""

    def db_for_read(self, model, **hints):
        return _reading_from.get()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


def current_alias() -> str:
    """The database reads go to right now (the primary outside :func:`reading_from`)."""
    return _reading_from.get() or DEFAULT_DB_ALIAS


@contextmanager
def reading_from(alias: str) -> Iterator[None]:
    token = _reading_from.set(None if alias == DEFAULT_DB_ALIAS else alias)
    try:
        yield
    finally:
        _reading_from.reset(token)


# -- health -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaState:
    alias: str
    lag: float | None  # seconds behind; None: down or cut off from the primary
    checked_at: float

    @property
    def usable(self) -> bool:
        return self.lag is not None and self.lag <= settings.REPLICA_MAX_LAG_SECONDS

    def describe(self) -> str:
        if self.lag is None:
            return "down"
        return f"ok, {self.lag:.1f} s behind" if self.usable else f"lagging {self.lag:.1f} s"


_states: dict[str, ReplicaState] = {}


def check(alias: str) -> ReplicaState:
    """Ask the replica how far behind it is (one statement; a failure marks it down)."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_QUERY)
            (lag,) = cursor.fetchone()
        state = ReplicaState(alias, None if lag is None else float(lag), time.monotonic())
    except DatabaseError as exc:
        logger.debug("replica %s does not answer: %s", alias, exc)
        connections[alias].close()
        state = ReplicaState(alias, None, time.monotonic())
    previous = _states.get(alias)
    if previous is None or previous.usable != state.usable:  # (changes only, not every check)
        log = logger.info if state.usable else logger.warning
        log("replica %s %s: %s", alias, "in use" if state.usable else "skipped", state.describe())
    _states[alias] = state
    return state


def state_of(alias: str) -> ReplicaState:
    known = _states.get(alias)
    if known is None or time.monotonic() - known.checked_at >= settings.REPLICA_CHECK_SECONDS:
        return check(alias)
    return known


def mark_down(alias: str) -> None:
    """The replica failed under a request: skipped until its next check."""
    logger.warning("replica %s failed under a request: skipped, the primary answers", alias)
    _states[alias] = ReplicaState(alias, None, time.monotonic())
    connections[alias].close()


def healthy_replica() -> str | None:
    """A usable replica (spread at random over the usable ones), or None."""
    usable = [alias for alias in replica_aliases() if state_of(alias).usable]
    return random.choice(usable) if usable else None  # noqa: S311 - load spreading


# -- read-your-writes ----------------------------------------------------------------------------


def _writer_key(writer: str) -> str:
    return f"replicas:wrote:{writer}"


def remember_write(writer: str) -> None:
    """``writer`` (a principal's stable name) reads from the primary for the next
    ``READ_YOUR_WRITES_SECONDS``."""
    if replica_aliases():
        cache.set(_writer_key(writer), 1, timeout=settings.READ_YOUR_WRITES_SECONDS)


def read_alias(writer: str | None) -> str:
    """Where a read-only request of ``writer`` (None: unknown) reads from."""
    if not replica_aliases():
        return DEFAULT_DB_ALIAS
    if writer is not None and cache.get(_writer_key(writer)) is not None:
        return DEFAULT_DB_ALIAS
    return healthy_replica() or DEFAULT_DB_ALIAS


def serve(read_only: bool, writer: str | None, handle: Callable[[str], T]) -> T:
    """``handle(alias)``: the request served from the database it reads from (a replica only
    when ``read_only``); a replica that fails under it is marked down and the primary serves
    the request again (it only read, so it may)."""
    alias = read_alias(writer) if read_only else DEFAULT_DB_ALIAS
    try:
        return handle(alias)
    except OperationalError as exc:
        if alias == DEFAULT_DB_ALIAS or is_statement_timeout(exc):
            raise  # (a statement too slow for the replica would be as slow on the primary)
        mark_down(alias)
        return handle(DEFAULT_DB_ALIAS)
