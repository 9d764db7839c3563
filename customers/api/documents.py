"""The customer and address JSON documents, built in one pass from database rows.

The serializers in :mod:`customers.api.serializers` describe the same shapes for the OpenAPI
document and validate input; building responses through them cost a serializer (and deep copies
of its fields) per customer, which dominated a list request. Here a page is one query of plain
column tuples (no model instances), one for the page's addresses and, when expanded, one for
its accounts; each document is a dict literal. The JSON is the serializers' key for key and byte
for byte (``tests/customers/test_documents.py`` compares them for every expand combination).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

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


def iso_formatter() -> Callable[[datetime | None], str | None]:
    """Date-times as the API writes them: ISO 8601 in the current time zone, UTC as ``Z``.
    (The time zone is looked up once per response, not per value.)"""
    zone = timezone.get_current_timezone()

    def iso(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _present(document: dict[str, Any], keep: str = "") -> dict[str, Any]:
    """The document without its null properties (Emporix leaves them out), except ``keep``."""
    return {key: value for key, value in document.items() if value is not None or key == keep}


# The index of ``is_default`` in an address row (after the customer id, in a grouped row).
_IS_DEFAULT = ADDRESS_FIELDS.index("is_default")


def _address(values: Sequence) -> dict[str, Any]:
    (address_id, contact_name, company_name, street, street_number, street_appendix) = values[:6]
    (line1, line2, line3, line4, zip_code, city, country, state, phone, tags) = values[6:16]
    (is_default, version, metadata_mixins, mixins) = values[16:20]
    return _present(
        {
            "id": address_id,
            "contactName": _text(contact_name),
            "companyName": _text(company_name),
            "street": _text(street),
            "streetNumber": _text(street_number),
            "streetAppendix": _text(street_appendix),
            "extraLine1": _text(line1),
            "extraLine2": _text(line2),
            "extraLine3": _text(line3),
            "extraLine4": _text(line4),
            "zipCode": _text(zip_code),
            "city": _text(city),
            "country": _text(country),
            "state": _text(state),
            "contactPhone": _text(phone),
            "tags": None if tags is None else [_text(tag) for tag in tags],
            "isDefault": is_default,
            "metadata": {"version": version, "mixins": metadata_mixins},
            "mixins": mixins,
        }
    )


def address_document(address) -> dict[str, Any]:
    return _address([getattr(address, name) for name in ADDRESS_FIELDS])


def _b2b(registration_id: str | None, legal_entities: list) -> dict[str, Any] | None:
    if not (registration_id or legal_entities):
        return None
    b2b: dict[str, Any] = {}
    if registration_id is not None:
        b2b["companyRegistrationId"] = str(registration_id)
    if legal_entities:
        b2b["legalEntities"] = legal_entities
    return b2b


def _customer(row: Sequence, default: Sequence | None, iso, expand) -> dict[str, Any]:
    (number, title, first_name, middle_name, last_name, email, phone, company) = row[1:9]
    (language, currency, site, type_, photo_url, active, on_hold, registration_id) = row[9:17]
    (legal_entities, restriction, version, created_at, modified_at) = row[17:22]
    (metadata_mixins, mixins) = row[22:24]
    created = iso(created_at)
    document = _present(
        {
            "id": number,
            "customerNumber": number,
            "title": _text(title),
            "firstName": _text(first_name),
            "middleName": _text(middle_name),
            "lastName": _text(last_name),
            "contactEmail": _text(email),
            "contactPhone": _text(phone),
            "company": _text(company),
            "preferredLanguage": _text(language),
            "preferredCurrency": _text(currency),
            "preferredSite": _text(site),
            "type": type_,
            "photoUrl": _text(photo_url),
            "active": active,
            "onHold": on_hold,
            "b2b": _b2b(registration_id, legal_entities),
            "businessModel": business_model(registration_id, legal_entities),
            "restriction": _text(restriction),  # null: no restriction
            "metadata": {
                "version": version,
                "createdAt": created,
                "modifiedAt": iso(modified_at),
                "mixins": {str(k): v for k, v in metadata_mixins.items()},
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


def _grouped(rows: Iterable[tuple]) -> dict[int, list]:
    groups: dict[int, list] = defaultdict(list)
    for customer_id, *values in rows:
        groups[customer_id].append(values)
    return groups


def customer_documents(
    customers: QuerySet[Customer],
    expand: frozenset[str] = frozenset(),
    *,
    addresses: QuerySet,
    accounts: QuerySet,
) -> tuple[list[int], list[dict[str, Any]]]:
    """The primary keys and documents of ``customers`` (already scoped, ordered and sliced), in
    their order. ``addresses``/``accounts`` are the caller's scoped querysets: one query reads
    the page's default addresses (or, expanded, all its addresses), one its accounts when
    expanded."""
    rows = list(customers.values_list(*CUSTOMER_FIELDS))
    ids = [row[0] for row in rows]
    page_addresses = addresses.filter(customer_id__in=ids)
    if "addresses" not in expand:
        page_addresses = page_addresses.filter(is_default=True)
    found = _grouped(page_addresses.order_by("pk").values_list("customer_id", *ADDRESS_FIELDS))
    iso = iso_formatter()
    documents = []
    for row in rows:
        own = found.get(row[0], ())
        default = next((values for values in own if values[_IS_DEFAULT]), None)
        document = _customer(row, default, iso, expand)
        if "addresses" in expand:
            document["addresses"] = [_address(values) for values in own]
        documents.append(document)
    if "accounts" in expand:
        emails = _grouped(
            accounts.filter(customer_id__in=ids).order_by("pk").values_list("customer_id", "email")
        )
        for document, pk in zip(documents, ids, strict=True):
            document["accounts"] = [{"id": email} for (email,) in emails.get(pk, [])]
    if expand:
        documents = [_reorder(document) for document in documents]
    return ids, documents


_EXPANDED_ORDER = ("addresses", "accounts", "mixins")


def _reorder(document: dict[str, Any]) -> dict[str, Any]:
    """Expanded keys in the serializers' order (addresses, accounts, mixins), after the rest."""
    tail = {key: document.pop(key) for key in _EXPANDED_ORDER if key in document}
    document.update(tail)
    return document
