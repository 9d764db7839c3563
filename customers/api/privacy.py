"""Data-subject requests through the API: a customer's legal hold, and its erasure."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.audit import AuditActorSerializer, actor_of
from accounts.api.base import can_manage_privacy
from accounts.scopes import Grants
from core.channels import Channel
from core.datetimes import iso_formatter
from core.errors import InvalidInput
from customers.api.common import CustomerApiView, errors
from customers.services import privacy

REASON_BODY = inline_serializer(
    "ReasonInput", {"reason": serializers.CharField(max_length=privacy.REASON_MAX_LENGTH)}
)


class ErasureSerializer(serializers.Serializer):
    customerNumber = serializers.CharField()
    erasedAt = serializers.DateTimeField()
    erasedBy = AuditActorSerializer()
    channel = serializers.ChoiceField(choices=Channel.choices)
    reason = serializers.CharField()


class LegalHoldSerializer(serializers.Serializer):
    customerNumber = serializers.CharField()
    legalHold = serializers.CharField(allow_null=True)


def reason_of(request) -> str:
    if not isinstance(request.data, dict):
        raise InvalidInput('The body must be a JSON object such as {"reason": "..."}.')
    return privacy.checked_reason(request.data.get("reason"))


class PrivacyApiView(CustomerApiView):
    # Row-level security: the request reads the customers its privacy scope covers.
    reads = staticmethod(Grants.privacy_manageable)


class CustomerErasureApi(PrivacyApiView):
    required_scope = {"POST": can_manage_privacy}

    @extend_schema(
        operation_id="POST-customer-tenant-erase-customer",
        summary="Erase a customer's personal data",
        description=(
            "Deletes the customer with its addresses and login accounts, blanks the purposes of "
            "its reads in the read-access log and its name in the back office's change log; its "
            "number stays taken for good. Needs `customer.privacy_manage` covering the customer "
            "and a `reason`; 409 when the customer is under a legal hold or erased already."
        ),
        tags=["Privacy"],
        request=REASON_BODY,
        responses={200: ErasureSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request, tenant, customer_number):
        erasure = privacy.customer_erase(
            actor=self.principal,
            channel=Channel.API,
            customer_number=customer_number,
            reason=reason_of(request),
        )
        return Response(
            {
                "customerNumber": erasure.customer_number,
                "erasedAt": iso_formatter()(erasure.erased_at),
                "erasedBy": actor_of(erasure),
                "channel": erasure.channel,
                "reason": erasure.reason,
            }
        )


class CustomerLegalHoldApi(PrivacyApiView):
    required_scope = {"PUT": can_manage_privacy, "DELETE": can_manage_privacy}

    @extend_schema(
        operation_id="PUT-customer-tenant-hold-customer",
        summary="Put a customer under a legal hold",
        description=(
            "While held, the customer can be neither erased nor deleted. The `reason` is kept "
            "and shown with every refusal."
        ),
        tags=["Privacy"],
        request=REASON_BODY,
        responses={200: LegalHoldSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, tenant, customer_number):
        customer = privacy.legal_hold_set(
            actor=self.principal, customer_number=customer_number, reason=reason_of(request)
        )
        return Response(
            {"customerNumber": customer.customer_number, "legalHold": customer.legal_hold}
        )

    @extend_schema(
        operation_id="DELETE-customer-tenant-release-customer-hold",
        summary="Lift a customer's legal hold",
        tags=["Privacy"],
        description="The customer may be erased or deleted again.",
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request, tenant, customer_number):
        privacy.legal_hold_set(actor=self.principal, customer_number=customer_number, reason=None)
        return Response(status=status.HTTP_204_NO_CONTENT)
