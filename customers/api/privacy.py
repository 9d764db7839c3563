"""Data-subject requests through the API: a customer's export, legal hold and erasure."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.audit import AuditActorSerializer, actor_of
from accounts.api.base import can_manage_privacy
from accounts.scopes import Grants
from core.channels import Channel
from core.datetimes import iso_formatter
from core.errors import InvalidInput
from customers.api.common import PURPOSE_PARAMETER, CustomerApiView, errors
from customers.models import PrivacyExport
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


class PrivacyExportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customerNumber = serializers.CharField()
    status = serializers.ChoiceField(choices=PrivacyExport.Status.choices)
    message = serializers.CharField()
    requestedAt = serializers.DateTimeField()
    readyAt = serializers.DateTimeField(allow_null=True)
    expiresAt = serializers.DateTimeField(allow_null=True)
    downloadedAt = serializers.DateTimeField(allow_null=True)
    document = serializers.CharField(allow_null=True, help_text="Where to download it, once.")


class CustomerPrivacyExportApi(PrivacyApiView):
    required_scope = {"POST": can_manage_privacy}

    @extend_schema(
        operation_id="POST-customer-tenant-export-customer",
        summary="Export everything held about a customer",
        description=(
            "Starts a data-subject export (a background job): the profile with addresses, login "
            "accounts (no secrets) and mixins, the legal hold, the restriction history and every "
            "read of the customer, as one JSON document. Answers 202 with the export; follow "
            "`Location` until it is `ready`, then download the document once within "
            "`PRIVACY_EXPORT_HOURS` (24 by default). Only the requester sees the export."
        ),
        tags=["Privacy"],
        request=None,
        parameters=[PURPOSE_PARAMETER],
        responses={202: PrivacyExportSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, tenant, customer_number):
        export = privacy.privacy_export_request(
            actor=self.principal,
            channel=Channel.API,
            customer_number=customer_number,
            purpose=self.purpose,
        )
        return Response(
            export_document(request, export),
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": export_url(request, export)},
        )


class PrivacyExportApi(PrivacyApiView):
    required_scope = {"GET": can_manage_privacy}

    def dispatch(self, request, *args, **kwargs):
        kwargs["export_id"] = kwargs.pop("exportId")
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="GET-customer-tenant-retrieve-privacy-export",
        summary="Follow a data-subject export",
        description="Its status; `document` says where to download it once it is `ready`.",
        tags=["Privacy"],
        responses={200: PrivacyExportSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, tenant, export_id):
        export = privacy.privacy_export_status(actor=self.principal, export_id=int(export_id))
        return Response(export_document(request, export))


class PrivacyExportDocumentApi(PrivacyExportApi):
    @extend_schema(
        operation_id="GET-customer-tenant-download-privacy-export",
        summary="Download a data-subject export, once",
        description=(
            "The export's JSON document, as an attachment. It is removed as it is handed out: "
            "a second download, or one after the export expired, answers 410."
        ),
        tags=["Privacy"],
        responses={200: OpenApiTypes.OBJECT, **errors(401, 403, 404, 410)},
    )
    def get(self, request, tenant, export_id):
        document = privacy.privacy_export_download(
            actor=self.principal, export_id=int(export_id), channel=Channel.API
        )
        filename = f"customer-{document['customerNumber']}-export.json"
        return Response(
            document, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )


def export_url(request, export: PrivacyExport) -> str:
    return request.build_absolute_uri(f"/customer/{export.tenant.code}/privacy-exports/{export.pk}")


def export_document(request, export: PrivacyExport) -> dict:
    iso = iso_formatter()
    ready = export.status == PrivacyExport.Status.READY
    return {
        "id": export.pk,
        "customerNumber": export.customer_number,
        "status": export.status,
        "message": export.message,
        "requestedAt": iso(export.requested_at),
        "readyAt": iso(export.ready_at),
        "expiresAt": iso(export.expires_at),
        "downloadedAt": iso(export.downloaded_at),
        "document": f"{export_url(request, export)}/document" if ready else None,
    }
