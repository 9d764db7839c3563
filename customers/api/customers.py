"""Customer endpoints: list, search, create, read, replace, patch, delete, login account."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.api.base import can_manage, can_read
from core.errors import (
    InvalidInput,
)
from core.parsers import JSONParser, MergePatchParser
from customers import services
from customers.api.common import (
    ID_RESPONSE,
    LIST_PARAMETERS,
    PURPOSE_PARAMETER,
    READ_ERRORS,
    CustomerApiView,
    errors,
)
from customers.api.serializers import (
    AccountInputSerializer,
    CustomerInputSerializer,
    CustomerSerializer,
    SearchInputSerializer,
)
from customers.models import ReadHow

NOTIFICATIONS = OpenApiParameter(
    "sendPasswordResetNotifications",
    bool,
    description="`false`: no password-reset e-mail for an account created without a password.",
)


def sends_password_reset(request) -> bool:
    """The ``sendPasswordResetNotifications`` query parameter (default true)."""
    return request.query_params.get("sendPasswordResetNotifications", "true").lower() != "false"


class CustomerCollectionApi(CustomerApiView):
    required_scope = {"GET": can_read, "POST": can_manage}
    read_how = {"GET": ReadHow.LIST}

    @extend_schema(
        operation_id="GET-customer-tenant-list-customers",
        summary="List customers",
        description=(
            "The customers the token may read, filtered by `q` (the query language), sorted, paged"
            " and expanded. `Count` says how many are in the answer; `X-Total-Count: true` asks "
            "for the number of all matches. A full page in the default order links the next one "
            "(`Link`, `cursor`)."
        ),
        tags=["Customers"],
        parameters=LIST_PARAMETERS,
        responses={200: CustomerSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, tenant):
        return self.list_response(request, request.query_params.get("q"))

    @extend_schema(
        operation_id="POST-customer-tenant-create-customer",
        summary="Create a customer",
        description=(
            "A new customer, with a login account when `contactEmail` is given. Without "
            "`restriction`, the tenant's site rule or the caller's single manage value decides it;"
            " setting one needs `restriction.restriction_manage` covering it. Answers the customer"
            " number."
        ),
        tags=["Customers"],
        request=CustomerInputSerializer,
        parameters=[NOTIFICATIONS],
        responses={201: ID_RESPONSE, **errors(400, 401, 403, 409)},
    )
    def post(self, request, tenant):
        body = CustomerInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        customer = services.customer_create(
            actor=self.principal,
            fields=body.model_fields(),
            restriction=body.requested_restriction(),
            customer_number=body.requested_number(),
            password=body.validated_data.get("password"),
            send_password_reset=sends_password_reset(request),
        )
        return Response(
            {"id": customer.customer_number},
            status=status.HTTP_201_CREATED,
            headers={"Location": self.customer_location(customer.customer_number)},
        )

    def customer_location(self, number: str) -> str:
        return self.request.build_absolute_uri(
            f"/customer/{self.principal.tenant_code}/customers/{number}"
        )


class CustomerSearchApi(CustomerApiView):
    required_scope = {"POST": can_read}
    read_how = {"POST": ReadHow.SEARCH}

    @extend_schema(
        operation_id="POST-customer-tenant-search",
        summary="Search customers",
        description=(
            'The list with its query in the body (`{"q": …}`), which keeps long or sensitive '
            "criteria out of URLs and logs. Parameters and answer as for the list."
        ),
        tags=["Customers"],
        parameters=[p for p in LIST_PARAMETERS if p.name != "q"],
        request=SearchInputSerializer,
        responses={200: CustomerSerializer(many=True), **READ_ERRORS},
    )
    def post(self, request, tenant):
        if not isinstance(request.data, dict):
            raise InvalidInput('The body must be a JSON object such as {"q": "..."}.')
        q_text = request.data.get("q", "")
        if not isinstance(q_text, str):
            raise InvalidInput("q must be a string.", field="q")
        return self.list_response(request, q_text)


class CustomerDetailApi(CustomerApiView):
    required_scope = {"GET": can_read, "PUT": can_manage, "PATCH": can_manage, "DELETE": can_manage}
    read_how = {"GET": ReadHow.GET, "PATCH": ReadHow.CHANGE}
    parser_classes = [JSONParser, MergePatchParser]

    @extend_schema(
        operation_id="GET-customer-tenant-retrieve-customer",
        summary="Read a customer",
        description=(
            "One customer the token may read; any other answers 404, exactly like a missing one."
        ),
        tags=["Customers"],
        parameters=[OpenApiParameter("expand", str), PURPOSE_PARAMETER],
        responses={200: CustomerSerializer, **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant, customer_number):
        return Response(self.document(customer_number=customer_number))

    @extend_schema(
        operation_id="PUT-customer-tenant-update-customer",
        summary="Create or replace a customer",
        description=(
            "Replaces the customer's profile (what is not sent returns to its default, except "
            "`contactEmail` and `restriction`), or creates it with this number: 204 replaced, 201 "
            "created. `metadata.version`, when sent, must match (409 otherwise)."
        ),
        tags=["Customers"],
        request=CustomerInputSerializer,
        parameters=[NOTIFICATIONS],
        responses={201: ID_RESPONSE, 204: None, **errors(400, 401, 403, 409)},
    )
    def put(self, request, tenant, customer_number):
        body = self.validated_body(request, customer_number)
        customer, created = services.customer_upsert(
            actor=self.principal,
            customer_number=customer_number,
            fields=body.model_fields(),
            restriction=body.requested_restriction(),
            expected_version=body.expected_version(),
            password=body.validated_data.get("password"),
            send_password_reset=sends_password_reset(request),
        )
        if not created:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({"id": customer.customer_number}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="PATCH-customer-tenant-update-customer",
        summary="Change a customer",
        description=(
            "A JSON merge patch (`application/json` or `application/merge-patch+json`): only what "
            "is sent changes, `null` removes. Changing `restriction` needs "
            "`restriction.restriction_manage` covering the old and the new value. Answers the "
            "changed customer."
        ),
        tags=["Customers"],
        request=CustomerInputSerializer,
        parameters=[PURPOSE_PARAMETER],
        responses={200: CustomerSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def patch(self, request, tenant, customer_number):
        body = self.validated_body(request, customer_number, partial=True)
        customer = services.customer_update(
            actor=self.principal,
            customer_number=customer_number,
            fields=body.model_fields(),
            restriction=body.requested_restriction(),
            expected_version=body.expected_version(),
        )
        return Response(self.document(pk=customer.pk))

    @extend_schema(
        operation_id="DELETE-customer-tenant-remove-customer",
        summary="Delete a customer",
        description=(
            "Deletes the customer with its addresses and login accounts; its number is not given "
            "out again unless the tenant allows reuse."
        ),
        tags=["Customers"],
        responses={202: None, **errors(401, 403, 404)},
    )
    def delete(self, request, tenant, customer_number):
        services.customer_delete(actor=self.principal, customer_number=customer_number)
        return Response(status=status.HTTP_202_ACCEPTED)

    def validated_body(self, request, customer_number, partial=False) -> CustomerInputSerializer:
        body = CustomerInputSerializer(data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        if "password" in body.validated_data and partial:
            raise ValidationError({"password": ["The password cannot be changed here."]})
        requested = body.requested_number()
        if requested is not None and requested != customer_number:
            raise ValidationError({"id": ["The customer number cannot be changed."]})
        return body


class CustomerAccountApi(CustomerApiView):
    required_scope = {"POST": can_manage}

    @extend_schema(
        operation_id="POST-customer-tenant-assign-customer-account",
        summary="Add a login account",
        description=(
            "Adds a login e-mail to a customer the token may manage (409 when the e-mail has an "
            "account in the tenant)."
        ),
        tags=["Customers"],
        request=AccountInputSerializer,
        responses={201: ID_RESPONSE, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request, tenant, customer_number):
        body = AccountInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.account_assign(
            actor=self.principal,
            customer_number=customer_number,
            email=body.validated_data["email"],
        )
        return Response({"id": customer_number}, status=status.HTTP_201_CREATED)
