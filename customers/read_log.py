"""The read-access log: who was served which customers, when, through which door and how.

Every edge that serves customers to a caller (the API's reads, the back office's customer page
and list) calls :func:`record` with what it is about to answer. The rows go in with one
``INSERT`` in the transaction that read the customers (on the primary: a request served from a
replica writes them there in a transaction of their own), before the response exists: a read
that was answered is in the log, whatever happens to the process afterwards. On PostgreSQL
they land in the log's unindexed inbox, and the task worker files them into the indexed
partitions within seconds (customers.read_log_store).
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
from core import replicas
from core.errors import InvalidInput
from customers import read_log_store
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
    if replicas.current_alias() == DEFAULT_DB_ALIAS:
        _insert(DEFAULT_DB_ALIAS, line, served)
        _watch(principal, served, settings)
    else:  # (read from a replica: the log lives on the primary)
        with rowsecurity.row_context(
            rowsecurity.RowContext.of(principal), reason="the read-access log", using="default"
        ):
            _insert(DEFAULT_DB_ALIAS, line, served)
            _watch(principal, served, settings)
    _file_soon()
    return len(served)


# One statement whatever the page's size, its customers as two arrays (PostgreSQL), and nothing
# returned: a list page's sixty lines cost about what one costs.
_INSERT = """
INSERT INTO customers_customerview (tenant_id, customer_number, viewed_at, actor_kind, actor_id,
  actor_name, channel, how, expanded, purpose, keep_until, filed)
SELECT served.tenant_id, served.number, now(), %s, %s, %s, %s, %s, %s, %s, served.keep_until,
  false
FROM unnest(%s::bigint[], %s::text[], %s::date[]) AS served (tenant_id, number, keep_until)
"""


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
    fields = ("actor_kind", "actor_id", "actor_name", "channel", "how", "expanded", "purpose")
    tenants, numbers, kept = (list(column) for column in zip(*served, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [*(line[name] for name in fields), tenants, numbers, kept])


# -- mass-read alerts ----------------------------------------------------------------------
#
# Each identity's reads are counted per minute in the shared cache (Redis with REDIS_URL; else
# each process counts its own); when the window's count passes the tenant's limit, the log
# itself is asked how many *distinct* customers that was (at most once a minute per identity),
# and an alert is raised when it is more than the limit (at most one per identity per window).

_BUCKET = "mass-read:{tenant}:{kind}:{id}:{minute}"
_LIMITS = "read-log-settings:{tenant}"
_CHECKED = "mass-read-checked:{tenant}:{kind}:{id}"
_LIMITS_SECONDS = 60  # a changed tenant setting applies within a minute
SAMPLE_SIZE = 100


def _watch(principal: Principal, served: list[tuple], settings: _Settings) -> None:
    if principal.kind not in (EMPLOYEE, API_CLIENT):
        return  # (operators' commands and platform superusers act for the platform)
    tenant_id = served[0][0]
    limit, minutes = settings.mass_read_customers, settings.mass_read_minutes
    if not limit:
        return
    names = {"tenant": tenant_id, "kind": principal.kind, "id": principal.id}
    minute = int(time.time() // 60)
    key = _BUCKET.format(minute=minute, **names)
    if not cache.add(key, len(served), timeout=(minutes + 1) * 60):
        try:
            cache.incr(key, len(served))
        except ValueError:  # (expired in between)
            cache.set(key, len(served), timeout=(minutes + 1) * 60)
    window = [_BUCKET.format(minute=minute - ago, **names) for ago in range(minutes)]
    if sum(cache.get_many(window).values()) <= limit:
        return
    if cache.add(_CHECKED.format(**names), 1, timeout=60):
        _check(principal, tenant_id, limit, minutes)


class _Settings(NamedTuple):
    mass_read_customers: int
    mass_read_minutes: int
    keep_days: int


def _settings(tenant_id: int) -> _Settings:
    """The tenant's alert limits and retention, from the cache (read at most once a minute)."""
    key = _LIMITS.format(tenant=tenant_id)
    found = cache.get(key)
    if found is None:
        found = tuple(
            Tenant.objects.filter(pk=tenant_id)
            .values_list("mass_read_customers", "mass_read_minutes", "read_log_days")
            .first()
            or (0, 1, Tenant._meta.get_field("read_log_days").default)
        )
        cache.set(key, found, timeout=_LIMITS_SECONDS)
    return _Settings(*found)


# -- filing ---------------------------------------------------------------------------------
#
# The inbox is filed by the task worker: at most one filing is asked for every FILE_EVERY
# seconds (per cache: every process with REDIS_URL, else each process), after the read's commit.

_FILING = "read-log-filing"
FILE_EVERY_SECONDS = 5


_next_filing = 0.0  # (this process asks again at the earliest then)


def _file_soon() -> None:
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
