"""Where the read-access log lives, and how it is kept.

On PostgreSQL ``customers_customerview`` is one table to every query, made of parts:

- ``customers_customerview_inbox`` (lines not yet ``filed``): where a read writes its lines. It
  has no index, so a list page's sixty lines cost little more than one.
- ``customers_customerview_filed``: the indexed lines, partitioned by month of ``keep_until``
  (the day a line may go: the day it was written plus its tenant's retention), with a default
  partition for months that have none yet.

:func:`file_inbox` moves the inbox's lines into the filed partitions (the task worker runs it
every few seconds while reads come in, and ``keep_read_log`` daily); a line is in the log, and
in every answer about it, from the moment its read committed, wherever it waits.
:func:`keep` (``keep_read_log``, daily, as the tables' owner) makes the months ahead, moves any
lines that landed in the default partition into their month, and drops each month whose last day
has passed: lines go as whole partitions, not row by row. On SQLite the log is one plain table
and :func:`keep` deletes the lines whose day has passed.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts import rowsecurity
from core import roles
from customers import read_log_journal
from customers.models import CustomerView
from tenancy.models import Tenant

TABLE = "customers_customerview"
INBOX = f"{TABLE}_inbox"
FILED = f"{TABLE}_filed"
DEFAULT = f"{FILED}_default"
FILE_BATCH = 50_000
MONTHS_AHEAD = 2  # months made beyond the longest retention's, so writes never wait for DDL

_COLUMNS = (
    "id, tenant_id, customer_number, viewed_at, actor_kind, actor_id, actor_name, channel, how, "
    "expanded, purpose, keep_until"
)
# One statement per batch: the inbox's lines out, the same lines (same ids) in as filed. A
# batch is the inbox's lines up to the id that ends its first FILE_BATCH (one pass that keeps
# the lowest ids), taken by a plain scan with that bound: no join. The inbox has no index and its
# statistics are mostly of an emptier moment (it fills and empties all day); a batch chosen by
# ``id IN (…)`` was joined back to it by a nested loop: quadratic, over ten minutes for a backlog
# of 170,000 lines (a worker that was down), where this takes about a second.
# (Table and column names here and below are this module's constants; values are parameters.)
_FILE = f"""
WITH moved AS (
  DELETE FROM {TABLE} WHERE NOT filed AND id <= coalesce(
    (SELECT id FROM {TABLE} WHERE NOT filed ORDER BY id OFFSET %s LIMIT 1),
    9223372036854775807
  ) RETURNING {_COLUMNS}
)
INSERT INTO {TABLE} ({_COLUMNS}, filed) SELECT {_COLUMNS}, true FROM moved
"""  # noqa: S608


def partitioned() -> bool:
    return connection.vendor == "postgresql"


def file_inbox() -> int:
    """Move every line waiting in the inbox into the indexed partitions; returns how many.
    Safe to run twice at once (a line is moved by the one that deletes it)."""
    if not partitioned():
        return 0
    filed = 0
    while True:
        with (
            rowsecurity.row_context(
                rowsecurity.ALL_TENANTS, reason="filing the read-access log", using="default"
            ),
            connection.cursor() as cursor,
        ):
            cursor.execute(_FILE, [FILE_BATCH - 1])
            moved = cursor.rowcount
        filed += moved
        if moved < FILE_BATCH:
            return filed


@dataclass
class Kept:
    shipped: int = 0  # journal lines of processes gone, shipped (customers.read_log_journal)
    filed: int = 0
    made: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    rehomed: int = 0  # lines moved out of the default partition into their month
    deleted: int = 0  # lines deleted one by one (SQLite; the default partition's past lines)

    def __str__(self) -> str:
        return (
            f"shipped={self.shipped} filed={self.filed} made={len(self.made)} "
            f"dropped={len(self.dropped)} rehomed={self.rehomed} deleted={self.deleted}"
        )


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def partition_name(month: date) -> str:
    return f"{FILED}_{month:%Y_%m}"


def keep(today: date | None = None) -> Kept:
    """The daily upkeep: ship the journal files of processes gone; file the inbox; move lines
    out of the default partition into their months; make the months ahead; drop the months
    that have passed (PostgreSQL, as the tables' owner; each step a short transaction of its
    own, waiting at most ``LOCK_WAIT`` for the table)."""
    today = today or timezone.localdate()
    kept = Kept(shipped=read_log_journal.ship_orphans(), filed=file_inbox())
    if not partitioned():
        with rowsecurity.row_context(rowsecurity.ALL_TENANTS, reason="the read log's retention"):
            kept.deleted, _ = CustomerView.objects.filter(keep_until__lt=today).delete()
        return kept
    with roles.as_database_owner() as service_role:
        existing = _partitions()
        waiting = _months_in_default(today)
        for month in sorted(set(waiting) | set(_months_needed(today, existing))):
            moved = _make(month, service_role)
            existing[month] = partition_name(month)
            if moved is not None:
                kept.rehomed += moved
                kept.made.append(partition_name(month))
        for month, name in sorted(existing.items()):
            if _next_month(month) <= today:
                with _ddl() as cursor:
                    cursor.execute(f"DROP TABLE IF EXISTS {name}")
                kept.dropped.append(name)
        with _ddl() as cursor:
            cursor.execute(f"DELETE FROM {DEFAULT} WHERE keep_until < %s", [today])  # noqa: S608
            kept.deleted = cursor.rowcount
    return kept


LOCK_WAIT = "10s"


@contextmanager
def _ddl():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
        yield cursor


def _partitions() -> dict[date, str]:
    """The filed months that exist: {first day: table}."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid "
            "WHERE inhparent = %s::regclass AND child.relname <> %s",
            [FILED, DEFAULT],
        )
        names = [name for (name,) in cursor.fetchall()]
    months = {}
    for name in names:
        year, month = name.removeprefix(f"{FILED}_").split("_")
        months[date(int(year), int(month), 1)] = name
    return months


