"""The SCIM 2.0 endpoints under ``/scim/v2/<tenant>/``: Users (employees) and Groups (access
groups), for an API client holding ``iam.scim_manage``.

Every request is a :class:`~accounts.api.base.TenantApiView` (bearer token, the tenant's own
principal, one transaction bound to it); what differs is the protocol: SCIM's media type, its
error body for every refusal, its filters, paging, patches and ETags. A token of another tenant
answers 404 like a resource that does not exist. Writes go through the identity services with
the channel ``scim``, so the rules of every identity change hold here: the client grants nothing
beyond what it holds for good, takes over no identity stronger than itself, and every change is
recorded.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.urls import reverse
from pydantic import ValidationError as PydanticValidationError
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from scim2_models import (
    Context,
    Error,
    GroupMembership,
    ListResponse,
    Meta,
    PatchOp,
    SCIMException,
    ScimFilter,
    SearchRequest,
)
from scim2_models.path.expressions import CompareOperator, Comparison

from accounts.api.base import TenantApiView, can_provision
from accounts.models import AccessGroup, Employee
from accounts.scim import resources
from accounts.scim.resources import (
    MAX_RESULTS,
    Group,
    StaffEmail,
    StaffGroupMember,
    StaffName,
    User,
)
from accounts.services import identities
from core.channels import Channel
from core.database import is_statement_timeout
from core.errors import DoesNotExist, ServiceError
from core.parsers import JSONParser

MEDIA_TYPE = "application/scim+json"
WORK = "work"


# --- the protocol's edges: media type and error body ------------------------------------------


class ScimJSONParser(JSONParser):
    media_type = MEDIA_TYPE


class ScimJSONRenderer(JSONRenderer):
    media_type = MEDIA_TYPE


def error_response(status: int, detail: str, scim_type: str | None = None, headers=None):
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return Response(error.model_dump(), status=status, headers=headers)


SERVICE_SCIM_TYPES = {400: "invalidValue", 409: "uniqueness"}


def scim_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal as SCIM's error body (RFC 7644 §3.12)."""
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


