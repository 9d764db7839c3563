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

from typing import Any

from django.db import transaction
from django.urls import reverse
from rest_framework import exceptions
from rest_framework.response import Response
from scim2_models import Context, ListResponse, Meta, PatchOp

from accounts.api.base import TenantApiView, can_provision
from accounts.scim import resources
from accounts.scim.kinds import KINDS, Kind
from accounts.scim.protocol import (
    InvalidSyntax,
    Refusal,
    ScimJSONParser,
    ScimJSONRenderer,
    Selection,
    parse_filter,
    patch_without_ignored,
    plain_etag,
    resource_response,
    scim_exception_handler,
    validated,
    without_ignored,
)
from accounts.scim.resources import MAX_RESULTS
from core.errors import DoesNotExist
from core.parsers import JSONParser
from tenancy.models import Tenant


class ScimView(TenantApiView):
    """The base of every SCIM endpoint."""

    parser_classes = [ScimJSONParser, JSONParser]
    renderer_classes = [ScimJSONRenderer]
    # Not in the OpenAPI document: SCIM describes itself (/ServiceProviderConfig, /Schemas,
    # /ResourceTypes), and identity providers read that.
    schema = None

    def get_exception_handler(self):
        return scim_exception_handler

    def permission_denied(self, request, message=None, code=None):
        if code == "wrong_tenant":
            # Another tenant's token learns nothing of this tenant: as if nothing were here.
            raise exceptions.NotFound("Not found.")
        super().permission_denied(request, message=message, code=code)

    def base_url(self) -> str:
        root = reverse("scim-root", kwargs={"tenant": self.kwargs["tenant"]})
        return self.request.build_absolute_uri(root).rstrip("/")


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
        data = kind.with_defaults(without_ignored(request.data))
        resource = validated(kind.model, data, Context.RESOURCE_CREATION_REQUEST)
        with transaction.atomic():
            created = kind.create(self.principal, self.principal_tenant(), resource)
        stored = kind.queryset(self.principal).get(pk=created.pk)
        document = kind.document(stored, self.base_url())
        return resource_response(document, Context.RESOURCE_CREATION_RESPONSE, status=201)

    def principal_tenant(self) -> Tenant:
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
        if wanted and "*" not in tags and plain_etag(document) not in tags:
            raise Refusal(412, "The resource has changed since it was read.", "preconditionFailed")
        return stored, document

    def get(self, request, tenant, pk):
        selection = Selection.from_query(request.query_params)
        stored = self.stored(pk, members=selection.wants_members(self.kind))
        document = self.kind.document(
            stored, self.base_url(), members=selection.wants_members(self.kind)
        )
        if selection.wants_members(self.kind):
            etag = plain_etag(document)
            if etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
                return Response(status=304, headers={"ETag": etag})
        return resource_response(document, Context.RESOURCE_QUERY_RESPONSE, selection=selection)

    def put(self, request, tenant, pk):
        kind = self.kind
        with transaction.atomic():
            stored, document = self.current(pk)
            data = kind.with_defaults(without_ignored(request.data), document)
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
            raise Refusal(501, "Search each resource type on its own endpoint.")
        raise DoesNotExist("Not found.")

    get = post = put = patch = delete = refuse
