"""The read-access log: who was served which customers, when, through which door and how.

Every edge that serves customers to a caller (the API's reads, the back office's customer page
and list) calls :func:`record` with what it is about to answer, before the response exists: a
read that was answered is in the log, whatever happens to the process afterwards. Its lines go
one of two ways:

- with ``READ_LOG_JOURNAL`` set, into this process's journal file, flushed to the server's disk,
  and shipped into the log within a second or two (customers.read_log_journal);
- otherwise with one ``INSERT`` in the transaction that read the customers (on the primary: a
  request served from a replica writes them there in a transaction of their own). On
  PostgreSQL they land in the log's unindexed inbox, and the task worker files them into the
  indexed partitions within seconds (customers.read_log_store).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta
from typing import NamedTuple

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone
from django_tasks import task
from prometheus_client import Counter

from accounts import rowsecurity
from accounts.principal import API_CLIENT, EMPLOYEE, Principal
from core import cache as shared_cache
from core import plans, replicas
from core.errors import InvalidInput
from customers import read_log_journal, read_log_store
from customers.mail import send_mass_read_alert
from customers.models import CustomerView, MassReadAlert, ReadHow
from tenancy.models import Tenant

MASS_READ_ALERTS = Counter(
    "customer_mass_read_alerts",
    "Mass-read alerts raised: an identity read more distinct customers than its tenant allows.",
    ["tenant"],
)

PURPOSE_HEADER = "X-Purpose"
PURPOSE_MAX_LENGTH = 200


def purpose_of(text: str | None, *, field: str = PURPOSE_HEADER) -> str:
    """A caller's stated purpose, checked: at most 200 characters, no control characters."""
    purpose = (text or "").strip()
    if len(purpose) > PURPOSE_MAX_LENGTH:
        raise InvalidInput(
            f"The purpose is at most {PURPOSE_MAX_LENGTH} characters ({len(purpose):,} given).",
            field=field,
        )
    if any(unicodedata.category(character) == "Cc" for character in purpose):
        raise InvalidInput("The purpose cannot contain control characters.", field=field)
    return purpose


def record(
    principal: Principal,
    *,
    channel: str,
    how: ReadHow,
    served: Iterable[tuple[int, str]],
    purpose: str = "",
    expanded: Iterable[str] = (),
) -> int:
    """Log the customers in ``served`` (``(tenant_id, customer_number)``, each once however
    often it appears) as read by ``principal``. Returns how many rows were written."""
    served = list(dict.fromkeys(served))
    if not served:
        return 0
    line = {
        **principal.audit_fields(),
        "channel": channel,
        "how": how,
        "expanded": " ".join(sorted(expanded)),
        "purpose": purpose,
    }
    # Each line is kept for its customer's tenant's retention (a platform superuser's list may
    # serve several tenants; anyone else's, one: one lookup in the cache).
    tenants = {tenant_id: _settings(tenant_id) for tenant_id in dict.fromkeys(t for t, _ in served)}
    settings = tenants[served[0][0]]
    today = timezone.localdate()
    kept = {tenant_id: today + timedelta(days=s.keep_days) for tenant_id, s in tenants.items()}
    served = [(tenant_id, number, kept[tenant_id]) for tenant_id, number in served]
    if read_log_journal.enabled():  # (on this server's disk before the answer leaves)
        read_log_journal.append(timezone.now(), line, served)
    if replicas.current_alias() == DEFAULT_DB_ALIAS:
        _write_and_watch(principal, line, served, settings)
    else:  # (read from a replica: the log lives on the primary)
        with rowsecurity.row_context(
            rowsecurity.RowContext.of(principal), reason="the read-access log", using="default"
        ):
            _write_and_watch(principal, line, served, settings)
    return len(served)


def _write_and_watch(
    principal: Principal, line: dict, served: list[tuple], settings: _Settings
) -> None:
    if not read_log_journal.enabled():
        _insert(DEFAULT_DB_ALIAS, line, served)
        file_soon()
    _watch(principal, served, settings)


