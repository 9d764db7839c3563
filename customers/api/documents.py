"""The customer and address JSON documents, built in one pass from the rows already fetched.

The serializers in :mod:`customers.api.serializers` describe the same shapes for the OpenAPI
document and validate input; building responses through them costs a serializer (and deep
copies of its fields) per customer, which dominated a list request. These functions produce the
same JSON, key for key and byte for byte (``tests/customers/test_documents.py`` compares them
with the serializers for every expand combination).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from customers.models import Account, Address, Customer


def iso(value: datetime | None) -> str | None:
    """A date-time as the API writes it: ISO 8601 in the current time zone, UTC as ``Z``."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def address_document(address: Address) -> dict[str, Any]:
    return {
        "id": address.address_id,
        "contactName": _text(address.contact_name),
        "companyName": _text(address.company_name),
        "street": _text(address.street),
        "streetNumber": _text(address.street_number),
        "streetAppendix": _text(address.street_appendix),
        "extraLine1": _text(address.extra_line1),
        "extraLine2": _text(address.extra_line2),
        "extraLine3": _text(address.extra_line3),
        "extraLine4": _text(address.extra_line4),
        "zipCode": _text(address.zip_code),
        "city": _text(address.city),
        "country": _text(address.country),
        "state": _text(address.state),
        "contactPhone": _text(address.contact_phone),
        "tags": None if address.tags is None else [_text(tag) for tag in address.tags],
        "isDefault": address.is_default,
    }


def _default_address(customer: Customer) -> dict[str, Any] | None:
    defaults = getattr(customer, "default_addresses", None)
    if defaults is None:
        defaults = [a for a in customer.addresses.all() if a.is_default]
    return address_document(defaults[0]) if defaults else None


def _account_document(account: Account) -> dict[str, Any]:
    return {"id": account.email}


def customer_document(customer: Customer, expand: frozenset[str] = frozenset()) -> dict:
    """One customer; ``addresses``, ``accounts`` and ``mixins`` only when expanded (they read
    the prefetched relations, so a page costs constant queries)."""
    registration_id = customer.b2b_company_registration_id
    document = {
        "id": customer.customer_number,
        "customerNumber": customer.customer_number,
        "title": _text(customer.title),
        "firstName": _text(customer.first_name),
        "middleName": _text(customer.middle_name),
        "lastName": _text(customer.last_name),
        "contactEmail": _text(customer.contact_email),
        "contactPhone": _text(customer.contact_phone),
        "company": _text(customer.company),
        "preferredLanguage": _text(customer.preferred_language),
        "preferredCurrency": _text(customer.preferred_currency),
        "preferredSite": _text(customer.preferred_site),
        "type": customer.type,
        "photoUrl": _text(customer.photo_url),
        "active": customer.active,
        "onHold": customer.on_hold,
        "b2b": {"companyRegistrationId": _text(registration_id)},
        "businessModel": "B2B" if registration_id else "B2C",
        "restriction": _text(customer.restriction),
        "metadata": {
            "version": customer.version,
            "createdAt": iso(customer.created_at),
            "modifiedAt": iso(customer.modified_at),
            "mixins": {str(k): v for k, v in customer.metadata_mixins.items()},
        },
        "metadataCreatedAt": iso(customer.created_at),
        "defaultAddress": _default_address(customer),
    }
    if not expand:
        return document
    if "addresses" in expand:
        document["addresses"] = [address_document(a) for a in customer.addresses.all()]
    if "accounts" in expand:
        document["accounts"] = [_account_document(a) for a in customer.accounts.all()]
    names = {value.removeprefix("mixin:") for value in expand if value.startswith("mixin:")}
    if names:
        mixins = customer.mixins
        document["mixins"] = (
            mixins if "*" in names else {k: v for k, v in mixins.items() if k in names}
        )
    return document
