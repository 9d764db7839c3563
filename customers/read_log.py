"""The read-access log: who was served which customers, when, through which door and how.

Every edge that serves customers to a caller (the API's reads, the back office's customer page
and list) calls :func:`record` with what it is about to answer. The rows go in with one
``INSERT`` in the transaction that read the customers (on the primary: a request served from a
replica writes them there in a transaction of their own), before the response exists: a read
that was answered is in the log, whatever happens to the process afterwards.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable
from datetime import timedelta

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone
from prometheus_client import Counter

from accounts import rowsecurity
from accounts.principal import API_CLIENT, EMPLOYEE, Principal
from core import replicas
from core.errors import InvalidInput
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
    if replicas.current_alias() == DEFAULT_DB_ALIAS:
        _insert(DEFAULT_DB_ALIAS, line, served)
        _watch(principal, served)
    else:  # (read from a replica: the log lives on the primary)
        with rowsecurity.row_context(
            rowsecurity.RowContext.of(principal), reason="the read-access log", using="default"
        ):
            _insert(DEFAULT_DB_ALIAS, line, served)
            _watch(principal, served)
    return len(served)


# One statement whatever the page's size, its customers as two arrays (PostgreSQL), and nothing
# returned: a list page's sixty lines cost about what one costs.
_INSERT = """
INSERT INTO customers_customerview (tenant_id, customer_number, viewed_at, actor_kind, actor_id,
  actor_name, channel, how, expanded, purpose)
SELECT served.tenant_id, served.number, now(), %s, %s, %s, %s, %s, %s, %s
FROM unnest(%s::bigint[], %s::text[]) AS served (tenant_id, number)
"""


def _insert(alias: str, line: dict, served: list[tuple[int, str]]) -> None:
    connection = connections[alias]
    if connection.vendor != "postgresql":
        CustomerView.objects.using(alias).bulk_create(
            CustomerView(tenant_id=tenant_id, customer_number=number, **line)
            for tenant_id, number in served
        )
        return
    fields = ("actor_kind", "actor_id", "actor_name", "channel", "how", "expanded", "purpose")
    tenants = [tenant_id for tenant_id, _ in served]
    numbers = [number for _, number in served]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [*(line[name] for name in fields), tenants, numbers])


# -- mass-read alerts ----------------------------------------------------------------------
#
# Each identity's reads are counted per minute in the shared cache (Redis with REDIS_URL; else
# each process counts its own); when the window's count passes the tenant's limit, the log
# itself is asked how many *distinct* customers that was (at most once a minute per identity),
# and an alert is raised when it is more than the limit (at most one per identity per window).

_BUCKET = "mass-read:{tenant}:{kind}:{id}:{minute}"
_LIMITS = "mass-read-limits:{tenant}"
_CHECKED = "mass-read-checked:{tenant}:{kind}:{id}"
_LIMITS_SECONDS = 60  # a changed tenant setting applies within a minute
SAMPLE_SIZE = 100


def _watch(principal: Principal, served: list[tuple[int, str]]) -> None:
    if principal.kind not in (EMPLOYEE, API_CLIENT):
        return  # (operators' commands and platform superusers act for the platform)
    tenant_id = served[0][0]
    limit, minutes = _limits(tenant_id)
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


def _limits(tenant_id: int) -> tuple[int, int]:
    key = _LIMITS.format(tenant=tenant_id)
    limits = cache.get(key)
    if limits is None:
        limits = tuple(
            Tenant.objects.filter(pk=tenant_id)
            .values_list("mass_read_customers", "mass_read_minutes")
            .first()
            or (0, 1)
        )
        cache.set(key, limits, timeout=_LIMITS_SECONDS)
    return limits


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
