"""SCIM's protocol at the edges of the endpoints: its media type, its error body for every
refusal, strict reading of request bodies (with the few tolerances identity providers need),
ETags, the supported filters and the paging of lists."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from pydantic import ValidationError as PydanticValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from scim2_models import Context, Error, SCIMException, ScimFilter, SearchRequest
from scim2_models.path.expressions import CompareOperator, Comparison

from core import fastjson
from core.database import is_statement_timeout
from core.errors import ServiceError
from core.parsers import JSONParser


class Kind(Protocol):
    """What the protocol needs of a resource kind (``accounts.scim.kinds``, which builds on this
    module: the protocol does not import it)."""

    model: Any  # the scim2-models resource class
    filters: dict[str, tuple[str, bool]]  # SCIM attribute (lower case) -> (field, case exact)
    membership_attribute: str


MEDIA_TYPE = "application/scim+json"


class ScimJSONParser(JSONParser):
    media_type = MEDIA_TYPE


class ScimJSONRenderer(fastjson.JSONRenderer):
    media_type = MEDIA_TYPE


def error_response(status: int, detail: str, scim_type: str | None = None, headers=None):
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return Response(error.model_dump(), status=status, headers=headers)


SERVICE_SCIM_TYPES = {400: "invalidValue", 409: "uniqueness"}


def scim_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal as SCIM's error body (RFC 7644 §3.12)."""
    if isinstance(exc, Refusal):
        return Response(exc.error.model_dump(), status=exc.error.status)
    if is_statement_timeout(exc):
        return error_response(503, "The service is busy; try again.", headers={"Retry-After": "1"})
    if isinstance(exc, SCIMException):
        error = exc.to_error()
        return Response(error.model_dump(), status=error.status)
    if isinstance(exc, PydanticValidationError):
        error = Error.from_validation_errors(exc)[0]
        return Response(error.model_dump(), status=error.status)
    if isinstance(exc, ServiceError):
        return error_response(exc.status, exc.message, SERVICE_SCIM_TYPES.get(exc.status))
    if isinstance(exc, exceptions.ParseError):
        return error_response(400, str(exc.detail), "invalidSyntax")
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        return error_response(exc.status_code, str(exc.detail), headers=headers)
    return None  # a bug: Django's 500 handling, shaped by the error middleware


def validated(model, data, context: Context):
    """``data`` as ``model`` in ``context``, or SCIM's 400 (unknown attributes, wrong types,
    read-only attributes where a request may not carry them)."""
    if not isinstance(data, dict):
        raise InvalidSyntax("The body must be a JSON object.")
    return model.model_validate(data, scim_ctx=context, strict=True)


class InvalidSyntax(exceptions.ParseError):
    pass


class Refusal(Exception):
    """A refusal in SCIM's words: the status, SCIM's error keyword and the detail."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.error = Error(status=status, scim_type=scim_type, detail=detail)


def etag_of(document: dict) -> str:
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def plain_etag(document) -> str:
    body = document.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return etag_of({k: v for k, v in body.items() if k != "meta"})


# Sub-attributes identity providers send that are accepted and not kept: an employee has one
# work address (so which one is primary says nothing), and a member's name is ours.
IGNORED = {"emails": frozenset({"primary", "display"}), "members": frozenset({"display"})}


def _stripped(attribute: str, value):
    dropped = IGNORED.get(attribute.lower())
    if dropped is None:
        return value
    items = value if isinstance(value, list) else [value]
    cleaned = [
        {k: v for k, v in item.items() if k not in dropped} if isinstance(item, dict) else item
        for item in items
    ]
    return cleaned if isinstance(value, list) else cleaned[0]


def without_ignored(data):
    """A resource body without the sub-attributes in :data:`IGNORED`."""
    if not isinstance(data, dict):
        return data
    return {key: _stripped(key, value) for key, value in data.items()}


def _entra_boolean(value):
    """Microsoft Entra ID sends ``active`` in a patch as the strings "True" and "False"; those
    two are read as the booleans they mean (anything else stays as sent, and is refused)."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def patch_without_ignored(data):
    """A PatchOp body whose operations' values are without the sub-attributes in
    :data:`IGNORED`, with Entra's "True"/"False" for ``active`` read as booleans."""
    if not isinstance(data, dict) or not isinstance(data.get("Operations"), list):
        return data
    operations = []
    for operation in data["Operations"]:
        if isinstance(operation, dict):
            path = operation.get("path")
            value = operation.get("value")
            if path is None or path == "":
                value = without_ignored(value)
                if isinstance(value, dict) and "active" in value:
                    value = {**value, "active": _entra_boolean(value["active"])}
            elif isinstance(path, str):
                attribute = path.split("[")[0].split(".")[0].split(":")[-1]
                value = _stripped(attribute, value)
                if attribute.lower() == "active":
                    value = _entra_boolean(value)
            operation = {**operation, "value": value} if "value" in operation else operation
        operations.append(operation)
    return {**data, "Operations": operations}


