"""A customer's addresses: written only by those who may manage the customer."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.principal import Principal
from core.errors import ConflictError, DoesNotExist, InvalidInput, first_or_not_found
from customers.models import Address, Customer, generate_address_id
from customers.services.checks import locked_manageable_customer, merged, with_defaults

ADDRESS_NOT_FOUND = "Address not found."

MAX_TAGS = 50  # per address; the same limits as the address body
MAX_TAG_LENGTH = 64

ADDRESS_DEFAULTS: dict[str, Any] = {
    "company_name": None,
    "street": None,
    "street_number": None,
    "street_appendix": None,
    "extra_line1": None,
    "extra_line2": None,
    "extra_line3": None,
    "extra_line4": None,
    "zip_code": None,
    "city": None,
    "country": None,
    "state": None,
    "contact_phone": None,
    "tags": [],
    "is_default": False,
    "mixins": {},
    "metadata_mixins": {},
}


def _make_sole_default(customer: Customer, address: Address) -> None:
    if address.is_default:
        customer.addresses.exclude(pk=address.pk).filter(is_default=True).update(is_default=False)


@transaction.atomic
def address_create(
    *, actor: Principal, customer_number: str, fields: dict[str, Any], address_id: str | None = None
) -> Address:
    customer = locked_manageable_customer(actor, customer_number)
    if address_id is not None and customer.addresses.filter(address_id=address_id).exists():
        raise ConflictError(
            f"The customer already has an address with id {address_id!r}.", field="id"
        )
    values = with_defaults(ADDRESS_DEFAULTS, fields)
    if not values.get("contact_name"):
        raise InvalidInput("A new address needs a contactName.", field="contactName")
    if not customer.addresses.exists():
        values["is_default"] = True  # a customer's first address is its default
    if values["is_default"]:
        customer.addresses.filter(is_default=True).update(is_default=False)
    return Address.objects.create(
        tenant_id=actor.tenant_id,
        customer=customer,
        address_id=address_id or generate_address_id(),
        **values,
    )


@transaction.atomic
def address_update(
    *,
    actor: Principal,
    customer_number: str,
    address_id: str,
    fields: dict[str, Any],
    replace: bool,
) -> Address:
    customer = locked_manageable_customer(actor, customer_number)
    address = first_or_not_found(
        customer.addresses.filter(address_id=address_id), ADDRESS_NOT_FOUND
    )
    if replace:
        # Replacing keeps the contact name when none is sent: it is required only to create.
        values = with_defaults({**ADDRESS_DEFAULTS, "contact_name": address.contact_name}, fields)
    else:
        values = merged(address, fields)
    if not values.get("contact_name", address.contact_name):
        raise InvalidInput("An address needs a contactName.", field="contactName")
    for name, value in values.items():
        setattr(address, name, value)
    address.version += 1
    _make_sole_default(customer, address)
    address.save()
    return address


@transaction.atomic
def address_delete(*, actor: Principal, customer_number: str, address_id: str) -> None:
    customer = locked_manageable_customer(actor, customer_number)
    deleted, _ = customer.addresses.filter(address_id=address_id).delete()
    if not deleted:
        raise DoesNotExist(ADDRESS_NOT_FOUND)


@transaction.atomic
def address_tags_change(
    *, actor: Principal, customer_number: str, address_id: str, tags: list[str], add: bool
) -> Address:
    customer = locked_manageable_customer(actor, customer_number)
    address = first_or_not_found(
        customer.addresses.filter(address_id=address_id), ADDRESS_NOT_FOUND
    )
    current = list(address.tags)
    if add:
        if any(len(tag) > MAX_TAG_LENGTH or "\x00" in tag for tag in tags):
            raise InvalidInput(
                f"A tag is at most {MAX_TAG_LENGTH} characters, without NUL.", field="tags"
            )
        address.tags = current + [tag for tag in dict.fromkeys(tags) if tag not in current]
        if len(address.tags) > MAX_TAGS:
            raise InvalidInput(f"An address has at most {MAX_TAGS} tags.", field="tags")
    else:
        address.tags = [tag for tag in current if tag not in tags]
    address.version += 1
    address.save(update_fields=["tags", "version", "modified_at"])
    return address


@transaction.atomic
def address_upsert(
    *, actor: Principal, customer_number: str, address_id: str, fields: dict[str, Any]
) -> tuple[Address, bool]:
    """Replace the address ``address_id`` of a customer the actor may manage, or create it
    with that id. Returns the address and whether it was created."""
    customer = locked_manageable_customer(actor, customer_number)
    if customer.addresses.filter(address_id=address_id).exists():
        address = address_update(
            actor=actor,
            customer_number=customer_number,
            address_id=address_id,
            fields=fields,
            replace=True,
        )
        return address, False
    address = address_create(
        actor=actor, customer_number=customer_number, fields=fields, address_id=address_id
    )
    return address, True
