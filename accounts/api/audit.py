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
from django.db.models import Count, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.api.base import TenantApiView, can_audit_access
from accounts.api.documents import line_document, review_document
from accounts.models import AccessChange, AccessReview, AccessReviewLine
from accounts.scopes import Grants
from core.channels import ActorKind, Channel
from core.cursors import make_cursor, next_link, read_cursor
from core.datetimes import iso_formatter
from core.errors import DoesNotExist, InvalidInput
from core.openapi import errors
from core.query_params import parse_positive

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class StrictBooleanFilter(django_filters.ChoiceFilter):
    """``true`` or ``false``; anything else is a 400 (django-filter's own boolean filter
    ignores a value it cannot read, which would answer an unfiltered list)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, choices=[("true", "true"), ("false", "false")], **kwargs)

    def filter(self, qs, value):
        if value in ("", None):
            return qs
        return qs.filter(**{self.field_name: value == "true"})


class ActorFilterSet(django_filters.FilterSet):
    """Who did it, and through which channel."""

    actor = django_filters.CharFilter(method="by_actor", help_text="The actor's id or name.")
    actorKind = django_filters.ChoiceFilter(field_name="actor_kind", choices=ActorKind.choices)
    channel = django_filters.ChoiceFilter(field_name="channel", choices=Channel.choices)

    def by_actor(self, queryset, name, value):
        return queryset.filter(Q(actor_id=value) | Q(actor_name=value))


class AuditFilterSet(ActorFilterSet):
    """Who did it, through which channel, and when (``changedFrom`` inclusive, ``changedTo``
    exclusive, ISO 8601)."""

    changedFrom = django_filters.IsoDateTimeFilter(field_name="changed_at", lookup_expr="gte")
    changedTo = django_filters.IsoDateTimeFilter(field_name="changed_at", lookup_expr="lt")


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


class AuditActorSerializer(serializers.Serializer):
    """Who made a change: an employee, an API client, an operator's command or a platform
    superuser."""

    kind = serializers.ChoiceField(choices=ActorKind.choices)
    id = serializers.CharField()
    name = serializers.CharField()


class AccessChangeSerializer(serializers.Serializer):
    subjectKind = serializers.ChoiceField(choices=AccessChange.SubjectKind.choices)
    subjectId = serializers.CharField()
    subjectName = serializers.CharField()
    action = serializers.ChoiceField(choices=AccessChange.Action.choices)
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    actor = AuditActorSerializer()
    channel = serializers.ChoiceField(choices=Channel.choices)
    breakGlass = serializers.BooleanField()
    changedAt = serializers.DateTimeField()


class AccessReviewLineCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    decided = serializers.IntegerField()


class AccessReviewSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=AccessReview.Status.choices)
    startedBy = AuditActorSerializer()
    startedAt = serializers.DateTimeField()
    closedAt = serializers.DateTimeField(allow_null=True)
    lines = AccessReviewLineCountsSerializer()


class AccessReviewLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subjectKind = serializers.ChoiceField(choices=AccessChange.SubjectKind.choices)
    subjectId = serializers.CharField()
    subjectName = serializers.CharField()
    holding = serializers.ChoiceField(choices=AccessReviewLine.Holding.choices)
    group = serializers.CharField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField())
    restrictions = serializers.ListField(child=serializers.CharField())
    temporaryFrom = serializers.DateTimeField(allow_null=True)
    temporaryUntil = serializers.DateTimeField(allow_null=True)
    breakGlass = serializers.BooleanField()
    lastTokenIssued = serializers.DateTimeField(allow_null=True)
    reviewer = serializers.CharField(allow_null=True)
    decision = serializers.ChoiceField(  # (undecided: null)
        choices=[value for value in AccessReviewLine.Decision.values if value], allow_null=True
    )
    decidedBy = serializers.CharField(allow_null=True)
    decidedAt = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(allow_null=True)


def invalid_filter(filters: django_filters.FilterSet, field: str, messages) -> str:
    """What was wrong with a filter; for a list of values, every valid one (with the name the
    back office shows it by, where that differs)."""
    choices = getattr(filters.filters.get(field), "extra", {}).get("choices")
    if not choices:
        return f"{field}: {' '.join(messages)}"
    valid = ", ".join(
        str(value) if str(label) == str(value) else f"{value} ({label})" for value, label in choices
    )
    given = filters.data.get(field)
    return f"{field}: {given!r} is not one of the valid values: {valid}."


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
            raise InvalidInput(invalid_filter(filters, field, messages), field=field)
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
    breakGlass = StrictBooleanFilter(
        field_name="break_glass", help_text="Emergency self-activations only (true) or none."
    )

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
        return AccessChange.objects.audited_by(self.principal)

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
            "breakGlass": record.break_glass,
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
        responses={200: AccessChangeSerializer(many=True), **errors(400, 401, 403)},
    )
    def get(self, request, tenant):
        return self.list_response(request)


class AccessReviewFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(field_name="status", choices=AccessReview.Status.choices)
    startedFrom = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    startedTo = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = AccessReview
        fields: list[str] = []


class AccessReviewListApi(AuditListApi):
    """The tenant's access reviews, newest first, with how many lines are decided."""

    required_scope = {"GET": can_audit_access}
    filterset_class = AccessReviewFilter
    list_name = "access-reviews"

    def records(self) -> QuerySet:
        decided = Count("lines", filter=~Q(lines__decision=""))
        return AccessReview.objects.audited_by(self.principal).annotate(
            total=Count("lines"), decided=decided
        )

    def document(self, record: AccessReview, iso) -> dict[str, Any]:
        return review_document(record, iso, {"total": record.total, "decided": record.decided})

    @extend_schema(
        operation_id="GET-iam-tenant-list-access-reviews",
        summary="List access reviews",
        description=(
            "The tenant's access reviews, newest first: who started each and when, whether it "
            "is closed, how many of its lines are decided. Needs the unsuffixed "
            "`audit.audit_read`."
        ),
        tags=["Audit"],
        parameters=[*filter_parameters(AccessReviewFilter), *PAGING_PARAMETERS],
        responses={200: AccessReviewSerializer(many=True), **errors(400, 401, 403)},
    )
    def get(self, request, tenant):
        return self.list_response(request)


