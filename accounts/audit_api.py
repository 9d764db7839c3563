"""The audit API for compliance tooling: read-only lists of audit records, filtered with
django-filter FilterSets, newest first, a page at a time with an opaque cursor.

``AuditListApi`` is the base of every such list (the restriction history's lists live with the
customers, ``customers/api/audit.py``); the access-change log is here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from accounts.api import TenantApiView, can_audit_access
from accounts.models import AccessChange
from accounts.scopes import Grants
from core.channels import ActorKind, Channel
from core.cursors import make_cursor, next_link, read_cursor
from core.datetimes import iso_formatter
from core.errors import InvalidInput
from core.query_params import parse_positive

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class AuditFilterSet(django_filters.FilterSet):
    """Who did it, through which channel, and when (``changedFrom`` inclusive, ``changedTo``
    exclusive, ISO 8601)."""

    actor = django_filters.CharFilter(method="by_actor", help_text="The actor's id or name.")
    actorKind = django_filters.ChoiceFilter(field_name="actor_kind", choices=ActorKind.choices)
    channel = django_filters.ChoiceFilter(field_name="channel", choices=Channel.choices)
    changedFrom = django_filters.IsoDateTimeFilter(field_name="changed_at", lookup_expr="gte")
    changedTo = django_filters.IsoDateTimeFilter(field_name="changed_at", lookup_expr="lt")

    def by_actor(self, queryset, name, value):
        return queryset.filter(Q(actor_id=value) | Q(actor_name=value))


def filter_parameters(filterset_class: type[django_filters.FilterSet]) -> list[OpenApiParameter]:
    """The FilterSet's fields as OpenAPI query parameters."""
    parameters = []
    for name, field in filterset_class.base_filters.items():
        choices = [value for value, _ in field.extra.get("choices", [])] or None
        kind = (
            OpenApiTypes.DATETIME
            if isinstance(field, django_filters.IsoDateTimeFilter)
            else OpenApiTypes.STR
        )
        description = field.extra.get("help_text") or ""
        parameters.append(OpenApiParameter(name, kind, enum=choices, description=str(description)))
    return parameters


PAGING_PARAMETERS = [
    OpenApiParameter(
        "pageSize", int, description=f"1 to {MAX_PAGE_SIZE} records (default {DEFAULT_PAGE_SIZE})"
    ),
    OpenApiParameter("cursor", str, description="From the previous page's `Link` header."),
]


def actor_of(record) -> dict[str, str]:
    return {"kind": record.actor_kind, "id": record.actor_id, "name": record.actor_name}


class AuditListApi(TenantApiView):
    """A read-only list of audit records in the principal's tenant: ``records()`` (already
    limited to what the principal may see) filtered by ``filterset_class`` (an invalid value is
    a 400 naming the parameter), newest first, ``pageSize`` at a time; a full page links to the
    next with a cursor valid only for this list in this tenant."""

    filterset_class: ClassVar[type[django_filters.FilterSet]]
    list_name: ClassVar[str]
    # Row-level security: the customers whose history the audit scope covers.
    reads = staticmethod(Grants.auditable)

    def records(self, **kwargs) -> QuerySet:
        raise NotImplementedError

    def document(self, record, iso: Callable[[datetime], str | None]) -> dict[str, Any]:
        raise NotImplementedError

    def list_response(self, request, **kwargs) -> Response:
        params = request.query_params
        size = parse_positive(request, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        filters = self.filterset_class(params, queryset=self.records(**kwargs))
        if not filters.is_valid():
            field, messages = next(iter(filters.errors.items()))
            raise InvalidInput(f"{field}: {' '.join(messages)}", field=field)
        records = filters.qs.order_by("-pk")
        if "cursor" in params:
            after = read_cursor(params["cursor"], self.principal.tenant_id, self.list_name)
            records = records.filter(pk__lt=after)
        page = list(records[:size])
        headers = {"Count": str(len(page))}
        if len(page) == size:
            cursor = make_cursor(self.principal.tenant_id, page[-1].pk, self.list_name)
            headers["Link"] = next_link(request, cursor)
        iso = iso_formatter()  # (the time zone once per page)
        return Response([self.document(record, iso) for record in page], headers=headers)


class AccessChangeFilter(AuditFilterSet):
    subject = django_filters.CharFilter(method="by_subject", help_text="The subject's id or name.")
    subjectKind = django_filters.ChoiceFilter(
        field_name="subject_kind", choices=AccessChange.SubjectKind.choices
    )
    action = django_filters.ChoiceFilter(field_name="action", choices=AccessChange.Action.choices)

    class Meta:
        model = AccessChange
        fields: list[str] = []

    def by_subject(self, queryset, name, value):
        return queryset.filter(Q(subject_id=value) | Q(subject_name=value))


class AccessChangeListApi(AuditListApi):
    """Who gained, lost or changed what access in the tenant (unsuffixed audit.audit_read)."""

    required_scope = {"GET": can_audit_access}
    filterset_class = AccessChangeFilter
    list_name = "access-changes"

    def records(self) -> QuerySet:
        return AccessChange.objects.filter(tenant_id=self.principal.tenant_id)

    def document(self, record: AccessChange, iso) -> dict[str, Any]:
        return {
            "subjectKind": record.subject_kind,
            "subjectId": record.subject_id,
            "subjectName": record.subject_name,
            "action": record.action,
            "before": record.before,
            "after": record.after,
            "actor": actor_of(record),
            "channel": record.channel,
            "changedAt": iso(record.changed_at),
        }

    @extend_schema(
        operation_id="GET-iam-tenant-list-access-changes",
        summary="List access changes",
        description=(
            "The tenant's access-change log, newest first: identities created, changed, "
            "deactivated; passwords changed and secrets rotated (never the secret); group "
            "memberships and groups' scopes; the tenant's restriction tree. Needs the unsuffixed "
            "`audit.audit_read`."
        ),
        tags=["Audit"],
        parameters=[*filter_parameters(AccessChangeFilter), *PAGING_PARAMETERS],
        responses={200: OpenApiResponse(description="Access changes")},
    )
    def get(self, request, tenant):
        return self.list_response(request)