def parse_filter(kind: Kind, text: str | None):
    """The one filter form supported: ``attribute eq "value"`` on the kind's filter attributes.
    Anything else is SCIM's ``invalidFilter``."""
    if text is None or text == "":
        return {}
    try:
        node = ScimFilter(text).ast
    except SCIMException as exc:
        raise Refusal(400, f"Invalid filter: {exc}", "invalidFilter") from exc
    supported = ", ".join(f'{attr} eq "…"' for attr in _filter_names(kind))
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq:
        raise Refusal(400, f"Only these filters are supported: {supported}.", "invalidFilter")
    path = node.attr_path
    attribute = (path.attr or "").lower()
    if path.sub_attr or (path.uri and path.uri.lower() != kind.model.__schema__.lower()):
        attribute = ""
    if attribute not in kind.filters or not isinstance(node.value, str):
        raise Refusal(400, f"Only these filters are supported: {supported}.", "invalidFilter")
    field, case_exact = kind.filters[attribute]
    return {field if case_exact else f"{field}__iexact": node.value}


def _filter_names(kind: Kind) -> list[str]:
    names = {"username": "userName", "externalid": "externalId", "displayname": "displayName"}
    return [names[attr] for attr in kind.filters]


def _positive(text, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except (TypeError, ValueError):
        raise Refusal(400, f"{name} must be an integer.", "invalidValue") from None


class Selection:
    """What a list or get asks for: ``attributes``/``excludedAttributes``, filter, paging."""

    def __init__(self, params: dict):
        params = {k: v for k, v in params.items() if v is not None}
        self.filter = params.pop("filter", None)  # (read by parse_filter: its own refusal)
        if self.filter is not None and not isinstance(self.filter, str):
            raise Refusal(400, "The filter is a string.", "invalidFilter")
        try:
            self.request = SearchRequest.model_validate(params, scim_ctx=Context.SEARCH_REQUEST)
        except PydanticValidationError as exc:
            detail = Error.from_validation_errors(exc)[0].detail
            raise Refusal(400, detail, "invalidValue") from exc

    @classmethod
    def from_query(cls, query) -> Selection:
        params = {}
        for name in ("attributes", "excludedAttributes"):
            if query.get(name):
                params[name] = [a.strip() for a in query.get(name).split(",") if a.strip()]
        params["filter"] = query.get("filter")
        params["startIndex"] = _positive(query.get("startIndex"), "startIndex", 1)
        params["count"] = _positive(query.get("count"), "count", 100)
        return cls(params)

    def wants_members(self, kind: Kind) -> bool:
        attribute = kind.membership_attribute
        excluded = [str(a).lower() for a in self.request.excluded_attributes or []]
        included = [str(a).lower() for a in self.request.attributes or []]
        if any(attribute in a for a in excluded):
            return False
        return not included or any(attribute in a for a in included)

    def dump(self, resource, context: Context) -> dict:
        return resource.model_dump(scim_ctx=context, response_parameters=self.request)


def resource_response(document, context: Context, status: int = 200, selection=None):
    body = selection.dump(document, context) if selection else document.model_dump(scim_ctx=context)
    plain = {k: v for k, v in body.items() if k != "meta"}
    etag = etag_of(plain)
    if "meta" in body:
        body["meta"]["version"] = etag
    headers = {"ETag": etag}
    if status == 201:
        headers["Location"] = document.meta.location
    return Response(body, status=status, headers=headers)
