"""What docs/query-language.md says of trees, alternatives and case holds."""

import pytest

from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
READ = ("customer.customer_read",)


def numbers(response):
    return sorted(customer["customerNumber"] for customer in response.json())


def test_a_restriction_term_names_values_not_the_tree(tenant, api_as):
    from tenancy.models import Restriction

    eu = Restriction.objects.create(tenant=tenant, code="EU")
    Restriction.objects.filter(tenant=tenant, code__in=["DE", "FR"]).update(parent=eu)
    for value in ("EU", "DE", "FR"):
        CustomerFactory(tenant=tenant, customer_number=f"T-{value}", restriction=value)
    http = api_as(*READ)
    assert numbers(http.get("/customer/acme/customers", {"q": "restriction:EU"})) == ["T-EU"]
    listed = http.get("/customer/acme/customers", {"q": "restriction:(EU,DE,FR)"})
    assert numbers(listed) == ["T-DE", "T-EU", "T-FR"]


def test_or_between_terms_is_a_400_and_a_regex_may_ignore_case(tenant, api_as):
    CustomerFactory(tenant=tenant, customer_number="K1", last_name="Kusch")
    CustomerFactory(tenant=tenant, customer_number="K2", last_name="kuhn")
    http = api_as(*READ)
    refused = http.get("/customer/acme/customers", {"q": "lastName:Kusch OR lastName:Meier"})
    assert refused.status_code == 400
    found = http.get("/customer/acme/customers", {"q": "lastName:~(?i)^ku"})
    assert numbers(found) == ["K1", "K2"]
