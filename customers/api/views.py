"""Customer and address endpoints. Thin: parse, call a queryset or a service,
shape. Scoping is owned by :class:`accounts.api.TenantApiView`."""

from __future__ import annotations

import logging
from functools import cached_property
from http import HTTPStatus

from django.db import DatabaseError, transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.api import TenantApiView, can_import, can_manage, can_read
from config.database import is_statement_timeout
from config.errors import (
    DoesNotExist,
    InvalidInput,
    ServiceError,
    api_exception_handler,
    error_body,
)
from config.parsers import ItemsJSONParser, JSONParser, MergePatchParser, out_of_range_path
from customers import services
from customers.api.serializers import (
    AccountInputSerializer,
    AddressInputSerializer,
    AddressSerializer,
    CustomerImportItemSerializer,
    CustomerInputSerializer,
    CustomerSerializer,
    ErrorSerializer,
    ImportResultSerializer,
    ResourceIdSerializer,
    SearchInputSerializer,
)
from customers.models import Address, Channel, Customer
from customers.query import QuerySyntaxError, compile_query, compile_sort

logger = logging.getLogger(__name__)

EXPAND_VALUES = {"addresses", "accounts"}
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 60


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


READ_ERRORS = errors(400, 401, 403)
ID_RESPONSE = ResourceIdSerializer

LIST_PARAMETERS = [
    OpenApiParameter("q", str, description="Emporix query language, e.g. `lastName:~^Sm`."),
    OpenApiParameter("sort", str, description="`field[:asc|desc]`, comma-separated."),
    OpenApiParameter("pageNumber", int, description="1-based page number (default 1)."),
    OpenApiParameter("pageSize", int, description="1 to 1000 (default 60)."),
    OpenApiParameter("expand", str, description="`addresses`, `accounts`, `mixin:*`."),
    OpenApiParameter(
        "X-Total-Count",
        bool,
        OpenApiParameter.HEADER,
        description="`true`: the response carries the number of visible matching customers.",
    ),
]


def parse_expand(text: str | None) -> frozenset[str]:
    expand = set()
    for value in (item.strip() for item in (text or "").split(",")):
        if not value:
            continue
        if value in EXPAND_VALUES:
            expand.add(value)
        elif value.startswith("mixin:") and len(value) > len("mixin:"):
            expand.add(value)  # "mixin:*" or "mixin:NAME"
        else:
            raise InvalidInput(f"Unknown expand value {value!r}.", field="expand")
    return frozenset(expand)


MAX_PAGE_NUMBER = 10_000_000


