"""Brute-force limits on credentials.

The token endpoint counts failed attempts per client id, per username and per client address
in Django's cache (local memory, or Redis when ``REDIS_URL`` is set, so several web processes
share the counts); once a key reaches ``TOKEN_FAILURE_LIMIT`` failures within
``TOKEN_FAILURE_WINDOW`` seconds, requests for it answer ``429`` with ``Retry-After`` until the
window ends, before any secret is checked (so a flood costs no hashing either). The admin login
is limited by django-axes with the same cache; :func:`admin_lockout_response` is its answer.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.shortcuts import render

logger = logging.getLogger("security")


@dataclass(frozen=True)
class Limit:
    kind: str  # "client", "username", "address"
    value: str

    @property
    def cache_key(self) -> str:
        # Hashed: any text a client sends makes a short, portable key.
        digest = hashlib.sha256(self.value.encode("utf-8", "replace")).hexdigest()
        return f"token-failures:{self.kind}:{digest}"


def retry_after(limits: list[Limit]) -> int:
    """Seconds until every limit is open again; 0 when none is closed."""
    now = time.time()
    waits = []
    for limit in limits:
        state = cache.get(limit.cache_key)
        if state and state[0] >= settings.TOKEN_FAILURE_LIMIT:
            waits.append(int(state[1] + settings.TOKEN_FAILURE_WINDOW - now) + 1)
    return max(waits, default=0)


def record_failure(limits: list[Limit], reason: str) -> None:
    now = time.time()
    for limit in limits:
        count, started = cache.get(limit.cache_key) or (0, now)
        remaining = max(1, int(started + settings.TOKEN_FAILURE_WINDOW - now))
        cache.set(limit.cache_key, (count + 1, started), timeout=remaining)
    logger.warning(
        "Token request failed (%s) for %s",
        reason,
        ", ".join(f"{limit.kind}={limit.value[:80]!r}" for limit in limits),
    )


def admin_lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out admin login: the login page's look, status 429."""
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "minutes": settings.LOGIN_COOLOFF_MINUTES,
    }
    response = render(request, "admin/locked_out.html", context, status=429)
    response["Retry-After"] = str(settings.LOGIN_COOLOFF_MINUTES * 60)
    logger.warning("Admin login locked out for %r", (credentials or {}).get("username"))
    return response
