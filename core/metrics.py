"""Prometheus metrics at ``/metrics``: request latency by route and status, database queries by
route (both from :mod:`core.observability`), and the task queue's depth and the read replicas'
lag, read when scraped.

Only callers from ``METRICS_ALLOWED_IPS`` (loopback by default) or with
``Authorization: Bearer <METRICS_TOKEN>`` get an answer; everyone else gets a plain 404. A
request that carries any header a proxy adds (``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``
and their kin) needs the token, since the proxy's own address would otherwise admit anyone behind
it; only the peer address of a direct connection is trusted. Under
gunicorn with several workers, ``PROMETHEUS_MULTIPROC_DIR`` makes every worker's numbers add up
(``config/gunicorn.py`` sets it up).
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_tasks.base import TaskResultStatus
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from core import replicas


class TaskQueueCollector:
    """Tasks waiting for a worker and tasks running (django-tasks-db), counted when scraped."""

    name = "task_queue_depth"
    documentation = "Background tasks by status (ready: waiting for a worker)."

    def describe(self):
        yield GaugeMetricFamily(self.name, self.documentation, labels=["status"])

    def collect(self):
        from django_tasks_db.models import DBTaskResult

        counts = dict.fromkeys((TaskResultStatus.READY, TaskResultStatus.RUNNING), 0)
        grouped = DBTaskResult.objects.filter(status__in=list(counts)).values("status")
        counts.update(grouped.annotate(n=Count("pk")).values_list("status", "n"))
        depth = GaugeMetricFamily(self.name, self.documentation, labels=["status"])
        for status, count in counts.items():
            depth.add_metric([str(status).lower()], count)
        yield depth


class ReplicaCollector:
    """Each read replica's lag and whether it is used, checked when scraped (core.replicas)."""

    def describe(self):
        yield from self._families()

    def _families(self):
        lag = GaugeMetricFamily(
            "database_replica_lag_seconds",
            "How far each read replica's replay is behind what it received (NaN: down).",
            labels=["replica"],
        )
        usable = GaugeMetricFamily(
            "database_replica_usable",
            "1 when a read replica answers within the lag limit and serves reads, else 0.",
            labels=["replica"],
        )
        return lag, usable

    def collect(self):
        lag, usable = self._families()
        for alias in replicas.replica_aliases():
            state = replicas.check(alias)
            lag.add_metric([alias], float("nan") if state.lag is None else state.lag)
            usable.add_metric([alias], 1 if state.usable else 0)
        yield lag
        yield usable


TASK_QUEUE = TaskQueueCollector()
REGISTRY.register(TASK_QUEUE)
REPLICAS = ReplicaCollector()
REGISTRY.register(REPLICAS)


def _collector_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY  # this process's metrics, and the process collectors
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # every gunicorn worker's, added up
    registry.register(TASK_QUEUE)
    registry.register(REPLICAS)
    return registry


# Headers by which a reverse proxy names the caller behind it; any of them means the peer address
# is the proxy's, not the caller's.
PROXY_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_REAL_IP",
    "HTTP_X_CLIENT_IP",
    "HTTP_CLIENT_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_X_CLUSTER_CLIENT_IP",
    "HTTP_VIA",
)


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    if any(header in request.META for header in PROXY_HEADERS):
        # Came through a proxy: the proxy's own (allowed) address says nothing about the
        # caller, so only the token admits it.
        return False
    return request.META.get("REMOTE_ADDR") in settings.METRICS_ALLOWED_IPS


@never_cache
@require_GET
def metrics(request):
    if not _allowed(request):
        raise Http404
    return HttpResponse(generate_latest(_collector_registry()), content_type=CONTENT_TYPE_LATEST)
