"""One log line and one set of metrics per request.

:class:`RequestMiddleware` (outermost) gives every request an id — the caller's ``X-Request-ID``
when it is a sensible token, a fresh one otherwise — returns it in the response's
``X-Request-ID``, makes it part of every log record written while the request runs, counts the
database queries the request makes, and at the end writes one ``request`` log line (method,
route template, status, duration, query count, tenant, principal) and observes the Prometheus
metrics. :class:`JsonFormatter` turns records into one JSON object per line (``LOG_FORMAT=json``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from django.db import connection
from django.utils.functional import SimpleLazyObject
from prometheus_client import Counter, Histogram

logger = logging.getLogger("requests")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("request", default=None)

REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_QUERIES = Counter(
    "db_queries_total", "Database queries made while answering requests, by route.", ["route"]
)


def current_request_context() -> dict | None:
    return _context.get()


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` (or ``-``) to every record, for any formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        record.request_id = context["request_id"] if context else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id and whatever the
    record carries in ``extra`` (the request line's fields)."""

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in self._standard
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _who(request) -> tuple[str | None, str | None, str | None]:
    """(tenant, principal kind, principal id) of whoever the request was answered for, without
    looking anyone up: an API principal set by the authentication, or an admin session's user
    if the request loaded it."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = request.__dict__.get("_cached_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None, None, None
    if hasattr(user, "kind"):  # a Principal (API)
        return user.tenant_code, user.kind, user.id
    descriptor = getattr(type(user), "tenant", None)
    cached = descriptor is not None and descriptor.is_cached(user)
    tenant = user.tenant.code if cached and user.tenant is not None else None
    return tenant, "employee", str(user.pk)


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + match.route if match.route else match.view_name or "unmatched"


class RequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        token = _context.set({"request_id": request_id})
        queries = [0]

        def count(execute, sql, params, many, context):
            queries[0] += 1
            return execute(sql, params, many, context)

        started = time.perf_counter()
        try:
            with connection.execute_wrapper(count):
                response = self.get_response(request)
            self.finish(request, response, time.perf_counter() - started, queries[0])
        finally:
            _context.reset(token)
        return response

    def finish(self, request, response, duration: float, queries: int) -> None:
        request_id = request.request_id
        response[REQUEST_ID_HEADER] = request_id
        route = _route(request)
        REQUEST_SECONDS.labels(route, request.method, str(response.status_code)).observe(duration)
        DB_QUERIES.labels(route).inc(queries)
        tenant, kind, principal_id = _who(request)
        logger.info(
            "%s %s %s",
            request.method,
            route,
            response.status_code,
            extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 2),
                "queries": queries,
                "tenant": tenant,
                "principal_kind": kind,
                "principal_id": principal_id,
            },
        )
