"""One error model for the API.

Every error under ``/customer/``, ``/iam/`` and ``/oauth/`` has the body
``{"status", "type", "message", "details"?}``: DRF exceptions and the services' refusals
(core.errors) are shaped by :func:`api_exception_handler`; everything Django answers before or
around DRF (unknown paths, oversized bodies, unhandled errors) is reshaped by
:class:`ApiErrorMiddleware`, so no HTML page and no traceback ever reaches an API consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from core.database import is_statement_timeout
from core.error_bodies import error_body
from core.errors import ServiceError

logger = logging.getLogger(__name__)

API_PATH_PREFIXES = ("/customer/", "/iam/", "/oauth/", "/scim/")
SCIM_PATH_PREFIX = "/scim/"
SCIM_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def error_response(path: str, status: int, message: str | None = None) -> HttpResponse:
    """The error body of the path's protocol: SCIM's under ``/scim/``, ours elsewhere."""
    body = error_body(status, message) if message else error_body(status)
    if not path.startswith(SCIM_PATH_PREFIX):
        return JsonResponse(body, status=status)
    scim = {"schemas": [SCIM_ERROR_SCHEMA], "status": str(status), "detail": body["message"]}
    return JsonResponse(scim, status=status, content_type="application/scim+json")


def _flatten(detail: Any, field: str = "") -> Iterator[dict[str, str]]:
    """Turn DRF's nested validation detail into ``[{field, type, message}]``."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = field if key == "non_field_errors" else (f"{field}.{key}" if field else key)
            yield from _flatten(value, str(name))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            yield from _flatten(value, f"{field}[{index}]" if nested else field)
    else:
        code = getattr(detail, "code", None) or "invalid"
        yield {"field": field or "body", "type": str(code), "message": str(detail)}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if is_statement_timeout(exc):
        return Response(error_body(503), status=503, headers={"Retry-After": "1"})
    if isinstance(exc, ServiceError):
        body = error_body(exc.status, exc.message, exc.details)
        return Response(body, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: Django's 500 handling runs and the middleware shapes it

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        details = list(_flatten(exc.detail))
        message = details[0]["message"] if len(details) == 1 else "Validation failed."
        body = error_body(400, message, details)
    else:
        detail = exc.detail
        if isinstance(detail, dict | list):
            details = list(_flatten(detail))
            body = error_body(exc.status_code, details[0]["message"], details)
        else:
            body = error_body(exc.status_code, str(detail))
    return Response(body, status=exc.status_code, headers=headers)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIXES)


class ApiErrorMiddleware:
    """Refuses oversized bodies and reshapes every non-JSON error of the API paths."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path_info):
            return self.get_response(request)
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # Django reads a body by its Content-Length only: a chunked body would silently be
            # read as empty, so it is refused instead.
            return error_response(request.path_info, 411)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(request.path_info, 400, "Invalid Content-Length header.")
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return error_response(request.path_info, 413)

        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith(
            ("application/json", "application/scim+json")
        ):
            shaped = error_response(request.path_info, response.status_code)
            for header in ("Allow", "WWW-Authenticate"):
                if response.has_header(header):
                    shaped[header] = response[header]
            return shaped
        return response
