"""The one-pass documents produce exactly what the serializers (the OpenAPI description of the
responses) produce: the same keys in the same order and the same bytes, for every expand."""

import itertools
from datetime import UTC, datetime

import pytest
from rest_framework.renderers import JSONRenderer

from customers.api.documents import address_document, customer_documents
from customers.api.serializers import AddressSerializer, CustomerSerializer
from customers.models import Account, Address, Customer
from tests.factories import AccountFactory, AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db

EXPANDS = ["addresses", "accounts", "mixin:*", "mixin:loyalty", "mixin:none"]


@pytest.fixture
def customers(tenant):
    plain = CustomerFactory(tenant=tenant, customer_number="PLAIN")
    rich = CustomerFactory(
        tenant=tenant,
        customer_number="RICH",
        title="Dr",
        first_name="Zoë",
        middle_name="\u2028line",
        last_name="Ünal",
        contact_email="zoe@example.com",
        contact_phone="+49 30 1",
        company='say "hi"',
        photo_url="https://example.com/p.png",
        type="CONTACT",
        active=False,
        on_hold=True,
        b2b_company_registration_id="HRB 1",
        restriction="DE",
        version=7,
        mixins={"loyalty": {"tier": "gold", "points": 5.5, "big": 10**18}, "x": [1, None]},
        metadata_mixins={"loyalty": "https://example.com/schema.json"},
    )
    Customer.objects.filter(pk=rich.pk).update(
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    )
    AddressFactory(customer=rich, contact_name="Home", is_default=True, tags=["a", "ü"])
    AddressFactory(customer=rich, contact_name="Work", street=None, city="Köln", tags=[])
    AccountFactory(customer=rich, email="zoe@example.com")
    return Customer.objects.filter(pk__in=[plain.pk, rich.pk]).order_by("pk")


def render(data) -> bytes:
    return JSONRenderer().render(data)


@pytest.mark.parametrize(
    "expand",
    [frozenset(c) for n in range(3) for c in itertools.combinations(EXPANDS, n)],
    ids=str,
)
def test_customer_documents_equal_the_serializer(customers, expand):
    ids, documents = customer_documents(
        customers, expand, addresses=Address.objects.all(), accounts=Account.objects.all()
    )
    expected = [
        CustomerSerializer(customer, context={"expand": expand}).data
        for customer in customers.prefetch_related("addresses", "accounts")
    ]
    assert ids == [customer.pk for customer in customers]
    assert render(documents) == render(expected)


def test_address_documents_equal_the_serializer(customers):
    addresses = [a for customer in customers for a in customer.addresses.all()]
    assert len(addresses) == 2
    for address in addresses:
        assert render(address_document(address)) == render(AddressSerializer(address).data)
