"""Every operation of Emporix's Customer Service document, driven with the document's own
examples: request bodies, parameters, documented status codes and the fields of its response
examples. A client written against Emporix's document works here by changing only the base URL
and the credentials."""

from __future__ import annotations

from datetime import date, timedelta
from unittest import mock

import pytest

from customers.models import Account
from tests.compat.emporix import ADDRESS, ADDRESS_ID, CUSTOMER, NUMBER, operation, operations

pytestmark = pytest.mark.django_db

RETENTION = operation("POST-customer-tenant-configure-password-migration-retention")
# The retention examples name dates; the window must still lie ahead on the day the test runs.
EXAMPLE_TODAY = date.fromisoformat(
    RETENTION.request_examples()[0]["emailReminderDate"]
) - timedelta(days=30)
SERVER_MANAGED = {"metadata", "metadataCreatedAt"}  # the version counts this service's changes


@pytest.fixture(autouse=True)
def _on_a_day_before_the_examples_windows():
    with mock.patch("django.utils.timezone.localdate", return_value=EXAMPLE_TODAY):
        yield


def url_of(operation_id: str, **values: str) -> str:
    values = {"tenant": "acme", "customerNumber": NUMBER, "addressId": ADDRESS_ID, **values}
    return operation(operation_id).url(**values)


def assert_like(actual: dict, example: dict, ignore=SERVER_MANAGED) -> None:
    """Every property of the example is answered with the example's value."""
    for key, value in example.items():
        if key not in ignore:
            assert actual.get(key) == value, (key, actual.get(key), value)


def call(http, operation_id: str, body=None, query: str = "", **values: str):
    op = operation(operation_id)
    kwargs = {"data": body, "format": "json"} if body is not None else {}
    response = getattr(http, op.method)(url_of(operation_id, **values) + query, **kwargs)
    assert response.status_code in op.success_codes(), (operation_id, response.content)
    return response


def test_the_document_has_the_operations_driven_here():
    assert {o.operation_id for o in operations()} == set(DRIVERS)


# -- account and profile -------------------------------------------------------------------------


def list_customers(http):
    example = operation("GET-customer-tenant-list-customers").response_example(200)
    response = call(http, "GET-customer-tenant-list-customers", query="?expand=mixin")
    assert response.status_code == 200
    [answered] = response.json()
    assert_like(answered, example[0])


def create_customer(http):
    op = operation("POST-customer-tenant-create-customer")
    [body] = op.request_examples()
    response = call(http, op.operation_id, body, query="?sendPasswordResetNotifications=false")
    assert response.status_code == 201
    assert response.json().keys() == op.response_example(201).keys()
    number = response.json()["id"]
    answered = http.get(url_of("GET-customer-tenant-retrieve-customer", customerNumber=number))
    assert_like(answered.json(), body)


def search(http):
    op = operation("POST-customer-tenant-search")
    [body] = op.request_examples()
    response = call(http, op.operation_id, body)
    assert [c["customerNumber"] for c in response.json()] == [NUMBER]
    assert_like(response.json()[0], CUSTOMER)


def upsert_customer(http):
    op = operation("PUT-customer-tenant-update-customer")
    [body] = op.request_examples()
    assert call(http, op.operation_id, body).status_code == 204
    answered = http.get(url_of("GET-customer-tenant-retrieve-customer")).json()
    assert answered["contactEmail"] == body["contactEmail"]
    # Creating: the example's e-mail is now the stored customer's login, so another one.
    new_body = {**body, "contactEmail": "new." + body["contactEmail"]}
    created = call(http, op.operation_id, new_body, customerNumber="C-NEW")
    assert created.status_code == 201
    assert created.json().keys() == op.response_example(201).keys()


def patch_customer(http):
    op = operation("PATCH-customer-tenant-update-customer")
    [body] = op.request_examples()
    assert call(http, op.operation_id, body).status_code == 200
    answered = http.get(url_of("GET-customer-tenant-retrieve-customer")).json()
    assert_like(answered, body)
    assert_like(answered, {k: v for k, v in CUSTOMER.items() if k not in body})


def retrieve_customer(http):
    response = call(http, "GET-customer-tenant-retrieve-customer")
    assert response.status_code == 200
    assert_like(response.json(), CUSTOMER)


def remove_customer(http):
    assert call(http, "DELETE-customer-tenant-remove-customer").status_code == 202
    assert http.get(url_of("GET-customer-tenant-retrieve-customer")).status_code == 404


# -- addresses -----------------------------------------------------------------------------------


def list_addresses(http):
    op = operation("GET-customer-tenant-list-customer-addresses")
    [answered] = call(http, op.operation_id).json()
    assert_like(answered, op.response_example(200)[0])


def add_address(http):
    op = operation("POST-customer-tenant-add-customer-address")
    [body] = op.request_examples()
    response = call(http, op.operation_id, body)
    assert response.status_code == 201
    assert response.json().keys() == op.response_example(201).keys()
    answered = http.get(
        url_of(
            "GET-customer-tenant-retrieve-customer-address-by-id", addressId=response.json()["id"]
        )
    ).json()
    assert_like(answered, body)


def upsert_address(http):
    op = operation("PUT-customer-tenant-update-customer-address")
    [body] = op.request_examples()
    assert call(http, op.operation_id, body).status_code == 204
    created = call(http, op.operation_id, body, addressId="A-NEW")
    assert created.status_code == 201
    assert created.json() == {"id": "A-NEW"}


def patch_address(http):
    op = operation("PATCH-customer-tenant-update-customer-address")
    [body] = op.request_examples()
    assert call(http, op.operation_id, body).status_code == 200
    answered = http.get(url_of("GET-customer-tenant-retrieve-customer-address-by-id")).json()
    assert_like(answered, body)


