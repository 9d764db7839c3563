"""The Emporix compatibility tests' client and data: a token with every scope, and the
document's own customer and address."""

import pytest

from tests.compat.emporix import ADDRESS, ADDRESS_ID, CUSTOMER, NUMBER, operation

EVERY_SCOPE = (
    "customer.customer_read",
    "customer.customer_manage",
    "restriction.restriction_manage",
    "customer.import_manage",
    "customer.import_read",
)


@pytest.fixture
def http(api_as):
    return api_as(*EVERY_SCOPE)


@pytest.fixture
def stored(http):
    """The document's customer and address, written with PUT from its GET examples (a round
    trip: what Emporix answers can be sent back)."""
    customer_url = operation("PUT-customer-tenant-update-customer").url(
        tenant="acme", customerNumber=NUMBER
    )
    created = http.put(customer_url, CUSTOMER, format="json")
    assert created.status_code == 201, created.json()
    address_url = operation("PUT-customer-tenant-update-customer-address").url(
        tenant="acme", customerNumber=NUMBER, addressId=ADDRESS_ID
    )
    created = http.put(address_url, ADDRESS, format="json")
    assert created.status_code == 201, created.json()
