"""Brute-force limits on credentials.

The token endpoint counts failed attempts in Django's cache (local memory, or Redis when
``REDIS_URL`` is set, so every web process shares the counts), in three counters per request:

- per identity **and** address (``TOKEN_FAILURE_LIMIT``, 10): guessing one client's secret or
  one employee's password from one place;
- per address (``TOKEN_ADDRESS_FAILURE_LIMIT``, 30): one place guessing many identities;
- per identity from every address (``TOKEN_IDENTITY_FAILURE_LIMIT``, 100): a distributed
  guess. Much higher than the first, so nobody can lock a real client or employee out of their
  own address with a few requests in their name.

Each counter is a fixed window of ``TOKEN_FAILURE_WINDOW`` seconds from its first failure. An
attempt first *reserves* its place in every counter with an atomic increment (``cache.incr``,
Redis ``INCR``); an attempt that would go over a limit is refused with ``429`` before any secret
is checked (so a flood costs no hashing either), and concurrent guesses can never check more
secrets than the limit allows. A successful or merely malformed attempt gives its reservation
back; a success also clears the identity-and-address counter. The admin login is limited by
django-axes with the same cache (per username and address, and per address);
:func:`admin_lockout_response` is its answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.shortcuts import render

logger = logging.getLogger("security")

PAIR, ADDRESS, IDENTITY = "pair", "address", "identity"
DEVELOPMENT_HINT = (
    "the counts live in the cache, in the server's memory unless REDIS_URL is set; restart "
    "the server to clear them."
)


@dataclass(frozen=True)
class Limit:
    kind: str  # PAIR, ADDRESS or IDENTITY
    value: str
    what: str  # what the limited request names, for the message: "client id", "username"

    @property
    def maximum(self) -> int:
        return {
            PAIR: settings.TOKEN_FAILURE_LIMIT,
            ADDRESS: settings.TOKEN_ADDRESS_FAILURE_LIMIT,
            IDENTITY: settings.TOKEN_IDENTITY_FAILURE_LIMIT,
        }[self.kind]

    @property
    def cache_key(self) -> str:
        # Hashed: any text a client sends makes a short, portable key.
        digest = hashlib.sha256(self.value.encode("utf-8", "replace")).hexdigest()
        return f"token-failures:{self.kind}:{digest}"

    @property
    def started_key(self) -> str:
        return f"{self.cache_key}:started"

    def describe(self) -> str:
        return {
            PAIR: f"for this {self.what} from your address",
            ADDRESS: "from your address",
            IDENTITY: f"for this {self.what} from any address",
        }[self.kind]


def limits_for(address: str, what: str, identity: str) -> list[Limit]:
    """The three counters of a token request from ``address`` naming ``identity``."""
    return [
        Limit(PAIR, f"{what}\x00{identity}\x00{address}", what),
        Limit(ADDRESS, address, what),
        Limit(IDENTITY, f"{what}\x00{identity}", what),
    ]


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    retry_after: int

    @property
    def message(self) -> str:
        text = (
            f"Too many failed attempts {self.limit.describe()}; "
            f"try again in {self.retry_after} seconds."
        )
        if settings.DEBUG:
            text += f" (Development: {DEVELOPMENT_HINT})"
        return text


def _increment(limit: Limit) -> int:
    window = settings.TOKEN_FAILURE_WINDOW
    for _ in range(3):  # the window may end between add() and incr()
        if cache.add(limit.cache_key, 0, timeout=window):
            cache.set(limit.started_key, time.time(), timeout=window)
        try:
            return cache.incr(limit.cache_key)
        except ValueError:
            continue
    return 1


def _retry_after(limit: Limit) -> int:
    started = cache.get(limit.started_key) or time.time()
    return max(1, int(started + settings.TOKEN_FAILURE_WINDOW - time.time()) + 1)


def reserve(limits: list[Limit]) -> Refusal | None:
    """Count this attempt in every limit before its secret is checked; a refusal (and nothing
    counted) when one of them is already used up."""
    taken = []
    for limit in limits:
        count = _increment(limit)
        taken.append(limit)
        if count > limit.maximum:
            release(taken)
            return Refusal(limit, _retry_after(limit))
    return None


def release(limits: list[Limit]) -> None:
    """Give a reservation back: the attempt was not a failed guess."""
    for limit in limits:
        with contextlib.suppress(ValueError):  # its window ended meanwhile
            cache.decr(limit.cache_key)


def succeeded(limits: list[Limit]) -> None:
    release(limits)
    for limit in limits:
        if limit.kind == PAIR:
            cache.delete_many([limit.cache_key, limit.started_key])


def failed(limits: list[Limit], reason: str) -> None:
    """The reservation stays: it was a failed guess."""
    pair = next(limit for limit in limits if limit.kind == PAIR)
    address = next(limit for limit in limits if limit.kind == ADDRESS)
    identity = pair.value.split("\x00")[1]
    logger.warning(
        "Token request failed (%s) for %s=%r from %s",
        reason,
        pair.what,
        identity[:80],
        address.value[:80],
    )


def admin_lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out admin login: the login page's look, status 429."""
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "minutes": settings.LOGIN_COOLOFF_MINUTES,
        "limit": settings.LOGIN_FAILURE_LIMIT,
        "development_hint": DEVELOPMENT_HINT if settings.DEBUG else "",
    }
    response = render(request, "admin/locked_out.html", context, status=429)
    response["Retry-After"] = str(settings.LOGIN_COOLOFF_MINUTES * 60)
    logger.warning("Admin login locked out for %r", (credentials or {}).get("username"))
    return response