def _months_needed(today: date, existing: dict[date, str]) -> list[date]:
    """Every month a line written from today until the months ahead can be kept until: from
    the shortest retention's to the longest's, and ``MONTHS_AHEAD`` more."""
    days = Tenant.objects.values_list("read_log_days", flat=True)
    default = Tenant._meta.get_field("read_log_days").default
    shortest, longest = min(days, default=default), max(days, default=default)
    month, last = _month(today + timedelta(days=shortest)), _month(today + timedelta(days=longest))
    for _ in range(MONTHS_AHEAD):
        last = _next_month(last)
    needed = []
    while month <= last:
        if month not in existing:
            needed.append(month)
        month = _next_month(month)
    return needed


def _months_in_default(today: date) -> list[date]:
    """The months of lines that wait in the default partition (none had a partition when they
    were filed), those not past."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', keep_until)::date FROM {DEFAULT} "  # noqa: S608
            "WHERE keep_until >= %s ORDER BY 1",
            [_month(today)],
        )
        return [month for (month,) in cursor.fetchall()]


def make_months(first: date, last: date) -> list[str]:
    """The filed months from ``first``'s to ``last``'s that do not exist yet (PostgreSQL, as the
    owner); returns the tables made."""
    with roles.as_database_owner() as service_role:
        existing, made = _partitions(), []
        month = _month(first)
        while month <= last:
            if month not in existing and _make(month, service_role) is not None:
                made.append(partition_name(month))
            month = _next_month(month)
    return made


def _make(month: date, service_role: str | None) -> int | None:
    """A month's partition, in one transaction: made, the month's lines moved into it from the
    default partition (where they waited while it did not exist; a partition cannot be attached
    over lines the default partition holds), then attached (its indexes are made from the filed
    table's). Returns how many lines moved (None: another upkeep made it meanwhile)."""
    name = partition_name(month)
    with _ddl() as cursor:
        # Nobody files into the default partition meanwhile (a line of this month landing there
        # between the move and the attach would fail the attach), and of two upkeeps at once
        # the second finds the month made.
        cursor.execute(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SELECT to_regclass(%s)", [name])
        if cursor.fetchone()[0] is not None:
            return None
        cursor.execute(f"CREATE TABLE {name} (LIKE {FILED})")
        # (Reached through the log, whose policies apply; named directly: nothing but to the
        # owner.)
        cursor.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
        cursor.execute(
            f"WITH lines AS (DELETE FROM {DEFAULT} WHERE keep_until >= %s AND keep_until < %s "  # noqa: S608
            f"RETURNING *) INSERT INTO {name} SELECT * FROM lines",
            [month, _next_month(month)],
        )
        moved = cursor.rowcount
        cursor.execute(
            f"ALTER TABLE {FILED} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
            [month, _next_month(month)],
        )
        if service_role:
            roles.grant_as_on(FILED, name, service_role)
    return moved