def parse_positive(request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    valid = raw.isascii() and raw.isdigit() and len(raw) <= 12
    if not valid or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        limit = f" and at most {maximum}" if maximum else ""
        raise InvalidInput(f"{name} must be a whole number of at least 1{limit}.", field=name)
    return int(raw)


def customer_json(customer: Customer, expand: frozenset[str] = frozenset()) -> dict:
    return CustomerSerializer(customer, context={"expand": expand}).data


class CustomerApiView(TenantApiView):
    parser_classes = [JSONParser]
    not_found_message = services.NOT_FOUND_MESSAGE

    @cached_property
    def expand(self) -> frozenset[str]:
        return parse_expand(self.request.query_params.get("expand"))

    def scoped_queryset(self, principal):
        return Customer.objects.visible_to(principal).with_relations(self.expand)

    def list_response(self, request, q_text: str | None) -> Response:
        page_number = parse_positive(request, "pageNumber", 1, MAX_PAGE_NUMBER)
        page_size = parse_positive(request, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            condition = compile_query(q_text or "")
            order = compile_sort(request.query_params.get("sort", ""))
        except QuerySyntaxError as exc:
            raise InvalidInput(str(exc), field="q") from exc
        queryset = self.get_queryset().filter(condition).order_by(*order)
        offset = (page_number - 1) * page_size
        page = queryset[offset : offset + page_size]
        headers = {}
        try:
            with transaction.atomic():  # an engine-level regex error must not poison the request
                customers = list(page)
                if request.headers.get("X-Total-Count", "").lower() == "true":
                    headers["X-Total-Count"] = str(queryset.count())
        except DatabaseError as exc:
            if is_statement_timeout(exc):
                raise  # answered 503 by the error handler
            raise InvalidInput(
                "The query cannot be evaluated (invalid regular expression?).", field="q"
            ) from exc
        data = [customer_json(customer, self.expand) for customer in customers]
        return Response(data, headers=headers)


class CustomerCollectionApi(CustomerApiView):
    required_scope = {"GET": can_read, "POST": can_manage}

    @extend_schema(
        operation_id="listCustomers",
        tags=["Customers"],
        parameters=LIST_PARAMETERS,
        responses={200: CustomerSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, tenant):
        return self.list_response(request, request.query_params.get("q"))

    @extend_schema(
        operation_id="createCustomer",
        tags=["Customers"],
        request=CustomerInputSerializer,
        parameters=[OpenApiParameter("sendPasswordResetNotifications", bool)],
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
            send_password_reset=request.query_params.get(
                "sendPasswordResetNotifications", "true"
            ).lower()
            != "false",
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

    @extend_schema(
        operation_id="searchCustomers",
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
    parser_classes = [JSONParser, MergePatchParser]

    @extend_schema(
        operation_id="getCustomer",
        tags=["Customers"],
        parameters=[OpenApiParameter("expand", str)],
        responses={200: CustomerSerializer, **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant, customer_number):
        customer = self.get_object(customer_number=customer_number)
        return Response(customer_json(customer, self.expand))

    @extend_schema(
        operation_id="upsertCustomer",
        tags=["Customers"],
        request=CustomerInputSerializer,
        responses={201: ID_RESPONSE, 204: None, **errors(400, 401, 403, 409)},
    )
    def put(self, request, tenant, customer_number):
        body = self.validated_body(request, customer_number)
        if self.get_queryset().filter(customer_number=customer_number).exists():
            services.customer_update(
                actor=self.principal,
                customer_number=customer_number,
                fields=body.model_fields(),
                restriction=body.requested_restriction(),
                expected_version=body.expected_version(),
                replace=True,
            )
            return Response(status=status.HTTP_204_NO_CONTENT)
        customer = services.customer_create(
            actor=self.principal,
            fields=body.model_fields(),
            restriction=body.requested_restriction(),
            customer_number=customer_number,
            password=body.validated_data.get("password"),
        )
        return Response({"id": customer.customer_number}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="patchCustomer",
        tags=["Customers"],
        request=CustomerInputSerializer,
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
        return Response(customer_json(customer))

    @extend_schema(
        operation_id="deleteCustomer",
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
        operation_id="assignCustomerAccount",
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


class CustomerImportApi(CustomerApiView):
    """Bulk import: items are independent; each goes through the create service."""

    required_scope = {"POST": can_import}
    parser_classes = [ItemsJSONParser]
    max_items = 200

    @extend_schema(
        operation_id="importCustomers",
        tags=["Customers"],
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
            password=body.validated_data.get("password"),
            account_email=account.get("email"),
            account_password_hash=account.get("passwordHash"),
            send_password_reset=False,
            channel=Channel.IMPORT,
        )


# -- addresses ----------------------------------------------------------------------------------


class AddressApiView(CustomerApiView):
    """Addresses are reached through their customer, so the customer filter scopes them."""

    def visible_customer(self, customer_number: str) -> Customer:
        return self.get_object(customer_number=customer_number)

    def visible_address(self, customer_number: str, address_id: str) -> Address:
        address = (
            self.visible_customer(customer_number).addresses.filter(address_id=address_id).first()
        )
        if address is None:
            raise DoesNotExist("Address not found.")
        return address


class AddressCollectionApi(AddressApiView):
    required_scope = {"GET": can_read, "POST": can_manage}

    @extend_schema(
        operation_id="listAddresses",
        tags=["Addresses"],
        responses={200: AddressSerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request, tenant, customer_number):
        customer = self.visible_customer(customer_number)
        return Response(AddressSerializer(customer.addresses.all(), many=True).data)

    @extend_schema(
        operation_id="createAddress",
        tags=["Addresses"],
        request=AddressInputSerializer,
        responses={201: ID_RESPONSE, **errors(400, 401, 403, 404)},
    )
    def post(self, request, tenant, customer_number):
        body = AddressInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        address = services.address_create(
            actor=self.principal, customer_number=customer_number, fields=body.model_fields()
        )
        return Response({"id": address.address_id}, status=status.HTTP_201_CREATED)


class AddressDetailApi(AddressApiView):
    required_scope = {"GET": can_read, "PUT": can_manage, "PATCH": can_manage, "DELETE": can_manage}
    parser_classes = [JSONParser, MergePatchParser]

    @extend_schema(
        operation_id="getAddress",
        tags=["Addresses"],
        responses={200: AddressSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, tenant, customer_number, address_id):
        return Response(AddressSerializer(self.visible_address(customer_number, address_id)).data)

    @extend_schema(
        operation_id="upsertAddress",
        tags=["Addresses"],
        request=AddressInputSerializer,
        responses={201: ID_RESPONSE, 204: None, **errors(400, 401, 403, 404)},
    )
    def put(self, request, tenant, customer_number, address_id):
        body = AddressInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        customer = self.visible_customer(customer_number)
        if customer.addresses.filter(address_id=address_id).exists():
            services.address_update(
                actor=self.principal,
                customer_number=customer_number,
                address_id=address_id,
                fields=body.model_fields(),
                replace=True,
            )
            return Response(status=status.HTTP_204_NO_CONTENT)
        address = services.address_create(
            actor=self.principal,
            customer_number=customer_number,
            fields=body.model_fields(),
            address_id=address_id,
        )
        return Response({"id": address.address_id}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="patchAddress",
        tags=["Addresses"],
        request=AddressInputSerializer,
        responses={200: AddressSerializer, **errors(400, 401, 403, 404)},
    )
    def patch(self, request, tenant, customer_number, address_id):
        body = AddressInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        address = services.address_update(
            actor=self.principal,
            customer_number=customer_number,
            address_id=address_id,
            fields=body.model_fields(),
            replace=False,
        )
        return Response(AddressSerializer(address).data)

    @extend_schema(
        operation_id="deleteAddress",
        tags=["Addresses"],
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request, tenant, customer_number, address_id):
        services.address_delete(
            actor=self.principal, customer_number=customer_number, address_id=address_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


TAGS_SCHEMA = {
    "tags": ["Addresses"],
    "request": None,
    "parameters": [OpenApiParameter("tags", str, required=True)],
    "responses": {204: None, **errors(400, 401, 403, 404)},
}


class AddressTagsApi(AddressApiView):
    required_scope = {"POST": can_manage, "DELETE": can_manage}

    @extend_schema(operation_id="addAddressTags", **TAGS_SCHEMA)
    def post(self, request, tenant, customer_number, address_id):
        return self.change_tags(request, customer_number, address_id, add=True)

    @extend_schema(operation_id="removeAddressTags", **TAGS_SCHEMA)
    def delete(self, request, tenant, customer_number, address_id):
        return self.change_tags(request, customer_number, address_id, add=False)

    def change_tags(self, request, customer_number, address_id, *, add: bool) -> Response:
        tags = [t.strip() for t in request.query_params.get("tags", "").split(",") if t.strip()]
        if not tags:
            raise InvalidInput("Give the tags as ?tags=A,B.", field="tags")
        services.address_tags_change(
            actor=self.principal,
            customer_number=customer_number,
            address_id=address_id,
            tags=tags,
            add=add,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
