"""The bulk import endpoint: items are independent, each through the create service."""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.api.base import (
    TenantApiView,
    can_configure_import,
    can_import,
    can_read_import_configuration,
)
from core.api_errors import api_exception_handler
from core.error_bodies import error_body
from core.errors import InvalidInput, ServiceError
from core.parsers import ItemsJSONParser, JSONParser, out_of_range_path
from customers import services
from customers.api.common import (
    CustomerApiView,
    errors,
)
from customers.api.serializers import (
    CustomerImportItemSerializer,
    ImportResultSerializer,
    PasswordMigrationRetentionSerializer,
)
from customers.models import Channel, Customer

logger = logging.getLogger(__name__)


class CustomerImportApi(CustomerApiView):
    """Bulk import: items are independent; each goes through the create service."""

    required_scope = {"POST": can_import}
    parser_classes = [ItemsJSONParser]
    max_items = 200

    @extend_schema(
        operation_id="POST-customer-tenant-import-customers",
        summary="Import customers",
        description=(
            "Up to 200 customers with their login accounts (an Emporix password hash, or legacy "
            "credentials while the tenant's password-migration window is open). Items are "
            "independent: the 207 answer has one result per item, at its index. Needs "
            "`customer.import_manage` and, per item, the manage scope (and "
            "`restriction.restriction_manage` to set a restriction)."
        ),
        tags=["Import and migration"],
        request=CustomerImportItemSerializer(many=True),
        responses={207: ImportResultSerializer(many=True), **errors(400, 401, 403)},
    )
    def post(self, request, tenant):
        items = request.data
        if not isinstance(items, list):
            raise InvalidInput("The body must be a JSON array of customers.")
        if len(items) > self.max_items:
            raise InvalidInput(f"At most {self.max_items} customers per import; nothing imported.")
        results = [self.import_one(index, item) for index, item in enumerate(items)]
        return Response(results, status=status.HTTP_207_MULTI_STATUS)

    def import_one(self, index: int, item) -> dict:
        """One item in its own savepoint: whatever goes wrong with it (even a database error
        or a bug) becomes its result, and neither earlier nor later items are touched."""
        body = CustomerImportItemSerializer(data=item)
        try:
            with transaction.atomic():
                customer = self.create_one(body)
        except ValidationError as exc:
            error = api_exception_handler(exc, {}).data
        except ServiceError as exc:
            error = error_body(exc.status, exc.message, exc.details)
        except Exception:
            logger.exception("Import item %s failed unexpectedly", index)
            error = error_body(500, "This item could not be imported; the others were.")
        else:
            return {
                "index": index,
                "id": customer.customer_number,
                "code": 201,
                "status": HTTPStatus(201).phrase,
            }
        result = {
            "index": index,
            "code": error["status"],
            "status": HTTPStatus(error["status"]).phrase,
            "message": error["message"],
        }
        if error.get("details"):
            result["details"] = error["details"]
        return result

    def create_one(self, body: CustomerImportItemSerializer) -> Customer:
        bad_number = out_of_range_path(body.initial_data)
        if bad_number:
            raise InvalidInput("The number is out of range.", field=bad_number)
        body.is_valid(raise_exception=True)
        account = body.validated_data.get("account") or {}
        return services.customer_create(
            actor=self.principal,
            fields=body.model_fields(),
            restriction=body.requested_restriction(),
            customer_number=body.requested_number(),
            account_email=account.get("email"),
            account_password_hash=account.get("passwordHash"),
            account_legacy_auth=account.get("legacyAuth"),
            send_password_reset=False,
            channel=Channel.IMPORT,
        )


def _retention_document(config) -> dict:
    return PasswordMigrationRetentionSerializer(config).data


class PasswordMigrationRetentionApi(TenantApiView):
    """The tenant's password-migration retention window (imported legacy credentials)."""

    required_scope = {
        "GET": can_read_import_configuration,
        "POST": can_configure_import,
        "DELETE": can_configure_import,
    }
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="GET-customer-tenant-retrieve-password-migration-retention",
        summary="Read the password-migration window",
        description=(
            "The tenant's retention window for imported legacy credentials. Needs "
            "`customer.import_read` or `customer.import_manage`."
        ),
        tags=["Import and migration"],
        responses={200: PasswordMigrationRetentionSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, tenant):
        return Response(_retention_document(services.password_migration_get(actor=self.principal)))

    @extend_schema(
        operation_id="POST-customer-tenant-configure-password-migration-retention",
        summary="Configure the password-migration window",
        description=(
            "Sets the end of the retention window for imported legacy credentials (in the future),"
            " the reminder date and whether customers get e-mails. Needs the unsuffixed "
            "`customer.import_manage`."
        ),
        tags=["Import and migration"],
        request=PasswordMigrationRetentionSerializer,
        responses={200: PasswordMigrationRetentionSerializer, **errors(400, 401, 403)},
    )
    def post(self, request, tenant):
        body = PasswordMigrationRetentionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        config = services.password_migration_configure(actor=self.principal, **body.validated_data)
        return Response(_retention_document(config))

    @extend_schema(
        operation_id="DELETE-customer-tenant-remove-password-migration-retention",
        summary="Remove the password-migration window",
        description=(
            "Only while no login account holds legacy credentials any more. Needs the unsuffixed "
            "`customer.import_manage`."
        ),
        tags=["Import and migration"],
        responses={204: None, **errors(400, 401, 403)},
    )
    def delete(self, request, tenant):
        services.password_migration_remove(actor=self.principal)
        return Response(status=status.HTTP_204_NO_CONTENT)
