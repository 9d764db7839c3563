import pytest
from django.contrib.auth.hashers import check_password, make_password

from customers.models import Account, Customer, RestrictionChange
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/customer/acme/customers/import"


@pytest.fixture
def importer(api_as):
    return api_as(
        "customer.import_manage", "customer.customer_manage", "restriction.restriction_manage"
    )


def test_items_are_independent_and_answered_by_index(tenant, importer):
    CustomerFactory(tenant=tenant, customer_number="TAKEN")
    hashed = make_password("imported-pass")
    response = importer.post(
        URL,
        [
            {
                "id": "I1",
                "firstName": "Ok",
                "restriction": "DE",
                "account": {"email": "I1@example.com", "passwordHash": hashed},
            },
            {"id": "TAKEN"},
            {"firstName": "Bad", "shoeSize": 3},
            {"restriction": "JP"},
            {"account": {"email": "x@example.com", "passwordHash": "plaintext"}},
        ],
        format="json",
    )
    assert response.status_code == 207
    results = response.json()
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["code"] for r in results] == [201, 409, 400, 400, 400]
    assert results[0] == {"index": 0, "id": "I1", "code": 201, "status": "Created"}
    assert results[1]["status"] == "Conflict"
    assert results[2]["details"][0]["field"] == "shoeSize"
    assert results[3]["details"][0]["field"] == "restriction"
    assert results[4]["details"][0]["field"] == "account.passwordHash"
    assert check_password("imported-pass", Account.objects.get(email="i1@example.com").password)
    assert set(Customer.objects.values_list("customer_number", flat=True)) == {"TAKEN", "I1"}
    assert RestrictionChange.objects.get().channel == "import"


def test_a_de_restricted_importer_cannot_import_fr_customers(tenant, api_as):
    http = api_as(
        "customer.import_manage",
        "customer.customer_manage--DE",
        "restriction.restriction_manage--DE",
    )
    results = http.post(
        URL,
        [{"id": "A", "restriction": "FR"}, {"id": "B", "restriction": "DE"}, {"id": "C"}],
        format="json",
    ).json()
    assert [r["code"] for r in results] == [403, 201, 201]
    assert dict(Customer.objects.values_list("customer_number", "restriction")) == {
        "B": "DE",
        "C": "DE",
    }


def test_more_than_200_items_imports_nothing(tenant, importer):
    response = importer.post(URL, [{"firstName": f"n{i}"} for i in range(201)], format="json")
    assert response.status_code == 400
    assert "200" in response.json()["message"]
    assert not Customer.objects.exists()


def test_body_must_be_an_array(tenant, importer):
    assert importer.post(URL, {"firstName": "x"}, format="json").status_code == 400


def test_import_needs_the_import_scope(tenant, api_as):
    assert api_as("customer.customer_manage").post(URL, [], format="json").status_code == 403


def test_200_items_are_accepted(tenant, importer):
    response = importer.post(URL, [{"firstName": f"n{i}"} for i in range(200)], format="json")
    assert response.status_code == 207
    assert {r["code"] for r in response.json()} == {201}
    assert Customer.objects.count() == 200
