"""The customer and address JSON documents, built in one pass from database rows.

The serializers in :mod:`customers.api.serializers` describe the same shapes for the OpenAPI
document and validate input; building responses through them cost a serializer (and deep copies
of its fields) per customer, which dominated a list request. Here a page is one query of plain
column tuples (no model instances) with each row's default address, and, when expanded, one for
the page's addresses and one for its accounts; each document is a dict literal. The JSON is the
serializers' key for key and byte for byte (``tests/customers/test_documents.py`` compares them
for every expand combination).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import QuerySet

from core.datetimes import iso_formatter
from customers.models import Customer, business_model

ADDRESS_FIELDS = (
    "address_id",
    "contact_name",
    "company_name",
    "street",
    "street_number",
    "street_appendix",
    "extra_line1",
    "extra_line2",
    "extra_line3",
    "extra_line4",
    "zip_code",
    "city",
    "country",
    "state",
    "contact_phone",
    "tags",
    "is_default",
    "version",
    "metadata_mixins",
    "mixins",
)
CUSTOMER_FIELDS = (
    "pk",
    "customer_number",
    "title",
    "first_name",
    "middle_name",
    "last_name",
    "contact_email",
    "contact_phone",
    "company",
    "preferred_language",
    "preferred_currency",
    "preferred_site",
    "type",
    "photo_url",
    "active",
    "on_hold",
    "b2b_company_registration_id",
    "b2b_legal_entities",
    "restriction",
    "version",
    "created_at",
    "modified_at",
    "metadata_mixins",
    "mixins",
)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _present(document: dict[str, Any], keep: str = "") -> dict[str, Any]:
    """The document without its null properties (Emporix leaves them out), except ``keep``."""
    return {key: value for key, value in document.items() if value is not None or key == keep}


def _address(a: dict[str, Any]) -> dict[str, Any]:
    """An address document from its ``ADDRESS_FIELDS`` by name."""
    tags = a["tags"]
    return _present(
        {
            "id": a["address_id"],
            "contactName": _text(a["contact_name"]),
            "companyName": _text(a["company_name"]),
            "street": _text(a["street"]),
            "streetNumber": _text(a["street_number"]),
            "streetAppendix": _text(a["street_appendix"]),
            "extraLine1": _text(a["extra_line1"]),
            "extraLine2": _text(a["extra_line2"]),
            "extraLine3": _text(a["extra_line3"]),
            "extraLine4": _text(a["extra_line4"]),
            "zipCode": _text(a["zip_code"]),
            "city": _text(a["city"]),
            "country": _text(a["country"]),
            "state": _text(a["state"]),
            "contactPhone": _text(a["contact_phone"]),
            "tags": None if tags is None else [_text(tag) for tag in tags],
            "isDefault": a["is_default"],
            "metadata": {"version": a["version"], "mixins": a["metadata_mixins"]},
            "mixins": a["mixins"],
        }
    )


def address_document(address) -> dict[str, Any]:
    return _address({name: getattr(address, name) for name in ADDRESS_FIELDS})


def _b2b(registration_id: str | None, legal_entities: list) -> dict[str, Any] | None:
    if not (registration_id or legal_entities):
        return None
    b2b: dict[str, Any] = {}
    if registration_id is not None:
        b2b["companyRegistrationId"] = str(registration_id)
    if legal_entities:
        b2b["legalEntities"] = legal_entities
    return b2b


def _customer(c: dict[str, Any], default: dict | None, iso, expand) -> dict[str, Any]:
    """A customer document from its ``CUSTOMER_FIELDS`` by name."""
    number = c["customer_number"]
    registration_id, legal_entities = c["b2b_company_registration_id"], c["b2b_legal_entities"]
    mixins = c["mixins"]
    created = iso(c["created_at"])
    document = _present(
        {
            "id": number,
            "customerNumber": number,
            "title": _text(c["title"]),
            "firstName": _text(c["first_name"]),
            "middleName": _text(c["middle_name"]),
            "lastName": _text(c["last_name"]),
            "contactEmail": _text(c["contact_email"]),
            "contactPhone": _text(c["contact_phone"]),
            "company": _text(c["company"]),
            "preferredLanguage": _text(c["preferred_language"]),
            "preferredCurrency": _text(c["preferred_currency"]),
            "preferredSite": _text(c["preferred_site"]),
            "type": c["type"],
            "photoUrl": _text(c["photo_url"]),
            "active": c["active"],
            "onHold": c["on_hold"],
            "b2b": _b2b(registration_id, legal_entities),
            "businessModel": business_model(registration_id, legal_entities),
            "restriction": _text(c["restriction"]),  # null: no restriction
            "metadata": {
                "version": c["version"],
                "createdAt": created,
                "modifiedAt": iso(c["modified_at"]),
                "mixins": {str(k): v for k, v in c["metadata_mixins"].items()},
            },
            "metadataCreatedAt": created,
            "defaultAddress": None if default is None else _address(default),
        },
        keep="restriction",
    )
    names = {value.removeprefix("mixin:") for value in expand if value.startswith("mixin:")}
    if names:
        document["mixins"] = (
            mixins if "*" in names else {k: v for k, v in mixins.items() if k in names}
        )
    return document


def _grouped(rows: Iterable[tuple], names: Sequence[str]) -> dict[int, list[dict[str, Any]]]:
    """Rows of ``(customer_id, *names)`` as lists of ``{name: value}`` per customer."""
    groups: dict[int, list] = defaultdict(list)
    for customer_id, *values in rows:
        groups[customer_id].append(dict(zip(names, values, strict=True)))
    return groups


def _stored_address(stored: dict[str, Any]) -> dict[str, Any]:
    """The default address's ``ADDRESS_FIELDS`` as its columns would give them (SQLite's
    ``json_object`` writes a boolean as 0/1)."""
    stored["is_default"] = bool(stored["is_default"])
    return stored


def customer_documents(
    customers: QuerySet[Customer],
    expand: frozenset[str] = frozenset(),
    *,
    addresses: QuerySet | None,
    accounts: QuerySet | None,
) -> tuple[list[int], list[dict[str, Any]]]:
    """The primary keys and documents of ``customers`` (already scoped, ordered and sliced), in
    their order. The default addresses come in the same statement
    (``CustomerQuerySet.with_default_address``: a customer's addresses are visible exactly when
    it is); ``addresses``/``accounts`` are the caller's scoped querysets for the expanded forms
    (needed only for them): one query reads the page's addresses, one its accounts."""
    joined = "addresses" not in expand
    columns = CUSTOMER_FIELDS
    if joined:
        customers = customers.with_default_address(ADDRESS_FIELDS)
        columns = (*CUSTOMER_FIELDS, "default_address")
    width = len(CUSTOMER_FIELDS)
    rows, found = [], {}
    for values in customers.values_list(*columns):
        row = dict(zip(CUSTOMER_FIELDS, values[:width], strict=True))
        rows.append(row)
        if joined and values[width] is not None:
            found[row["pk"]] = [_stored_address(values[width])]
    ids = [row["pk"] for row in rows]
    if not joined:
        found = _grouped(
            addresses.filter(customer_id__in=ids)
            .order_by("pk")
            .values_list("customer_id", *ADDRESS_FIELDS),
            ADDRESS_FIELDS,
        )
    iso = iso_formatter()
    documents = []
    for row in rows:
        own = found.get(row["pk"], ())
        default = next((address for address in own if address["is_default"]), None)
        document = _customer(row, default, iso, expand)
        if "addresses" in expand:
            document["addresses"] = [_address(values) for values in own]
        documents.append(document)
    if "accounts" in expand:
        emails = _grouped(
            accounts.filter(customer_id__in=ids).order_by("pk").values_list("customer_id", "email"),
            ("email",),
        )
        for document, pk in zip(documents, ids, strict=True):
            document["accounts"] = [{"id": account["email"]} for account in emails.get(pk, [])]
    if expand:
        documents = [_reorder(document) for document in documents]
    return ids, documents


_EXPANDED_ORDER = ("addresses", "accounts", "mixins")


def _reorder(document: dict[str, Any]) -> dict[str, Any]:
    """Expanded keys in the serializers' order (addresses, accounts, mixins), after the rest."""
    tail = {key: document.pop(key) for key in _EXPANDED_ORDER if key in document}
    document.update(tail)
    return document
