"""The shared cache (Redis, with ``REDIS_URL``), and what the service does when it does not answer.

The server processes share counts through it: sign-in throttles, mass-read counts, the marks
that send a principal's reads to the primary after it wrote. An outage of Redis must not take
the service down with it (every read counts the reader's mass-read minute: a refused connection
answered every read with a 500). So each operation that Redis fails falls back to this process's
own memory, which is what a server without ``REDIS_URL`` uses: counts per process, so throttles
and alerts come later, but never not at all. After a failure Redis is left alone for
``RETRY_SECONDS`` (a Redis that does not answer at all would cost every request its time-out),
then tried again. Each outage is logged once, as a warning, and counted in ``/metrics``
(``shared_cache_fallbacks_total``); ``/readyz`` asks Redis itself (:meth:`SharedCache.answers`).

A connection to Redis waits at most half a second, and so does an answer (``OPTIONS`` in
``settings.CACHES``): a stalled Redis costs one request of a process that much, once per retry.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from prometheus_client import Counter
from redis import RedisError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0

FALLBACKS = Counter(
    "shared_cache_fallbacks",
    "Operations the shared cache (Redis) failed, done in this process's own memory instead.",
)


class SharedCache(RedisCache):
    """Django's Redis cache, falling back to local memory while Redis does not answer."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._local = LocMemCache(f"shared-cache-fallback-{id(self)}", params)
        self._down_until = 0.0
        self._client = None

    def answers(self) -> bool:
        """Whether Redis itself answers now (``/readyz``; no fallback)."""
        try:
            return bool(self._redis_client().ping())
        except RedisError:
            return False

    def count(self, key: str, delta: int, timeout: int) -> int:
        """Add ``delta`` to the count under ``key``, which lives ``timeout`` seconds from its
        first count; the new count. One round trip (Django's ``incr`` makes two, ``add`` a
        third)."""

        def on_redis() -> int:
            full_key = self.make_key(key)  # (the caller's own keys: nothing to validate)
            pipeline = self._redis_client().pipeline(transaction=False)
            pipeline.incrby(full_key, delta)
            pipeline.expire(full_key, timeout)
            return pipeline.execute()[0]

        return self._either(on_redis, lambda: count_in(self._local, key, delta, timeout))

    def _either(self, on_redis, on_local):
        """``on_redis()``, or ``on_local()`` while Redis does not answer."""
        if self._redis_answers():
            try:
                return on_redis()
            except RedisError as error:
                self._went_down(error)
        FALLBACKS.inc()
        return on_local()

    def _redis_client(self):
        """The client for writes, made once (Django makes a new one for every operation: half
        the time of a mass-read count)."""
        if self._client is None:
            self._client = self._cache.get_client(write=True)
        return self._client

    def _redis_answers(self) -> bool:
        return time.monotonic() >= self._down_until

    def _went_down(self, error: RedisError) -> None:
        """(Once per outage and per retry: Redis is not asked in between.)"""
        logger.warning(
            "the shared cache (Redis) did not answer (%s: %s); this process counts in its own "
            "memory for %.0f s, then tries again",
            error.__class__.__name__,
            error,
            RETRY_SECONDS,
        )
        self._down_until = time.monotonic() + RETRY_SECONDS


def _falling_back(name: str):
    def operation(self, *args, **kwargs):
        return self._either(
            lambda: getattr(RedisCache, name)(self, *args, **kwargs),
            lambda: getattr(self._local, name)(*args, **kwargs),
        )

    operation.__name__ = operation.__qualname__ = name
    operation.__doc__ = f"Django's ``{name}``, in local memory while Redis does not answer."
    return operation


# Every operation Django's Redis cache implements itself (the others are made of these).
for _name in (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "get_many",
    "has_key",
    "incr",
    "set_many",
    "delete_many",
    "clear",
):
    setattr(SharedCache, _name, _falling_back(_name))


def count_in(backend, key: str, delta: int, timeout: int) -> int:
    """:meth:`SharedCache.count` in another cache (local memory: a test's, a server's without
    ``REDIS_URL``)."""
    try:
        return backend.incr(key, delta)
    except ValueError:  # (the key's first count)
        if backend.add(key, delta, timeout=timeout):
            return delta
        return backend.incr(key, delta)


def count(key: str, delta: int, timeout: int) -> int:
    """Add ``delta`` to the shared count under ``key`` (living ``timeout`` seconds from its
    first count); the new count."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, SharedCache):
        return backend.count(key, delta, timeout)
    return count_in(backend, key, delta, timeout)