class AccessReviewLineFilter(django_filters.FilterSet):
    decision = django_filters.ChoiceFilter(
        method="by_decision",
        choices=[("undecided", "undecided"), ("keep", "keep"), ("revoke", "revoke")],
    )
    subject = django_filters.CharFilter(method="by_subject", help_text="The identity's id or name.")
    subjectKind = django_filters.ChoiceFilter(
        field_name="subject_kind", choices=AccessChange.SubjectKind.choices
    )
    group = django_filters.CharFilter(field_name="group_name", help_text="An access group's name.")
    restriction = django_filters.CharFilter(
        method="by_restriction", help_text="Lines whose scopes are suffixed with this value."
    )
    reviewer = django_filters.CharFilter(field_name="reviewer_name", help_text="A username.")
    breakGlass = StrictBooleanFilter(field_name="break_glass")

    class Meta:
        model = AccessReviewLine
        fields: list[str] = []

    def by_decision(self, queryset, name, value):
        return queryset.filter(decision="" if value == "undecided" else value)

    def by_subject(self, queryset, name, value):
        return queryset.filter(Q(subject_id=value) | Q(subject_name=value))

    def by_restriction(self, queryset, name, value):
        return queryset.filter(restriction_words__contains=f" {value} ")


class AccessReviewLineListApi(AuditListApi):
    """One review's lines: who held what, who decided, what changed (the report)."""

    required_scope = {"GET": can_audit_access}
    filterset_class = AccessReviewLineFilter
    list_name = "access-review-lines"

    def records(self, review_id: int) -> QuerySet:
        if not AccessReview.objects.audited_by(self.principal).filter(pk=review_id).exists():
            raise DoesNotExist("Access review not found.")
        return AccessReviewLine.objects.audited_by(self.principal).filter(review_id=review_id)

    def document(self, record: AccessReviewLine, iso) -> dict[str, Any]:
        return line_document(record, iso)

    @extend_schema(
        operation_id="GET-iam-tenant-list-access-review-lines",
        summary="List the lines of an access review",
        description=(
            "Every identity and what it held when the review started (group or scope, standing or "
            "temporary, break-glass, last token), its reviewer, the decision (keep / revoke), "
            "who decided it when, and what changed. Needs the unsuffixed `audit.audit_read`."
        ),
        tags=["Audit"],
        parameters=[*filter_parameters(AccessReviewLineFilter), *PAGING_PARAMETERS],
        responses={200: AccessReviewLineSerializer(many=True), **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant, reviewId):
        return self.list_response(request, review_id=reviewId)
