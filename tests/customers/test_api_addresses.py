import pytest

from customers.models import Address
from tests.conftest import MANAGER, READER
from tests.factories import AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db
BASE = "/customer/acme/customers/C1/addresses"
ADDRESS = {
    "contactName": "Jo Doe",
    "street": "Main",
    "city": "Berlin",
    "country": "DE",
    "tags": ["BILLING"],
}


@pytest.fixture
def customer(tenant):
    return CustomerFactory(tenant=tenant, customer_number="C1")


@pytest.fixture
def manager(api_as):
    return api_as(*MANAGER)


def test_first_address_is_default_and_a_new_default_replaces_it(customer, manager):
    first = manager.post(BASE, ADDRESS, format="json")
    assert first.status_code == 201
    second = manager.post(BASE, {**ADDRESS, "isDefault": True}, format="json")
    listed = manager.get(BASE).json()
    defaults = {a["id"]: a["isDefault"] for a in listed}
    assert defaults == {first.json()["id"]: False, second.json()["id"]: True}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"country": "DE"}, "contactName"),
        ({**ADDRESS, "country": "Germany"}, "country"),
        ({**ADDRESS, "planet": "Earth"}, "planet"),
    ],
)
def test_invalid_address_is_400(customer, manager, body, field):
    response = manager.post(BASE, body, format="json")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field
    assert not Address.objects.exists()


def test_get_put_patch_delete(customer, manager):
    address_id = manager.post(BASE, ADDRESS, format="json").json()["id"]
    url = f"{BASE}/{address_id}"
    assert manager.get(url).json()["contactName"] == "Jo Doe"
    assert (
        manager.put(url, {"contactName": "Al", "country": "FR"}, format="json").status_code == 204
    )
    replaced = manager.get(url).json()
    assert (replaced["contactName"], replaced.get("city"), replaced["tags"]) == ("Al", None, [])
    patched = manager.patch(url, {"city": "Paris"}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["contactName"], patched.json()["city"]) == ("Al", "Paris")
    assert manager.delete(url).status_code == 204
    assert manager.get(url).status_code == 404


def test_put_creates_with_the_given_id(customer, manager):
    response = manager.put(f"{BASE}/home-1", ADDRESS, format="json")
    assert response.status_code == 201
    assert response.json() == {"id": "home-1"}


def test_post_keeps_a_client_chosen_id_and_refuses_a_taken_one(customer, manager):
    created = manager.post(BASE, {**ADDRESS, "id": "home-1"}, format="json")
    assert created.status_code == 201
    assert created.json() == {"id": "home-1"}
    assert manager.get(f"{BASE}/home-1").json()["contactName"] == "Jo Doe"
    again = manager.post(BASE, {**ADDRESS, "id": "home-1"}, format="json")
    assert again.status_code == 409
    assert again.json()["details"][0]["field"] == "id"
    bad = manager.post(BASE, {**ADDRESS, "id": "no spaces"}, format="json")
    assert (bad.status_code, bad.json()["details"][0]["field"]) == (400, "id")
    assert Address.objects.filter(customer=customer).count() == 1


def test_emporix_address_mixins_are_accepted(customer, manager):
    created = manager.post(
        BASE, {**ADDRESS, "mixins": {"delivery": {"door": "blue"}}}, format="json"
    )
    assert created.status_code == 201
    assert manager.post(BASE, {**ADDRESS, "shoeSize": 42}, format="json").status_code == 400


def test_tags_are_added_and_removed(customer, manager):
    address = AddressFactory(customer=customer, tags=["A"])
    url = f"{BASE}/{address.address_id}/tags"
    assert manager.post(f"{url}?tags=B,C,A").status_code == 204
    address.refresh_from_db()
    assert address.tags == ["A", "B", "C"]
    assert manager.delete(f"{url}?tags=A,C").status_code == 204
    address.refresh_from_db()
    assert address.tags == ["B"]
    assert manager.post(url).status_code == 400


def test_reader_reads_but_cannot_write(customer, api_as):
    AddressFactory(customer=customer)
    reader = api_as(*READER)
    assert len(reader.get(BASE).json()) == 1
    assert reader.post(BASE, ADDRESS, format="json").status_code == 403


def test_address_of_another_customer_is_404(tenant, customer, manager):
    other = AddressFactory(customer=CustomerFactory(tenant=tenant, customer_number="C2"))
    assert manager.get(f"{BASE}/{other.address_id}").status_code == 404
    assert manager.delete(f"{BASE}/{other.address_id}").status_code == 404


def test_tag_limits(customer, manager):
    address = AddressFactory(customer=customer, tags=[])
    url = f"{BASE}/{address.address_id}/tags"
    assert manager.post(f"{url}?tags={'x' * 65}").status_code == 400
    assert manager.post(f"{url}?tags=a%00b").status_code == 400
    many = ",".join(f"t{i}" for i in range(51))
    assert manager.post(f"{url}?tags={many}").status_code == 400
    address.refresh_from_db()
    assert address.tags == []


def test_country_is_optional_and_contact_name_is_needed_only_to_create(customer, manager):
    created = manager.post(BASE, {"contactName": "Jo Doe"}, format="json")
    assert created.status_code == 201, created.json()
    url = f"{BASE}/{created.json()['id']}"
    assert "country" not in manager.get(url).json()
    # Replacing an existing address keeps its contact name when none is sent ...
    assert manager.put(url, {"city": "Bonn"}, format="json").status_code == 204
    assert manager.get(url).json()["contactName"] == "Jo Doe"
    # ... but an upsert that creates needs one, and nothing is created without it.
    missing = manager.put(f"{BASE}/NEW1", {"city": "Bonn"}, format="json")
    assert missing.status_code == 400
    assert missing.json()["details"][0]["field"] == "contactName"
    assert manager.get(f"{BASE}/NEW1").status_code == 404
    blank = manager.patch(url, {"contactName": None}, format="json")
    assert blank.status_code == 400
    assert manager.get(url).json()["contactName"] == "Jo Doe"


def test_address_mixins_and_metadata_are_stored_and_merge_patched(customer, manager):
    body = {
        **ADDRESS,
        "mixins": {"delivery": {"gate": "B", "floor": 2}, "note": "ring"},
        "metadata": {"mixins": {"delivery": "https://example.com/delivery.json"}},
    }
    url = f"{BASE}/{manager.post(BASE, body, format='json').json()['id']}"
    stored = manager.get(url).json()
    assert stored["mixins"] == body["mixins"]
    assert stored["metadata"] == {"version": 1, "mixins": body["metadata"]["mixins"]}
    patched = manager.generic(
        "PATCH",
        url,
        '{"mixins": {"delivery": {"floor": null, "bell": "Doe"}, "note": null}}',
        content_type="application/merge-patch+json",
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["mixins"] == {"delivery": {"gate": "B", "bell": "Doe"}}
    assert patched.json()["metadata"]["version"] == 2
    # The customer document carries the same address.
    document = manager.get("/customer/acme/customers/C1", {"expand": "addresses"}).json()
    assert document["addresses"][0]["mixins"] == {"delivery": {"gate": "B", "bell": "Doe"}}


def test_address_metadata_refuses_unknown_members(customer, manager):
    response = manager.post(BASE, {**ADDRESS, "metadata": {"links": []}}, format="json")
    assert response.status_code == 400
    assert not Address.objects.exists()
