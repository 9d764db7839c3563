import pytest

from customers.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_ilike_is_a_case_insensitive_contains_with_wildcards_escaped(tenant):
    for name in ["O_Neil", "Owen", "50% Off", "Smith"]:
        CustomerFactory(tenant=tenant, last_name=name)

    def matches(term):
        return set(
            Customer.objects.filter(last_name__ilike=term).values_list("last_name", flat=True)
        )

    assert matches("o_n") == {"O_Neil"}
    assert matches("0%") == {"50% Off"}
    assert matches("SMI") == {"Smith"}
    assert matches("x") == set()
