"""The small things an Emporix integration relies on besides the document's operations: the
granted scope names the tenant, lists say how many they carry, deleted numbers stay taken,
the mixins guide's metadata form, strict JSON types, and the gateway's 401 ``fault``."""

from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from customers.models import Customer
from tests.conftest import bearer_client, token_for
from tests.factories import ApiClientFactory, CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db
BASE = "/customer/acme/customers"


def test_the_granted_scope_names_the_tenant_first(tenant):
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read"], secret="s3cret")
    form = {"grant_type": "client_credentials", "client_id": client.client_id}
    answer = APIClient().post(
        "/oauth/token",
        urlencode({**form, "client_secret": "s3cret"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    assert answer.json()["scope"] == "tenant=acme customer.customer_read"


def test_list_and_search_say_how_many_customers_they_carry(http, tenant):
    for index in range(3):
        CustomerFactory(tenant=tenant, last_name=f"Count{index}")
    listed = http.get(BASE, {"pageSize": 2})
    assert listed["Count"] == "2" and len(listed.json()) == 2
    searched = http.post(f"{BASE}/search", {"q": "lastName:Count1"}, format="json")
    assert searched["Count"] == "1" and len(searched.json()) == 1
    empty = http.get(BASE, {"pageNumber": 99})
    assert empty["Count"] == "0" and empty.json() == []
    assert "X-Total-Count" not in listed  # only on request
    assert http.get(BASE, HTTP_X_TOTAL_COUNT="true")["X-Total-Count"] == "3"


def test_a_deleted_customers_number_is_not_given_out_again(http, tenant):
    assert http.put(f"{BASE}/GONE", {"firstName": "A"}, format="json").status_code == 201
    assert http.delete(f"{BASE}/GONE").status_code == 202
    for again in (
        lambda: http.post(BASE, {"id": "GONE", "firstName": "B"}, format="json"),
        lambda: http.put(f"{BASE}/GONE", {"firstName": "B"}, format="json"),
    ):
        refused = again()
        assert refused.status_code == 409, refused.json()
        assert refused.json()["type"] == "conflict_resource"
    assert not Customer.objects.filter(customer_number="GONE").exists()
    # A tenant that allows reuse gives the number out again.
    tenant.customer_number_reuse = True
    tenant.save()
    assert http.post(BASE, {"id": "GONE", "firstName": "B"}, format="json").status_code == 201


def test_numbers_deleted_in_bulk_stay_taken_too(tenant, client):
    numbers = [CustomerFactory(tenant=tenant).customer_number for _ in range(3)]
    boss = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    client.force_login(boss)
    done = client.post(
        "/admin/customers/customer/",
        {
            "action": "delete_selected_customers",
            "_selected_action": list(Customer.objects.values_list("pk", flat=True)),
            "post": "yes",
        },
    )
    assert done.status_code == 302
    assert not Customer.objects.exists()
    manager = ApiClientFactory(tenant=tenant, scopes=["customer.customer_manage"])
    http = bearer_client(token_for(manager))
    for number in numbers:
        assert http.post(BASE, {"id": number}, format="json").status_code == 409


@pytest.mark.parametrize(
    "metadata",
    [
        {"mixinMetadata": {"mixins": {"loyalty": "https://example.com/loyalty.json"}}},
        {"mixins": {"loyalty": "https://example.com/loyalty.json"}},
    ],
    ids=["mixins-guide", "document"],
)
def test_metadata_mixins_in_either_form(http, metadata):
    body = {"firstName": "M", "metadata": metadata, "mixins": {"loyalty": {"points": 3}}}
    assert http.put(f"{BASE}/MIX", body, format="json").status_code == 201
    stored = http.get(f"{BASE}/MIX", {"expand": "mixin:*"}).json()
    assert stored["metadata"]["mixins"] == {"loyalty": "https://example.com/loyalty.json"}
    assert stored["mixins"] == {"loyalty": {"points": 3}}


def test_metadata_mixins_given_twice_differently_are_refused(http):
    body = {
        "metadata": {
            "mixins": {"a": "https://example.com/a.json"},
            "mixinMetadata": {"mixins": {"b": "https://example.com/b.json"}},
        }
    }
    refused = http.put(f"{BASE}/MIX", body, format="json")
    assert refused.status_code == 400
    assert refused.json()["details"][0]["field"] == "metadata.mixinMetadata"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"firstName": 123}, "firstName", "Must be a string."),
        ({"active": "yes"}, "active", "Must be true or false."),
        ({"onHold": 1}, "onHold", "Must be true or false."),
        ({"metadata": {"version": "3"}}, "metadata.version", "Must be an integer."),
        ({"metadata": {"version": True}}, "metadata.version", "Must be an integer."),
        ({"b2b": {"companyRegistrationId": 42}}, "b2b.companyRegistrationId", "string"),
        ({"contactEmail": ["a@example.com"]}, "contactEmail", "Must be a string."),
    ],
)
def test_input_types_are_strict(http, body, field, message):
    refused = http.put(f"{BASE}/STRICT", body, format="json")
    assert refused.status_code == 400, refused.json()
    detail = refused.json()["details"][0]
    assert detail["field"] == field
    assert message in detail["message"]
    assert not Customer.objects.filter(customer_number="STRICT").exists()


def test_address_input_types_are_strict_too(http, tenant):
    CustomerFactory(tenant=tenant, customer_number="ADDR")
    refused = http.post(
        f"{BASE}/ADDR/addresses",
        {"contactName": "A", "zipCode": 80331, "tags": ["home", 7]},
        format="json",
    )
    assert refused.status_code == 400
    fields = {detail["field"] for detail in refused.json()["details"]}
    assert fields == {"zipCode", "tags"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}],
    ids=["no-token", "bad-token"],
)
def test_a_401_carries_the_gateways_fault_object(tenant, headers):
    answer = APIClient().get(BASE, **headers)
    assert answer.status_code == 401
    body = answer.json()
    assert (body["status"], body["type"]) == (401, "unauthorized")
    assert body["fault"] == {
        "faultstring": body["message"],
        "detail": {"errorcode": "oauth.v2.InvalidAccessToken"},
    }