class _ScimRefusal(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.error = Error(status=status, scim_type=scim_type, detail=detail)


class ScimView(TenantApiView):
    """The base of every SCIM endpoint."""

    parser_classes = [ScimJSONParser, JSONParser]
    renderer_classes = [ScimJSONRenderer]
    # Not in the OpenAPI document: SCIM describes itself (/ServiceProviderConfig, /Schemas,
    # /ResourceTypes), and identity providers read that.
    schema = None

    def get_exception_handler(self):
        def handler(exc, context):
            if isinstance(exc, _ScimRefusal):
                return Response(exc.error.model_dump(), status=exc.error.status)
            return scim_exception_handler(exc, context)

        return handler

    def permission_denied(self, request, message=None, code=None):
        if code == "wrong_tenant":
            # Another tenant's token learns nothing of this tenant: as if nothing were here.
            raise exceptions.NotFound("Not found.")
        super().permission_denied(request, message=message, code=code)

    def base_url(self) -> str:
        root = reverse("scim-root", kwargs={"tenant": self.kwargs["tenant"]})
        return self.request.build_absolute_uri(root).rstrip("/")


# --- resources: what an employee and a group look like -----------------------------------------


def etag_of(document: dict) -> str:
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


class Kind:
    """How one resource type maps onto its model: documents, filters, writes."""

    name: str
    model: type
    endpoint: str
    filters: dict[str, tuple[str, bool]]  # SCIM attribute (lower case) -> (field, case exact)

    def queryset(self, principal, *, members: bool = True):
        raise NotImplementedError

    def document(self, obj, base: str, *, members: bool = True):
        raise NotImplementedError

    def create(self, principal, tenant, resource):
        raise NotImplementedError

    def replace(self, principal, obj, resource):
        raise NotImplementedError

    def delete(self, principal, obj) -> None:
        identities.identity_delete(actor=principal, channel=Channel.SCIM, identity=obj)

    def location(self, base: str, pk) -> str:
        return f"{base}/{self.endpoint}/{pk}"

    def meta(self, obj, base: str, created=None) -> Meta:
        return Meta(resource_type=self.name, location=self.location(base, obj.pk), created=created)


class Users(Kind):
    name, model, endpoint = "User", User, "Users"
    filters = {"username": ("username", False), "externalid": ("external_id", True)}

    def queryset(self, principal, *, members: bool = True):
        rows = Employee.objects.provisioned_by(principal).filter(is_superuser=False)
        if members:
            groups = AccessGroup.objects.provisioned_by(principal).only("pk", "name", "tenant_id")
            rows = rows.prefetch_related(Prefetch("access_groups", queryset=groups))
        return rows.order_by("pk")

    def document(self, employee: Employee, base: str, *, members: bool = True) -> User:
        name = None
        if employee.first_name or employee.last_name:
            name = StaffName(
                given_name=employee.first_name or None, family_name=employee.last_name or None
            )
        groups = None
        if members:
            groups = [
                GroupMembership(
                    value=str(group.pk),
                    ref=f"{base}/Groups/{group.pk}",
                    display=group.name,
                    type="direct",
                )
                for group in employee.access_groups.all()
                if group.tenant_id == employee.tenant_id
            ] or None
        return User(
            id=str(employee.pk),
            external_id=employee.external_id or None,
            user_name=employee.username,
            name=name,
            active=employee.is_active,
            emails=[StaffEmail(value=employee.email, type=WORK)] if employee.email else None,
            groups=groups,
            meta=self.meta(employee, base, created=employee.date_joined),
        )

    @staticmethod
    def fields(user: User) -> dict:
        emails = user.emails or []
        if len(emails) > 1:
            raise _ScimRefusal(400, "An employee has one e-mail address.", "invalidValue")
        if emails and emails[0].type not in (None, WORK):
            raise _ScimRefusal(400, "The e-mail address kept is the work address.", "invalidValue")
        name = user.name or StaffName()
        fields = {
            "username": user.user_name or "",
            "first_name": name.given_name or "",
            "last_name": name.family_name or "",
            "email": (emails[0].value or "") if emails else "",
            "external_id": user.external_id or "",
        }
        if user.active is not None:
            fields["is_active"] = user.active
        return fields

    def create(self, principal, tenant, user: User) -> Employee:
        fields = self.fields(user)
        username, email = fields.pop("username"), fields.pop("email")
        return identities.employee_create(
            actor=principal,
            channel=Channel.SCIM,
            tenant=tenant,
            username=username,
            password=None,  # they sign in through their identity provider
            is_staff=True,
            email=email,
            profile=fields,
        )

    def replace(self, principal, employee: Employee, user: User) -> None:
        identities.employee_update(
            actor=principal, channel=Channel.SCIM, employee_pk=employee.pk, fields=self.fields(user)
        )


class Groups(Kind):
    name, model, endpoint = "Group", Group, "Groups"
    filters = {"displayname": ("name", False), "externalid": ("external_id", True)}

    def queryset(self, principal, *, members: bool = True):
        rows = AccessGroup.objects.provisioned_by(principal)
        if members:
            people = Employee.objects.provisioned_by(principal).only("pk", "tenant_id")
            people = people.order_by("pk")
            rows = rows.prefetch_related(Prefetch("employees", queryset=people))
        return rows.order_by("pk")

    def document(self, group: AccessGroup, base: str, *, members: bool = True) -> Group:
        people = None
        if members:
            people = [
                StaffGroupMember(value=str(person.pk), ref=f"{base}/Users/{person.pk}", type="User")
                for person in group.employees.all()
                if person.tenant_id == group.tenant_id
            ] or None
        return Group(
            id=str(group.pk),
            external_id=group.external_id or None,
            display_name=group.name,
            members=people,
            meta=self.meta(group, base),
        )

    @staticmethod
    def member_ids(group: Group) -> set[int]:
        ids = set()
        for member in group.members or []:
            if member.type not in (None, "User"):
                raise _ScimRefusal(400, "Groups have employees as members.", "invalidValue")
            if not (member.value and member.value.isascii() and member.value.isdigit()):
                raise _ScimRefusal(400, f"No employee {member.value!r}.", "invalidValue")
            ids.add(int(member.value))
        return ids

    def create(self, principal, tenant, group: Group) -> AccessGroup:
        created = identities.access_group_save(
            actor=principal,
            channel=Channel.SCIM,
            tenant=tenant,
            group_pk=None,
            name=group.display_name or "",
            scopes=[],  # a new group grants nothing until an administrator says what
            restrictions=[],
            external_id=group.external_id or "",
        )
        members = self.member_ids(group)
        if members:
            identities.access_group_set_members(
                actor=principal, channel=Channel.SCIM, group_pk=created.pk, members=members
            )
        return created

    def replace(self, principal, stored: AccessGroup, group: Group) -> None:
        identities.access_group_save(
            actor=principal,
            channel=Channel.SCIM,
            tenant=stored.tenant,
            group_pk=stored.pk,
            name=group.display_name or "",
            scopes=stored.scopes,
            restrictions=stored.restrictions,
            external_id=group.external_id or "",
        )
        identities.access_group_set_members(
            actor=principal,
            channel=Channel.SCIM,
            group_pk=stored.pk,
            members=self.member_ids(group),
        )


KINDS = {"Users": Users(), "Groups": Groups()}


# --- lists: filter and paging ------------------------------------------------------------------


def parse_filter(kind: Kind, text: str | None):
    """The one filter form supported: ``attribute eq "value"`` on the kind's filter attributes.
    Anything else is SCIM's ``invalidFilter``."""
    if text is None or text == "":
        return {}
    try:
        node = ScimFilter(text).ast
    except SCIMException as exc:
        raise _ScimRefusal(400, f"Invalid filter: {exc}", "invalidFilter") from exc
    supported = ", ".join(f'{attr} eq "…"' for attr in _filter_names(kind))
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq:
        raise _ScimRefusal(400, f"Only these filters are supported: {supported}.", "invalidFilter")
    path = node.attr_path
    attribute = (path.attr or "").lower()
    if path.sub_attr or (path.uri and path.uri.lower() != kind.model.__schema__.lower()):
        attribute = ""
    if attribute not in kind.filters or not isinstance(node.value, str):
        raise _ScimRefusal(400, f"Only these filters are supported: {supported}.", "invalidFilter")
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
        raise _ScimRefusal(400, f"{name} must be an integer.", "invalidValue") from None


class Selection:
    """What a list or get asks for: ``attributes``/``excludedAttributes``, filter, paging."""

    def __init__(self, params: dict):
        params = {k: v for k, v in params.items() if v is not None}
        self.filter = params.pop("filter", None)  # (read by parse_filter: its own refusal)
        if self.filter is not None and not isinstance(self.filter, str):
            raise _ScimRefusal(400, "The filter is a string.", "invalidFilter")
        try:
            self.request = SearchRequest.model_validate(params, scim_ctx=Context.SEARCH_REQUEST)
        except PydanticValidationError as exc:
            detail = Error.from_validation_errors(exc)[0].detail
            raise _ScimRefusal(400, detail, "invalidValue") from exc

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
        attribute = "groups" if kind is KINDS["Users"] else "members"
        excluded = [str(a).lower() for a in self.request.excluded_attributes or []]
        included = [str(a).lower() for a in self.request.attributes or []]
        if any(a.endswith(attribute) or attribute in a for a in excluded):
            return False
        return not included or any(attribute in a for a in included)

    def dump(self, resource, context: Context) -> dict:
        return resource.model_dump(scim_ctx=context, response_parameters=self.request)


# --- the endpoints -----------------------------------------------------------------------------


class ResourceListApi(ScimView):
    """``GET`` lists (filter, ``startIndex``, ``count``), ``POST`` creates."""

    required_scope = {"GET": can_provision, "POST": can_provision}
    kind_name = ""

    @property
    def kind(self) -> Kind:
        return KINDS[self.kind_name]

    def get(self, request, tenant):
        return self.listing(Selection.from_query(request.query_params))

    def listing(self, selection: Selection) -> Response:
        kind, search = self.kind, selection.request
        rows = kind.queryset(self.principal, members=selection.wants_members(self.kind))
        rows = rows.filter(**parse_filter(kind, selection.filter))
        start = max(search.start_index or 1, 1)
        count = min(max(search.count if search.count is not None else 100, 0), MAX_RESULTS)
        total = rows.count()
        page = list(rows[start - 1 : start - 1 + count]) if count else []
        base = self.base_url()
        members = selection.wants_members(kind)
        documents = [
            selection.dump(kind.document(obj, base, members=members), Context.SEARCH_RESPONSE)
            for obj in page
        ]
        body = ListResponse[kind.model](
            total_results=total, start_index=start, items_per_page=len(documents)
        ).model_dump(scim_ctx=Context.SEARCH_RESPONSE)
        body["Resources"] = documents
        return Response(body)

    def post(self, request, tenant):
        kind = self.kind
        data = without_ignored(request.data)
        if kind is KINDS["Users"] and isinstance(data, dict):
            data.setdefault("active", True)
        resource = validated(kind.model, data, Context.RESOURCE_CREATION_REQUEST)
        with transaction.atomic():
            created = kind.create(self.principal, self.principal_tenant(), resource)
        stored = kind.queryset(self.principal).get(pk=created.pk)
        document = kind.document(stored, self.base_url())
        return resource_response(document, Context.RESOURCE_CREATION_RESPONSE, status=201)

    def principal_tenant(self):
        from tenancy.models import Tenant

        return Tenant.objects.get(pk=self.principal.tenant_id)


class ResourceSearchApi(ResourceListApi):
    """``POST …/.search``: a list whose parameters come in the body."""

    required_scope = {"POST": can_provision}
    http_method_names = ["post"]

    def post(self, request, tenant):
        body = request.data
        if not isinstance(body, dict):
            raise InvalidSyntax("The body must be a JSON object.")
        return self.listing(Selection(body))


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


class ResourceDetailApi(ScimView):
    """One resource: ``GET``, ``PUT`` (replace), ``PATCH``, ``DELETE``."""

    required_scope = {
        "GET": can_provision,
        "PUT": can_provision,
        "PATCH": can_provision,
        "DELETE": can_provision,
    }
    kind_name = ""

    @property
    def kind(self) -> Kind:
        return KINDS[self.kind_name]

    def stored(self, pk: str, *, members: bool = True):
        if not (pk.isascii() and pk.isdigit() and len(pk) < 19):
            raise DoesNotExist(f"No {self.kind.name} {pk}.")
        found = self.kind.queryset(self.principal, members=members).filter(pk=int(pk)).first()
        if found is None:
            raise DoesNotExist(f"No {self.kind.name} {pk}.")
        return found

    def current(self, pk: str):
        """The stored resource and its document, after the client's ``If-Match``."""
        stored = self.stored(pk)
        document = self.kind.document(stored, self.base_url())
        wanted = self.request.headers.get("If-Match")
        tags = {tag.strip() for tag in (wanted or "").split(",")}
        if wanted and "*" not in tags and _plain_etag(document) not in tags:
            raise _ScimRefusal(
                412, "The resource has changed since it was read.", "preconditionFailed"
            )
        return stored, document

    def get(self, request, tenant, pk):
        selection = Selection.from_query(request.query_params)
        stored = self.stored(pk, members=selection.wants_members(self.kind))
        document = self.kind.document(
            stored, self.base_url(), members=selection.wants_members(self.kind)
        )
        if selection.wants_members(self.kind):
            etag = _plain_etag(document)
            if etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
                return Response(status=304, headers={"ETag": etag})
        return resource_response(document, Context.RESOURCE_QUERY_RESPONSE, selection=selection)

    def put(self, request, tenant, pk):
        kind = self.kind
        with transaction.atomic():
            stored, document = self.current(pk)
            data = without_ignored(request.data)
            if kind is KINDS["Users"] and isinstance(data, dict):
                data.setdefault("active", document.active)
            resource = validated(kind.model, data, Context.RESOURCE_REPLACEMENT_REQUEST)
            kind.replace(self.principal, stored, resource)
        return self.answer(pk)

    def patch(self, request, tenant, pk):
        kind = self.kind
        data = request.data
        operations = PatchOp[kind.model]
        patch = validated(operations, patch_without_ignored(data), Context.RESOURCE_PATCH_REQUEST)
        with transaction.atomic():
            stored, document = self.current(pk)
            if patch.patch(document):
                kind.replace(self.principal, stored, document)
        return self.answer(pk)

    def delete(self, request, tenant, pk):
        with transaction.atomic():
            stored, _ = self.current(pk)
            self.kind.delete(self.principal, stored)
        return Response(status=204)

    def answer(self, pk: str) -> Response:
        document = self.kind.document(self.stored(pk), self.base_url())
        return resource_response(document, Context.RESOURCE_REPLACEMENT_RESPONSE)


def _plain_etag(document) -> str:
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


class ServiceProviderConfigApi(ScimView):
    required_scope = {"GET": can_provision}

    def get(self, request, tenant):
        config = resources.service_provider_config(request.build_absolute_uri("/api/docs/"))
        return Response(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


class DiscoveryListApi(ScimView):
    """``/ResourceTypes`` and ``/Schemas``, as lists or one by id."""

    required_scope = {"GET": can_provision}
    what = ""

    def items(self) -> dict[str, Any]:
        if self.what == "ResourceTypes":
            return {item.id: item for item in resources.resource_types()}
        return {item.id: item for item in resources.schemas()}

    def get(self, request, tenant, pk=None):
        items = self.items()
        base = self.base_url()
        documents = {}
        for key, item in items.items():
            item.meta = Meta(
                resource_type=self.what[:-1],
                location=f"{base}/{self.what}/{key}",
            )
            documents[key] = item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        if pk is not None:
            if pk not in documents:
                raise DoesNotExist(f"No {self.what[:-1]} {pk}.")
            return Response(documents[pk])
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(documents),
            "startIndex": 1,
            "itemsPerPage": len(documents),
            "Resources": list(documents.values()),
        }
        return Response(body)


class NotFoundApi(ScimView):
    """Whatever else is asked under ``/scim/v2/<tenant>/``: SCIM's 404 (a search over every
    resource type at once, ``/.search``, is 501)."""

    required_scope = {m: can_provision for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}

    def refuse(self, request, tenant, rest=""):
        if rest.strip("/") == ".search":
            raise _ScimRefusal(501, "Search each resource type on its own endpoint.")
        raise DoesNotExist("Not found.")

    get = post = put = patch = delete = refuse