# One statement whatever the page's size, and nothing returned: a list page's sixty lines cost
# about what one costs. The common answer serves one tenant: its customers' numbers go as one
# string (a valid number has no space; psycopg quoted an array element by element, 0.2 ms a
# page), the tenant and the day kept as single values. Its plan is kept by the database
# session (core.plans: planning it under the log's policy cost more than running it); the
# parameters are typed for that.
_INSERT = """
INSERT INTO customers_customerview (tenant_id, customer_number, viewed_at, actor_kind, actor_id,
  actor_name, channel, how, expanded, purpose, keep_until, filed)
SELECT %s::bigint, served.number, now(), %s::text, %s::text, %s::text, %s::text, %s::text,
  %s::text, %s::text, %s::date, false
FROM unnest(string_to_array(%s::text, ' ')) AS served (number)
"""
# Several tenants (a platform superuser's list), or a number with a space (made before numbers
# were checked): each line's values as arrays.
_INSERT_EACH = """
INSERT INTO customers_customerview (tenant_id, customer_number, viewed_at, actor_kind, actor_id,
  actor_name, channel, how, expanded, purpose, keep_until, filed)
SELECT served.tenant_id, served.number, now(), %s, %s, %s, %s, %s, %s, %s, served.keep_until,
  false
FROM unnest(%s::bigint[], %s::text[], %s::date[]) AS served (tenant_id, number, keep_until)
"""
_LINE_FIELDS = read_log_journal.LINE_FIELDS


def _insert(alias: str, line: dict, served: list[tuple[int, str, date]]) -> None:
    """``served``: (tenant id, customer number, kept until) of each line."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        CustomerView.objects.using(alias).bulk_create(
            CustomerView(
                tenant_id=tenant_id, customer_number=number, keep_until=kept, filed=True, **line
            )
            for tenant_id, number, kept in served
        )
        return
    values = [line[name] for name in _LINE_FIELDS]
    tenant_id, _, kept = served[0]
    numbers = " ".join(number for _, number, _ in served)
    one_tenant = all(tenant == tenant_id and number for tenant, number, _ in served)
    if one_tenant and numbers.count(" ") == len(served) - 1:
        sql, params = _INSERT, [tenant_id, *values, kept, numbers]
        statement, _ = plans.prepared(connection, sql, params)
    else:
        sql, params = _INSERT_EACH, [*values, *map(list, zip(*served, strict=True))]
        statement = sql
    with connection.cursor() as cursor, plans.forgotten_on_failure(connection, sql):
        cursor.execute(statement, params)


# -- mass-read alerts ----------------------------------------------------------------------
#
# Each identity's reads are counted per minute in the shared cache (Redis with REDIS_URL; else
# each process counts its own); when the window's count passes the tenant's limit, the log
# itself is asked how many *distinct* customers that was (at most once a minute per identity),
# and an alert is raised when it is more than the limit (at most one per identity per window).
# A read costs one visit to the cache: the current minute's count goes up (one round trip to
# Redis); the window's earlier minutes, which no longer change, are read once a minute. An
# identity over its limit (a busy integration can stay there all day) is checked at most every
# CHECK_EVERY_SECONDS: the shared mark says a check was made, and a process that found it
# remembers so for CHECKED_MEMO_SECONDS instead of asking again at every read, so the next check
# comes within a minute of the last.

_BUCKET = "mass-read:{tenant}:{kind}:{id}:{minute}"
_CHECKED = "mass-read-checked:{tenant}:{kind}:{id}"
SAMPLE_SIZE = 100
CHECK_EVERY_SECONDS = 55
CHECKED_MEMO_SECONDS = 5

# {(tenant, kind, id, minute, window): the reads of the window's minutes before that minute}
_earlier_reads: dict[tuple, int] = {}
# {checked mark: when this process asks for it again (its clock)}
_checked_until: dict[str, float] = {}
_MEMO_MAX = 10_000  # entries this process keeps in each of its copies


def _watch(principal: Principal, served: list[tuple], settings: _Settings) -> None:
    if principal.kind not in (EMPLOYEE, API_CLIENT):
        return  # (operators' commands and platform superusers act for the platform)
    tenant_id = served[0][0]
    limit, minutes = settings.mass_read_customers, settings.mass_read_minutes
    if not limit:
        return
    names = {"tenant": tenant_id, "kind": principal.kind, "id": principal.id}
    minute = int(time.time() // 60)
    this_minute = shared_cache.count(
        _BUCKET.format(minute=minute, **names), len(served), (minutes + 1) * 60
    )
    if this_minute + _earlier(names, minute, minutes) <= limit:
        return
    checked = _CHECKED.format(**names)
    if _checked_until.get(checked, 0) > time.monotonic():
        return
    if cache.add(checked, 1, timeout=CHECK_EVERY_SECONDS):
        _check(principal, tenant_id, limit, minutes)
        return
    if len(_checked_until) >= _MEMO_MAX:
        _checked_until.clear()
    _checked_until[checked] = time.monotonic() + CHECKED_MEMO_SECONDS


def _earlier(names: dict, minute: int, minutes: int) -> int:
    """The reads of the window's minutes before ``minute``."""
    key = (*names.values(), minute, minutes)
    found = _earlier_reads.get(key)
    if found is None:
        window = [_BUCKET.format(minute=minute - ago, **names) for ago in range(1, minutes)]
        found = sum(cache.get_many(window).values()) if window else 0
        if len(_earlier_reads) >= _MEMO_MAX:
            _earlier_reads.clear()
        _earlier_reads[key] = found
    return found


