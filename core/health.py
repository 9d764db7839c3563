"""Probes for load balancers and orchestrators, outside tenant authentication.

- ``/healthz``: the process answers (no database, no cache): liveness.
- ``/readyz``: the database answers and every migration is applied, and the shared cache
  answers when ``REDIS_URL`` is configured: readiness. Cheap enough to be probed every second:
  one ``SELECT 1``, one cache round trip, and the migration check only until it first passes
  (migrations are not unapplied under a running process). Read replicas, when configured, are
  reported with their lag (``ok, 0.3 s behind``, ``lagging 12.0 s``, ``down``) but never make the
  service unready: the primary serves the reads a replica cannot.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core import replicas

logger = logging.getLogger(__name__)
_migrations_applied = False


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _migrations() -> str:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return f"{len(pending)} migration(s) not applied"
        _migrations_applied = True
    return "ok"


def _cache() -> str:
    if not settings.REDIS_URL:
        return "not configured (local memory)"
    # (Redis itself: the cache's operations fall back to local memory, core.cache)
    return "ok" if caches[DEFAULT_CACHE_ALIAS].answers() else "no answer"


@never_cache
@require_GET
def readyz(request):
    checks: dict[str, str] = {}
    for name, check in (("database", _database), ("migrations", _migrations), ("cache", _cache)):
        try:
            checks[name] = check()
        except Exception as exc:  # the database's or the cache client's: a probe never 500s
            logger.warning("readiness check %s failed: %s", name, exc)
            checks[name] = f"failed: {exc.__class__.__name__}"
    ready = all(value == "ok" or value.startswith("not configured") for value in checks.values())
    body: dict = {"status": "ready" if ready else "not ready", "checks": checks}
    aliases = replicas.replica_aliases()
    if aliases:
        # Reported, not required: without a usable replica the primary serves every read.
        body["replicas"] = {alias: replicas.check(alias).describe() for alias in aliases}
    return JsonResponse(body, status=200 if ready else 503)


__all__ = ["healthz", "readyz"]
