"""What every customer and address endpoint shares: paging and expand parameters, error
responses for the OpenAPI document, the base view and the customer list."""

from __future__ import annotations

from contextlib import nullcontext
from functools import cached_property

from django.db import DatabaseError, connection, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from accounts.api.base import TenantApiView
from core import plans
from core.channels import Channel
from core.cursors import next_link
from core.database import is_invalid_pattern
from core.errors import DoesNotExist, InvalidInput
from core.openapi import errors
from core.parsers import JSONParser
from core.query_params import parse_positive
from customers import services
from customers.api.documents import customer_documents
from customers.api.paging import make_cursor, page_of, read_cursor
from customers.api.serializers import (
    ResourceIdSerializer,
)
from customers.models import Account, Address, Customer, ReadHow
from customers.query import QuerySyntaxError, compile_query, compile_sort
from customers.read_log import PURPOSE_HEADER, purpose_of, record

EXPAND_VALUES = {"addresses", "accounts"}
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 60


READ_ERRORS = errors(400, 401, 403)
ID_RESPONSE = ResourceIdSerializer

PURPOSE_PARAMETER = OpenApiParameter(
    PURPOSE_HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Why the customers are read (at most 200 characters): kept with each of them in "
    "the read-access log, which the customer's data-protection requests show.",
)


LIST_PARAMETERS = [
    PURPOSE_PARAMETER,
    OpenApiParameter(
        "q",
        str,
        description=(
            "Emporix's query language: space-separated `field:value` terms, all of which must "
            "hold. `lastName:Kusch` (equal), `restriction:(DE,FR)` (one of), `lastName:~^Ku` "
            "(regular expression), `metadata.version:>3` and ranges such as "
            '`metadataCreatedAt:(>="2026-01-01T00:00:00Z" AND <"2026-02-01T00:00:00Z")`, '
            "`active:true`, `middleName:null`, `mixins.loyalty.tier:gold`, "
            '`company:"Acme Ltd"` (quotes for spaces). Fields: id, customerNumber, title, '
            "firstName, middleName, lastName, contactEmail, email (login accounts), "
            "contactPhone, company, preferredSite, preferredLanguage, preferredCurrency, type, "
            "photoUrl, businessModel, active, onHold, restriction, b2b.companyRegistrationId, "
            "metadataCreatedAt, metadata.createdAt, metadata.modifiedAt, metadata.version, "
            "mixins.<path>. The whole language, with every operator and error: "
            "docs/query-language.md in the service's repository."
        ),
    ),
    OpenApiParameter("sort", str, description="`field[:asc|desc]`, comma-separated."),
    OpenApiParameter("pageNumber", int, description="1-based page number (default 1)."),
    OpenApiParameter("pageSize", int, description="1 to 1000 (default 60)."),
    OpenApiParameter(
        "cursor",
        str,
        description='Continue after the page that handed it out (its `Link: rel="next"` '
        "header); every page costs the same. Not combined with `sort` or `pageNumber`.",
    ),
    OpenApiParameter(
        "expand",
        str,
        description="`addresses`, `accounts`, `mixin` or `mixin:*` (all), `mixin:NAME`.",
    ),
    OpenApiParameter(
        "X-Total-Count",
        bool,
        OpenApiParameter.HEADER,
        description="`true`: the response carries the number of visible matching customers.",
    ),
    OpenApiParameter(
        "Count",
        int,
        OpenApiParameter.HEADER,
        response=[200],
        description="The number of customers in this response (Emporix's header).",
    ),
    OpenApiParameter(
        "X-Total-Count",
        int,
        OpenApiParameter.HEADER,
        response=[200],
        description="With `X-Total-Count: true`: the number of visible matching customers.",
    ),
]


def parse_expand(text: str | None) -> frozenset[str]:
    expand = set()
    for value in (item.strip() for item in (text or "").split(",")):
        if not value:
            continue
        if value in EXPAND_VALUES:
            expand.add(value)
        elif value == "mixin":
            expand.add("mixin:*")  # every mixin, as Emporix clients ask for them
        elif value.startswith("mixin:") and len(value) > len("mixin:"):
            expand.add(value)  # "mixin:*" or "mixin:NAME"
        else:
            raise InvalidInput(f"Unknown expand value {value!r}.", field="expand")
    return frozenset(expand)


MAX_PAGE_NUMBER = 10_000_000


# Path parameters are named as in Emporix's API (``customerNumber``, ``addressId``); the
# handlers receive them in Python's spelling.
PATH_PARAMETERS = {"customerNumber": "customer_number", "addressId": "address_id"}