def retrieve_address(http):
    response = call(http, "GET-customer-tenant-retrieve-customer-address-by-id")
    assert_like(response.json(), ADDRESS)


def remove_address(http):
    assert call(http, "DELETE-customer-tenant-remove-customer-address").status_code == 204
    address = http.get(url_of("GET-customer-tenant-retrieve-customer-address-by-id"))
    assert address.status_code == 404


def tags_query(operation_id: str) -> tuple[str, list[str]]:
    example = operation(operation_id).parameter("tags")["schema"]["example"]
    return f"?tags={example}", example.split(",")


def add_address_tags(http):
    http.delete(url_of("DELETE-customer-tenant-remove-address-tags") + "?tags=BILLING")
    query, tags = tags_query("POST-customer-tenant-add-address-tags")
    assert call(http, "POST-customer-tenant-add-address-tags", query=query).status_code == 204
    answered = http.get(url_of("GET-customer-tenant-retrieve-customer-address-by-id")).json()
    assert set(tags) <= set(answered["tags"])


def remove_address_tags(http):
    query, tags = tags_query("DELETE-customer-tenant-remove-address-tags")
    assert call(http, "DELETE-customer-tenant-remove-address-tags", query=query).status_code == 204
    answered = http.get(url_of("GET-customer-tenant-retrieve-customer-address-by-id")).json()
    assert set(tags).isdisjoint(answered["tags"])


# -- import and migration ------------------------------------------------------------------------


def configure_retention(http):
    [body] = RETENTION.request_examples()
    response = call(http, RETENTION.operation_id, body)
    assert response.json() == RETENTION.response_example(200)


def retrieve_retention(http):
    op = operation("GET-customer-tenant-retrieve-password-migration-retention")
    assert http.get(url_of(op.operation_id)).status_code == 404  # not configured yet
    configure_retention(http)
    assert call(http, op.operation_id).json() == op.response_example(200)


def remove_retention(http):
    configure_retention(http)
    assert (
        call(http, "DELETE-customer-tenant-remove-password-migration-retention").status_code == 204
    )
    assert (
        http.get(url_of("GET-customer-tenant-retrieve-password-migration-retention")).status_code
        == 404
    )


def import_customers(http):
    op = operation("POST-customer-tenant-import-customers")
    configure_retention(http)  # the legacyAuth example needs the window
    for items in op.request_examples():
        response = call(http, op.operation_id, items)
        assert response.status_code == 207
        results = response.json()
        assert [r["code"] for r in results] == [201] * len(items), results
        assert {r["status"] for r in results} == {"Created"}
        for item in items:
            account = Account.objects.get(email=item["account"]["email"])
            assert account.customer.contact_email == item["contactEmail"]
            if "legacyAuth" in item["account"]:
                assert account.legacy_auth == item["account"]["legacyAuth"]
                assert account.password == ""
            else:
                assert account.password.endswith(item["account"]["passwordHash"])


DRIVERS = {
    "GET-customer-tenant-list-customers": list_customers,
    "POST-customer-tenant-create-customer": create_customer,
    "POST-customer-tenant-search": search,
    "PUT-customer-tenant-update-customer": upsert_customer,
    "PATCH-customer-tenant-update-customer": patch_customer,
    "GET-customer-tenant-retrieve-customer": retrieve_customer,
    "DELETE-customer-tenant-remove-customer": remove_customer,
    "GET-customer-tenant-list-customer-addresses": list_addresses,
    "POST-customer-tenant-add-customer-address": add_address,
    "PUT-customer-tenant-update-customer-address": upsert_address,
    "PATCH-customer-tenant-update-customer-address": patch_address,
    "GET-customer-tenant-retrieve-customer-address-by-id": retrieve_address,
    "DELETE-customer-tenant-remove-customer-address": remove_address,
    "POST-customer-tenant-add-address-tags": add_address_tags,
    "DELETE-customer-tenant-remove-address-tags": remove_address_tags,
    "GET-customer-tenant-retrieve-password-migration-retention": retrieve_retention,
    "POST-customer-tenant-configure-password-migration-retention": configure_retention,
    "DELETE-customer-tenant-remove-password-migration-retention": remove_retention,
    "POST-customer-tenant-import-customers": import_customers,
}


@pytest.mark.parametrize("operation_id", sorted(DRIVERS))
def test_the_documented_example_works(stored, http, operation_id):
    DRIVERS[operation_id](http)


def test_the_openapi_document_names_operations_and_parameters_as_emporix_does(client):
    ours = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    our_operations = {
        (path, method): spec["operationId"]
        for path, item in ours["paths"].items()
        for method, spec in item.items()
        if isinstance(spec, dict) and "operationId" in spec
    }
    for op in operations():
        assert our_operations.get((op.path, op.method)) == op.operation_id, op.operation_id
        documented = {p["name"] for p in op.parameters if p["in"] == "path"}
        answered = {
            p["name"]
            for p in ours["paths"][op.path][op.method].get("parameters", [])
            if p["in"] == "path"
        }
        assert answered == documented, op.operation_id


def test_response_properties_are_required_only_when_always_present(client):
    schemas = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"]
    customer = set(schemas["schemas"]["Customer"]["required"])
    # Only when expanded, only for B2B customers, only when not null:
    optional = {"addresses", "accounts", "mixins", "b2b", "defaultAddress", "title", "photoUrl"}
    assert customer.isdisjoint(optional)
    assert {"id", "customerNumber", "restriction", "metadata", "active"} <= customer
    assert "contactName" in schemas["schemas"]["Address"]["required"]
