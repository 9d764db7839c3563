"""The restriction history and the read-access log in the audit API: a tenant's, and one
customer's."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from accounts.api.audit import (
    PAGING_PARAMETERS,
    ActorFilterSet,
    AuditActorSerializer,
    AuditFilterSet,
    AuditListApi,
    actor_of,
    filter_parameters,
)
from accounts.api.base import can_audit
from core.channels import Channel
from core.errors import DoesNotExist
from customers.api.common import PATH_PARAMETERS, errors
from customers.models import (
    Customer,
    CustomerErasure,
    CustomerView,
    ReadHow,
    RestrictionChange,
)
from customers.services import NOT_FOUND_MESSAGE


class RestrictionChangeSerializer(serializers.Serializer):
    customerNumber = serializers.CharField()
    oldValue = serializers.CharField(allow_null=True)
    newValue = serializers.CharField(allow_null=True)
    actor = AuditActorSerializer()
    channel = serializers.ChoiceField(choices=Channel.choices)
    changedAt = serializers.DateTimeField()


class RestrictionChangeFilter(AuditFilterSet):
    customerNumber = django_filters.CharFilter(field_name="customer_number")
    restriction = django_filters.CharFilter(
        method="by_restriction", help_text="The old or the new value."
    )

    class Meta:
        model = RestrictionChange
        fields: list[str] = []

    def by_restriction(self, queryset, name, value):
        return queryset.filter(Q(old_value=value) | Q(new_value=value))


class RestrictionChangeListApi(AuditListApi):
    """A tenant's restriction history, as far as the audit scope covers it."""

    required_scope = {"GET": can_audit}
    filterset_class = RestrictionChangeFilter
    list_name = "restriction-changes"

    def dispatch(self, request, *args, **kwargs):
        kwargs = {PATH_PARAMETERS.get(name, name): value for name, value in kwargs.items()}
        return super().dispatch(request, *args, **kwargs)

    def records(self, **kwargs) -> QuerySet:
        return RestrictionChange.objects.audited_by(self.principal)

    def document(self, record: RestrictionChange, iso) -> dict[str, Any]:
        return {
            "customerNumber": record.customer_number,
            "oldValue": record.old_value,
            "newValue": record.new_value,
            "actor": actor_of(record),
            "channel": record.channel,
            "changedAt": iso(record.changed_at),
        }

    @extend_schema(
        operation_id="GET-customer-tenant-list-restriction-changes",
        summary="List restriction changes",
        description=(
            "Every change of a customer's restriction in the tenant, newest first. With a "
            "suffixed `audit.audit_read--DE`: only changes from or to a value it covers, of "
            "customers whose restriction it covers now."
        ),
        tags=["Audit"],
        parameters=[*filter_parameters(RestrictionChangeFilter), *PAGING_PARAMETERS],
        responses={200: RestrictionChangeSerializer(many=True), **errors(400, 401, 403)},
    )
    def get(self, request, tenant):
        return self.list_response(request)


