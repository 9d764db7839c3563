"""Address endpoints, reached through their customer (so the customer filter scopes them)."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from accounts.api.base import can_manage, can_read
from core.errors import (
    InvalidInput,
    first_or_not_found,
)
from core.parsers import JSONParser, MergePatchParser
from customers import services
from customers.api.common import (
    ID_RESPONSE,
    PURPOSE_PARAMETER,
    CustomerApiView,
    errors,
)
from customers.api.documents import address_document
from customers.api.serializers import (
    AddressInputSerializer,
    AddressSerializer,
)
from customers.models import CUSTOMER_NUMBER_PATTERN, Address, Customer, ReadHow
from customers.services.addresses import ADDRESS_NOT_FOUND


class AddressApiView(CustomerApiView):
    """Addresses are reached through their customer, so the customer filter scopes them."""

    def visible_customer(self, customer_number: str) -> Customer:
        return self.get_object(customer_number=customer_number)

    def visible_address(self, customer_number: str, address_id: str) -> Address:
        addresses = self.visible_customer(customer_number).addresses
        return first_or_not_found(addresses.filter(address_id=address_id), ADDRESS_NOT_FOUND)


def chosen_id(body) -> str | None:
    """The ``id`` a client chose for a new address (Emporix lets it), or None."""
    chosen = body.get("id") if isinstance(body, dict) else None
    if chosen is None:
        return None
    if not isinstance(chosen, str) or not re.fullmatch(CUSTOMER_NUMBER_PATTERN, chosen):
        raise InvalidInput("id is 1 to 66 letters, digits, '_' or '-'.", field="id")
    return chosen


class AddressCollectionApi(AddressApiView):
    required_scope = {"GET": can_read, "POST": can_manage}
    read_how = {"GET": ReadHow.ADDRESSES}

    @extend_schema(
        operation_id="GET-customer-tenant-list-customer-addresses",
        summary="List a customer's addresses",
        description="The addresses of a customer the token may read.",
        tags=["Addresses"],
        parameters=[PURPOSE_PARAMETER],
        responses={200: AddressSerializer(many=True), **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant, customer_number):
        customer = self.visible_customer(customer_number)
        documents = [address_document(a) for a in customer.addresses.all()]
        self.record_reads([customer.customer_number])
        return Response(documents)

    @extend_schema(
        operation_id="POST-customer-tenant-add-customer-address",
        summary="Add an address",
        description=(
            "A new address of a customer the token may manage; the first one becomes the default."
        ),
        tags=["Addresses"],
        request=AddressInputSerializer,
        responses={201: ID_RESPONSE, **errors(400, 401, 403, 404)},
    )
    def post(self, request, tenant, customer_number):
        body = AddressInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        address = services.address_create(
            actor=self.principal,
            customer_number=customer_number,
            fields=body.model_fields(),
            address_id=chosen_id(request.data),
        )
        return Response({"id": address.address_id}, status=status.HTTP_201_CREATED)


class AddressDetailApi(AddressApiView):
    required_scope = {"GET": can_read, "PUT": can_manage, "PATCH": can_manage, "DELETE": can_manage}
    read_how = {"GET": ReadHow.ADDRESSES, "PATCH": ReadHow.ADDRESSES}
    parser_classes = [JSONParser, MergePatchParser]

    @extend_schema(
        operation_id="GET-customer-tenant-retrieve-customer-address-by-id",
        summary="Read an address",
        description="One address of a customer the token may read.",
        tags=["Addresses"],
        parameters=[PURPOSE_PARAMETER],
        responses={200: AddressSerializer, **errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant, customer_number, address_id):
        document = address_document(self.visible_address(customer_number, address_id))
        self.record_reads([customer_number])
        return Response(document)

    @extend_schema(
        operation_id="PUT-customer-tenant-update-customer-address",
        summary="Create or replace an address",
        description=(
            "Replaces the address (keeping its contact name when none is sent), or creates it with"
            " this id: 204 replaced, 201 created."
        ),
        tags=["Addresses"],
        request=AddressInputSerializer,
        responses={201: ID_RESPONSE, 204: None, **errors(400, 401, 403, 404)},
    )
    def put(self, request, tenant, customer_number, address_id):
        body = AddressInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        address, created = services.address_upsert(
            actor=self.principal,
            customer_number=customer_number,
            address_id=address_id,
            fields=body.model_fields(),
        )
        if not created:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({"id": address.address_id}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="PATCH-customer-tenant-update-customer-address",
        summary="Change an address",
        description="A JSON merge patch of the address; answers the changed address.",
        tags=["Addresses"],
        request=AddressInputSerializer,
        parameters=[PURPOSE_PARAMETER],
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
        self.record_reads([customer_number])
        return Response(address_document(address))

    @extend_schema(
        operation_id="DELETE-customer-tenant-remove-customer-address",
        summary="Delete an address",
        description="Deletes one address of a customer the token may manage.",
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

    @extend_schema(
        operation_id="POST-customer-tenant-add-address-tags",
        summary="Add tags to an address",
        description="Adds the tags named in `tags` (comma-separated) to the address.",
        **TAGS_SCHEMA,
    )
    def post(self, request, tenant, customer_number, address_id):
        return self.change_tags(request, customer_number, address_id, add=True)

    @extend_schema(
        operation_id="DELETE-customer-tenant-remove-address-tags",
        summary="Remove tags from an address",
        description="Removes the tags named in `tags` (comma-separated) from the address.",
        **TAGS_SCHEMA,
    )
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
