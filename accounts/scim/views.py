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
from scim2_models import Context, Meta, PatchOp

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

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


class ScimView(TenantApiView):
    """The base of every SCIM endpoint."""

    parser_classes = [ScimJSONParser, JSONParser]
    renderer_classes = [ScimJSONRenderer]
    # Not in the OpenAPI document: SCIM describes itself (/ServiceProviderConfig, /Schemas,
    # /ResourceTypes), and identity providers read that.
    schema = None
    # (identity providers keep a long-lived token: issued in the back office, SCIM only)
    accepts_provisioning_tokens = True

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
        return listing(self, [self.kind], selection)

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


def listing(view: ScimView, kinds: list[Kind], selection: Selection) -> Response:
    """One page of the resources of ``kinds``, one type after the other, that match the
    selection's filter. Searching several types at once, a filter on an attribute one of them
    does not have selects none of that type (RFC 7644 §3.4.2.1)."""
    search = selection.request
    start = max(search.start_index or 1, 1)
    count = min(max(search.count if search.count is not None else 100, 0), MAX_RESULTS)
    lookups = filter_lookups(kinds, selection.filter)
    base = view.base_url()
    total, skip, documents = 0, start - 1, []
    for kind, lookup in lookups:
        members = selection.wants_members(kind)
        rows = kind.queryset(view.principal, members=members).filter(**lookup)
        found = rows.count()
        total += found
        wanted = count - len(documents)
        if wanted > 0 and skip < found:
            documents += [
                selection.dump(kind.document(obj, base, members=members), Context.SEARCH_RESPONSE)
                for obj in rows[skip : skip + wanted]
            ]
        skip = max(skip - found, 0)
    body = {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(documents),
        "Resources": documents,
    }
    return Response(body)


def filter_lookups(kinds: list[Kind], text: str | None) -> list[tuple[Kind, dict]]:
    """Each kind with the lookup its filter means; kinds that do not have the filtered
    attribute are left out, and a filter none of them supports is refused."""
    lookups, refusal = [], None
    for kind in kinds:
        try:
            lookups.append((kind, parse_filter(kind, text)))
        except Refusal as exc:
            refusal = refusal or exc
    if not lookups:
        raise refusal
    return lookups


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
        """The resource as it is now, as much of it as ``attributes``/``excludedAttributes``
        ask for (a provider patching a large group's members leaves the members out)."""
        selection = Selection.from_query(self.request.query_params)
        members = selection.wants_members(self.kind)
        document = self.kind.document(
            self.stored(pk, members=members), self.base_url(), members=members
        )
        return resource_response(
            document, Context.RESOURCE_REPLACEMENT_RESPONSE, selection=selection
        )


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
            "schemas": [LIST_RESPONSE],
            "totalResults": len(documents),
            "startIndex": 1,
            "itemsPerPage": len(documents),
            "Resources": list(documents.values()),
        }
        return Response(body)


class SearchEveryTypeApi(ScimView):
    """``POST /.search``: Users and Groups in one list."""

    required_scope = {"POST": can_provision}

    def post(self, request, tenant):
        if not isinstance(request.data, dict):
            raise InvalidSyntax("The body must be a JSON object.")
        return listing(self, list(KINDS.values()), Selection(request.data))


class NotFoundApi(ScimView):
    """Whatever else is asked under ``/scim/v2/<tenant>/``: SCIM's 404."""

    required_scope = {m: can_provision for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}

    def refuse(self, request, tenant, rest=""):
        raise DoesNotExist("Not found.")

    get = post = put = patch = delete = refuse