class CustomerRestrictionChangeListApi(RestrictionChangeListApi):
    """One customer's restriction history; a customer the audit scope does not cover now is not
    found, exactly like a missing one."""

    list_name = "customer-restriction-changes"

    def records(self, customer_number: str) -> QuerySet:
        history = RestrictionChange.objects.audited_by(self.principal).filter(
            customer_number=customer_number
        )
        customer = Customer.objects.audited_by(self.principal).filter(
            customer_number=customer_number
        )
        # (a deleted customer's history: only for the unsuffixed scope, which sees it anyway)
        if not customer.exists() and not (
            self.principal.grants.auditable().everything and history.exists()
        ):
            raise DoesNotExist(NOT_FOUND_MESSAGE)
        return history

    @extend_schema(
        operation_id="GET-customer-tenant-list-customer-restriction-changes",
        summary="List a customer's restriction changes",
        description="The customer's restriction history, newest first (see the tenant's list).",
        tags=["Audit"],
        parameters=[*filter_parameters(RestrictionChangeFilter), *PAGING_PARAMETERS],
        responses={200: RestrictionChangeSerializer(many=True), **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant, customer_number):
        return self.list_response(request, customer_number=customer_number)


# -- the read-access log ---------------------------------------------------------------------


class CustomerViewSerializer(serializers.Serializer):
    customerNumber = serializers.CharField()
    actor = AuditActorSerializer()
    channel = serializers.ChoiceField(choices=Channel.choices)
    how = serializers.ChoiceField(choices=ReadHow.choices)
    expanded = serializers.ListField(child=serializers.CharField())
    purpose = serializers.CharField()
    viewedAt = serializers.DateTimeField()


class CustomerViewFilter(ActorFilterSet):
    """Who read, through which channel and how, and when (``viewedFrom`` inclusive,
    ``viewedTo`` exclusive, ISO 8601)."""

    customerNumber = django_filters.CharFilter(field_name="customer_number")
    how = django_filters.ChoiceFilter(field_name="how", choices=ReadHow.choices)
    viewedFrom = django_filters.IsoDateTimeFilter(field_name="viewed_at", lookup_expr="gte")
    viewedTo = django_filters.IsoDateTimeFilter(field_name="viewed_at", lookup_expr="lt")

    class Meta:
        model = CustomerView
        fields: list[str] = []


class CustomerViewListApi(AuditListApi):
    """The tenant's read-access log ("what did this identity look at": ``?actor=``), as far as
    the audit scope covers the customers now."""

    required_scope = {"GET": can_audit}
    filterset_class = CustomerViewFilter
    list_name = "customer-views"

    def records(self, **kwargs) -> QuerySet:
        return CustomerView.objects.audited_by(self.principal)

    def document(self, record: CustomerView, iso) -> dict[str, Any]:
        return {
            "customerNumber": record.customer_number,
            "actor": actor_of(record),
            "channel": record.channel,
            "how": record.how,
            "expanded": record.expanded.split(),
            "purpose": record.purpose,
            "viewedAt": iso(record.viewed_at),
        }

    @extend_schema(
        operation_id="GET-iam-tenant-list-customer-views",
        summary="List who read which customers",
        description=(
            "The read-access log: every customer served to a caller (API, back office), newest "
            "first, with who read it, how and the purpose they gave; `actor` answers what one "
            "identity looked at. With a suffixed `audit.audit_read--DE`: only reads of customers "
            "whose restriction it covers now."
        ),
        tags=["Audit"],
        parameters=[*filter_parameters(CustomerViewFilter), *PAGING_PARAMETERS],
        responses={200: CustomerViewSerializer(many=True), **errors(400, 401, 403)},
    )
    def get(self, request, tenant):
        return self.list_response(request)


class CustomerViewsOfCustomerApi(CustomerViewListApi):
    """Who read one customer; a customer the audit scope does not cover now is not found,
    exactly like a missing one."""

    list_name = "customer-views-of-customer"

    def dispatch(self, request, *args, **kwargs):
        kwargs = {PATH_PARAMETERS.get(name, name): value for name, value in kwargs.items()}
        return super().dispatch(request, *args, **kwargs)

    def records(self, customer_number: str) -> QuerySet:
        views = CustomerView.objects.audited_by(self.principal).filter(
            customer_number=customer_number
        )
        covered = Customer.objects.audited_by(self.principal).filter(
            customer_number=customer_number
        )
        # (a deleted customer's reads: only for the unsuffixed scope, which sees them anyway)
        if not covered.exists() and not (
            self.principal.grants.auditable().everything and views.exists()
        ):
            raise DoesNotExist(NOT_FOUND_MESSAGE)
        return views

    @extend_schema(
        operation_id="GET-customer-tenant-list-customer-views",
        summary="List who read a customer",
        description="Every read of the customer, newest first (see the tenant's list).",
        tags=["Audit"],
        parameters=[*filter_parameters(CustomerViewFilter), *PAGING_PARAMETERS],
        responses={200: CustomerViewSerializer(many=True), **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant, customer_number):
        return self.list_response(request, customer_number=customer_number)


# -- erasures --------------------------------------------------------------------------------


class ErasureRecordSerializer(serializers.Serializer):
    customerNumber = serializers.CharField()
    restriction = serializers.CharField(allow_null=True, help_text="As it was when erased.")
    erasedBy = AuditActorSerializer()
    channel = serializers.ChoiceField(choices=Channel.choices)
    reason = serializers.CharField()
    erasedAt = serializers.DateTimeField()


class ErasureFilter(ActorFilterSet):
    """Who erased, through which channel, and when (``erasedFrom`` inclusive, ``erasedTo``
    exclusive, ISO 8601)."""

    customerNumber = django_filters.CharFilter(field_name="customer_number")
    erasedFrom = django_filters.IsoDateTimeFilter(field_name="erased_at", lookup_expr="gte")
    erasedTo = django_filters.IsoDateTimeFilter(field_name="erased_at", lookup_expr="lt")

    class Meta:
        model = CustomerErasure
        fields: list[str] = []


class ErasureListApi(AuditListApi):
    """That customers' personal data was erased, by whom, when and why (all that remains of
    them), as far as the audit scope covers their restriction when erased."""

    required_scope = {"GET": can_audit}
    filterset_class = ErasureFilter
    list_name = "erasures"

    def records(self, **kwargs) -> QuerySet:
        return CustomerErasure.objects.audited_by(self.principal)

    def document(self, record: CustomerErasure, iso) -> dict[str, Any]:
        return {
            "customerNumber": record.customer_number,
            "restriction": record.restriction,
            "erasedBy": actor_of(record),
            "channel": record.channel,
            "reason": record.reason,
            "erasedAt": iso(record.erased_at),
        }

    @extend_schema(
        operation_id="GET-customer-tenant-list-erasures",
        summary="List erasures",
        description=(
            "Every erasure of a customer's personal data in the tenant, newest first: the number, "
            "who erased it, through which channel and why. With a suffixed "
            "`audit.audit_read--DE`: erasures of customers whose restriction was DE."
        ),
        tags=["Audit"],
        parameters=[*filter_parameters(ErasureFilter), *PAGING_PARAMETERS],
        responses={200: ErasureRecordSerializer(many=True), **errors(400, 401, 403)},
    )
    def get(self, request, tenant):
        return self.list_response(request)
