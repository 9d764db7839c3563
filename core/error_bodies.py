"""The error body every answer of the service carries, ``{"status", "type", "message",
"details"?}``, with no import beyond the standard library: the API (``core.api_errors``), and
gunicorn's own answers to requests it cannot read (``config/gunicorn.py``), build it here.
"""

from __future__ import annotations

from typing import Any

ERROR_TYPES = {
    400: "validation_failure",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict_resource",
    410: "gone",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}

DEFAULT_MESSAGES = {
    400: "The request is invalid.",
    401: "Authentication credentials are missing or invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "The request conflicts with the current state of the resource.",
    410: "It is no longer available.",
    413: "The request body is larger than 10 MB.",
    415: "Unsupported media type.",
    411: "A request body needs a Content-Length header; chunked bodies are not accepted.",
    429: "Too many requests; retry later.",
    500: "An unexpected error occurred.",
    503: "The request took too long and was stopped; narrow it (for example the query).",
}


UNAUTHORIZED_ERROR_CODE = "oauth.v2.InvalidAccessToken"


def error_body(
    status_code: int, message: str | None = None, details: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status_code,
        "type": ERROR_TYPES.get(status_code, "error"),
        "message": message or DEFAULT_MESSAGES.get(status_code, "Request failed."),
    }
    if details:
        body["details"] = details
    if status_code == 401:
        # Emporix's gateway answers a 401 with this object; its clients read it.
        body["fault"] = {
            "faultstring": body["message"],
            "detail": {"errorcode": UNAUTHORIZED_ERROR_CODE},
        }
    return body