class _Settings(NamedTuple):
    mass_read_customers: int
    mass_read_minutes: int
    keep_days: int


_SETTINGS_SECONDS = 60  # a changed tenant setting applies within a minute
_settings_read: dict[int, tuple[float, _Settings]] = {}  # {tenant id: (read at, settings)}


def _settings(tenant_id: int) -> _Settings:
    """The tenant's alert limits and retention, as this process read them within the last
    minute (changed in this process, at once)."""
    now = time.monotonic()
    read = _settings_read.get(tenant_id)
    if read is not None and now - read[0] < _SETTINGS_SECONDS:
        return read[1]
    found = _Settings(
        *(
            Tenant.objects.filter(pk=tenant_id)
            .values_list("mass_read_customers", "mass_read_minutes", "read_log_days")
            .first()
            or (0, 1, Tenant._meta.get_field("read_log_days").default)
        )
    )
    if len(_settings_read) >= _MEMO_MAX:
        _settings_read.clear()
    _settings_read[tenant_id] = (now, found)
    return found


def forget(tenant_id: int | None = None) -> None:
    """Drop this process's copies of a tenant's settings (every tenant's: None) and of the
    window counts (tests: ids and clocks repeat)."""
    if tenant_id is None:
        _settings_read.clear()
        _earlier_reads.clear()
        _checked_until.clear()
    else:
        _settings_read.pop(tenant_id, None)


# -- filing ---------------------------------------------------------------------------------
#
# The inbox is filed by the task worker: at most one filing is asked for every FILE_EVERY
# seconds (per cache: every process with REDIS_URL, else each process), after the read's commit.

_FILING = "read-log-filing"
FILE_EVERY_SECONDS = 5


_next_filing = 0.0  # (this process asks again at the earliest then)


def file_soon() -> None:
    """Ask the task worker to file the inbox once the current transaction commits (at most
    once every ``FILE_EVERY_SECONDS``)."""
    global _next_filing  # (a per-process clock: spares the cache most calls)
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql" or time.monotonic() < _next_filing:
        return
    _next_filing = time.monotonic() + FILE_EVERY_SECONDS
    if cache.add(_FILING, 1, timeout=FILE_EVERY_SECONDS):
        transaction.on_commit(file_read_log.enqueue, using=DEFAULT_DB_ALIAS)


@task()
def file_read_log() -> int:
    """Move the read log's inbox into its indexed partitions."""
    return read_log_store.file_inbox()


def _check(principal: Principal, tenant_id: int, limit: int, minutes: int) -> MassReadAlert | None:
    since = timezone.now() - timedelta(minutes=minutes)
    mine = {"tenant_id": tenant_id, "actor_kind": principal.kind, "actor_id": principal.id}
    read = (
        CustomerView.objects.filter(viewed_at__gte=since, **mine)
        .values_list("customer_number", flat=True)
        .distinct()
        .order_by("customer_number")
    )
    count = read.count()
    if count <= limit or MassReadAlert.objects.filter(raised_at__gte=since, **mine).exists():
        return None
    alert = MassReadAlert.objects.create(
        actor_name=principal.name,
        window_minutes=minutes,
        customers=count,
        sample=list(read[:SAMPLE_SIZE]),
        **mine,
    )
    MASS_READ_ALERTS.labels(tenant=principal.tenant_code).inc()
    transaction.on_commit(lambda: send_mass_read_alert.enqueue(alert.pk))
    return alert