class CustomerApiView(TenantApiView):
    parser_classes = [JSONParser]
    not_found_message = services.NOT_FOUND_MESSAGE
    # How each method's answer serves customers, for the read-access log (customers.read_log).
    read_how: dict[str, ReadHow] = {}

    def dispatch(self, request, *args, **kwargs):
        kwargs = {PATH_PARAMETERS.get(name, name): value for name, value in kwargs.items()}
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def expand(self) -> frozenset[str]:
        return parse_expand(self.request.query_params.get("expand"))

    def check_request(self, request) -> None:
        self.purpose = purpose_of(request.headers.get(PURPOSE_HEADER))

    def record_reads(self, numbers, *, expanded=()) -> None:
        """The customers this answer serves, in the read-access log."""
        tenant_id = self.principal.tenant_id
        record(
            self.principal,
            channel=Channel.API,
            # (HEAD runs GET's handler: logged as the GET it is, though no body leaves)
            how=self.read_how["GET" if self.request.method == "HEAD" else self.request.method],
            served=((tenant_id, number) for number in numbers),
            purpose=self.purpose,
            expanded=expanded,
        )

    def scoped_queryset(self, principal):
        return Customer.objects.visible_to(principal)

    def documents(self, customers, *, by_key: bool = False) -> tuple[list[int], list[dict]]:
        """Documents of (part of) the scoped queryset, expanded as the request asks.
        ``by_key``: one customer by a unique key (its statements' plans are kept)."""
        expand = self.expand
        principal = self.principal
        with plans.reused() if by_key else nullcontext():
            ids, documents = customer_documents(
                customers,
                expand,
                # (built only when asked for: each costs the ORM a scoped subquery to compile)
                addresses=Address.objects.visible_to(principal) if "addresses" in expand else None,
                accounts=Account.objects.visible_to(principal) if "accounts" in expand else None,
            )
        self.record_reads((document["id"] for document in documents), expanded=expand)
        return ids, documents

    def document(self, **lookup) -> dict:
        """One visible customer's document; invisible and nonexistent answer the same 404."""
        # (one row by a unique key: no order to compile)
        _, documents = self.documents(self.get_queryset().filter(**lookup).order_by(), by_key=True)
        if not documents:
            raise DoesNotExist(self.not_found_message)
        return documents[0]

    def list_response(self, request, q_text: str | None) -> Response:
        params = request.query_params
        page_number = parse_positive(request, "pageNumber", 1, MAX_PAGE_NUMBER)
        page_size = parse_positive(request, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            condition = compile_query(q_text or "")
        except QuerySyntaxError as exc:
            raise InvalidInput(str(exc), field="q") from exc
        try:
            order = compile_sort(params.get("sort", ""))
        except QuerySyntaxError as exc:
            raise InvalidInput(str(exc), field="sort") from exc
        matching = self.get_queryset().filter(condition)
        page_of_customers = matching
        offset = (page_number - 1) * page_size
        if "cursor" in params:
            if "sort" in params or "pageNumber" in params:
                raise InvalidInput(
                    "A cursor continues the default order: give it without sort or pageNumber.",
                    field="cursor",
                )
            after = read_cursor(params["cursor"], request.user.tenant_id)
            page_of_customers = matching.filter(pk__gt=after)
        headers: dict[str, str] = {}
        # Only a search can hold something the engine rejects (a regular expression it cannot
        # compile fails its statement): then, inside the request's transaction, a savepoint
        # keeps that from poisoning it. A plain page needs none (two statements fewer).
        searching = bool(condition)
        guard = transaction.atomic() if searching and connection.in_atomic_block else nullcontext()
        try:
            with guard:
                page = page_of(page_of_customers.order_by(*order), offset, page_size)
                ids, documents = self.documents(page)
                if request.headers.get("X-Total-Count", "").lower() == "true":
                    total = (
                        matching.count()
                        if searching
                        else Customer.objects.visible_count(self.principal)
                    )
                    headers["X-Total-Count"] = str(total)
        except DatabaseError as exc:
            if not (searching and is_invalid_pattern(exc)):
                raise  # a time-out is answered 503 by the error handler, the rest 500
            raise InvalidInput(
                "The query's regular expression cannot be evaluated by the database.", field="q"
            ) from exc
        headers["Count"] = str(len(documents))
        if request.method == "GET" and len(ids) == page_size and "sort" not in params:
            # (A search's criteria are in its body, so a link could not carry them.)
            headers["Link"] = self.next_link(request, ids[-1])
        return Response(documents, headers=headers)

    def next_link(self, request, last_pk: int) -> str:
        cursor = make_cursor(request.user.tenant_id, last_pk)
        return next_link(request, cursor, drop=("pageNumber",))
