import json
import re

import pytest
from django.contrib.auth.hashers import check_password
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Account, Address, Customer
from tests.conftest import MANAGER, READER, data_queries, is_read_log_insert
from tests.factories import AccountFactory, AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db
BASE = "/customer/acme/customers"


@pytest.fixture
def manager(api_as):
    return api_as(*MANAGER)


@pytest.fixture
def reader(api_as):
    return api_as(*READER)


# -- list: paging, sorting, expand, count ---------------------------------------------------------


@pytest.fixture
def twelve(tenant):
    return [
        CustomerFactory(tenant=tenant, customer_number=f"N{i:02d}", last_name=f"Name{i % 3}")
        for i in range(12)
    ]


def test_paging_is_stable_and_a_page_past_the_end_is_empty(twelve, reader):
    pages = [reader.get(BASE, {"pageSize": 5, "pageNumber": n}).json() for n in (1, 2, 3, 4)]
    assert [len(page) for page in pages] == [5, 5, 2, 0]
    ids = [c["id"] for page in pages for c in page]
    assert ids == [f"N{i:02d}" for i in range(12)]


@pytest.mark.parametrize(
    "params",
    [
        {"pageSize": 0},
        {"pageSize": 1001},
        {"pageNumber": 0},
        {"pageNumber": "x"},
        {"sort": "shoeSize"},
        {"expand": "orders"},
    ],
)
def test_bad_list_parameters_are_400(twelve, reader, params):
    response = reader.get(BASE, params)
    assert response.status_code == 400
    assert response.json()["type"] == "validation_failure"


def test_default_page_size_is_60(tenant, reader):
    CustomerFactory.create_batch(61, tenant=tenant)
    assert len(reader.get(BASE).json()) == 60
    assert len(reader.get(BASE, {"pageSize": 1000}).json()) == 61


def test_sort_with_tie_breaker(twelve, reader):
    ids = [c["id"] for c in reader.get(BASE, {"sort": "lastName:desc"}).json()]
    assert ids[:4] == ["N02", "N05", "N08", "N11"]


def test_total_count_only_when_asked(twelve, reader):
    assert "X-Total-Count" not in reader.get(BASE).headers
    assert reader.get(BASE, HTTP_X_TOTAL_COUNT="true")["X-Total-Count"] == "12"


def test_expand_adds_addresses_accounts_and_mixins(tenant, reader):
    customer = CustomerFactory(tenant=tenant, customer_number="E1", mixins={"a": 1})
    AddressFactory(customer=customer, is_default=True, contact_name="Home")
    AccountFactory(customer=customer, email="e1@example.com")
    plain = reader.get(f"{BASE}/E1").json()
    assert {"addresses", "accounts", "mixins"}.isdisjoint(plain)
    assert plain["defaultAddress"]["contactName"] == "Home"
    expanded = reader.get(f"{BASE}/E1", {"expand": "addresses,accounts,mixin:*"}).json()
    assert [a["contactName"] for a in expanded["addresses"]] == ["Home"]
    assert expanded["accounts"] == [{"id": "e1@example.com"}]
    assert expanded["mixins"] == {"a": 1}


def test_expand_named_mixins_only(tenant, reader):
    CustomerFactory(tenant=tenant, customer_number="E2", mixins={"loyalty": {"tier": 1}, "x": 2})
    body = reader.get(f"{BASE}/E2", {"expand": "mixin:loyalty,mixin:absent"}).json()
    assert body["mixins"] == {"loyalty": {"tier": 1}}
    assert reader.get(f"{BASE}/E2", {"expand": "mixin:"}).status_code == 400
    every = reader.get(f"{BASE}/E2", {"expand": "mixin"}).json()  # Emporix's form: all of them
    assert every["mixins"] == {"loyalty": {"tier": 1}, "x": 2}


@pytest.mark.parametrize("size", [5, 60])
def test_a_page_costs_the_same_number_of_queries_whatever_its_size(tenant, reader, size):
    for customer in CustomerFactory.create_batch(60, tenant=tenant):
        AddressFactory(customer=customer, is_default=True)
        AddressFactory(customer=customer)
        AccountFactory(customer=customer)
    with CaptureQueriesContext(connection) as queries:
        response = reader.get(
            BASE, {"pageSize": size, "expand": "addresses,accounts"}, HTTP_X_TOTAL_COUNT="true"
        )
    assert len(response.json()) == size
    assert all(len(c["addresses"]) == 2 for c in response.json())
    # authentication, customers, addresses (the default among them), accounts, the page's one
    # insert into the read-access log, the tenant's mass-read limits (cached for a minute: the
    # test's cache starts empty), count
    statements = data_queries(queries)
    assert len(statements) == 7
    assert sum(is_read_log_insert(sql) for sql in statements) == 1


# -- create --------------------------------------------------------------------------------------


def test_create_returns_id_and_location(tenant, manager):
    response = manager.post(
        BASE, {"firstName": "Ada", "b2b": {"companyRegistrationId": "HRB1"}}, format="json"
    )
    assert response.status_code == 201
    number = response.json()["id"]
    assert response["Location"].endswith(f"/customer/acme/customers/{number}")
    body = manager.get(f"{BASE}/{number}").json()
    assert body["customerNumber"] == number
    assert body["businessModel"] == "B2B"
    assert body["preferredLanguage"] == "en_US"
    assert body["preferredCurrency"] == "USD"
    assert body["preferredSite"] == "main"
    assert body["metadata"]["version"] == 1


def test_generated_numbers_are_short_and_not_sequential(tenant, manager):
    numbers = [manager.post(BASE, {}, format="json").json()["id"] for _ in range(8)]
    # 10 characters of an alphabet without look-alikes (no 0/O, no 1/I).
    assert all(re.fullmatch(r"[2-9A-HJ-NP-Z]{10}", n) for n in numbers), numbers
    # A counter would give neighbours that share all but their last characters; random
    # numbers share a 5-character prefix with a probability of 32**-5 per pair.
    prefixes = [n[:5] for n in numbers]
    assert len(set(prefixes)) == len(numbers), numbers


def test_custom_id_is_validated(tenant, manager):
    assert manager.post(BASE, {"id": "bad id!"}, format="json").status_code == 400
    assert manager.post(BASE, {"id": "search"}, format="json").status_code == 400
    assert manager.post(BASE, {"id": "x" * 67}, format="json").status_code == 400
    assert manager.post(BASE, {"id": "Good_id-1"}, format="json").status_code == 201


def test_unknown_fields_are_400_and_read_only_fields_are_ignored(tenant, manager):
    response = manager.post(BASE, {"firstName": "A", "shoeSize": 42}, format="json")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "shoeSize"
    response = manager.post(
        BASE,
        {
            "id": "RO1",
            "businessModel": "B2B",
            "metadataCreatedAt": "1999-01-01T00:00:00Z",
            "metadata": {"createdAt": "1999-01-01T00:00:00Z"},
            "accounts": [{"id": "x@y.z"}],
        },
        format="json",
    )
    assert response.status_code == 201
    customer = Customer.objects.get(customer_number="RO1")
    assert customer.created_at.year > 1999
    assert customer.business_model == "B2C"
    assert not Account.objects.filter(customer=customer).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contactEmail": "not-an-email"}, "contactEmail"),
        ({"preferredCurrency": "euro"}, "preferredCurrency"),
        ({"preferredSite": "JP"}, "preferredSite"),
        ({"type": "ROBOT"}, "type"),
        ({"active": "maybe"}, "active"),
        ({"photoUrl": "not a url"}, "photoUrl"),
        ({"metadata": {"version": 0}}, "metadata.version"),
        ({"password": "secret-pass"}, "password"),
    ],
)
def test_invalid_values_are_400_naming_the_field(tenant, manager, body, field):
    response = manager.post(BASE, body, format="json")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field
    assert not Customer.objects.exists()


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null"])
def test_body_that_is_not_an_object_is_400(tenant, manager, body):
    response = manager.generic("POST", BASE, body, content_type="application/json")
    assert response.status_code == 400
    assert not Customer.objects.exists()


def test_contact_email_creates_an_account_and_sends_a_reset_mail(
    tenant, manager, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(BASE, {"contactEmail": "New@Example.com"}, format="json")
    account = Account.objects.get()
    assert account.email == "new@example.com"
    assert account.customer.customer_number == response.json()["id"]
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new@example.com"]
    assert "reset-password?token=" in mailoutbox[0].body


def test_a_mail_server_that_is_down_never_fails_the_created_customer(
    tenant, manager, settings, django_capture_on_commit_callbacks, caplog
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(BASE, {"contactEmail": "down@example.com"}, format="json")
    assert response.status_code == 201
    number = response.json()["id"]
    assert Customer.objects.filter(customer_number=number).exists()
    assert f"Password-reset e-mail for customer {number} not sent" in caplog.text


def test_no_mail_when_notifications_are_off_or_a_password_is_given(
    tenant, manager, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        manager.post(
            f"{BASE}?sendPasswordResetNotifications=false",
            {"contactEmail": "a@x.com"},
            format="json",
        )
        manager.post(BASE, {"contactEmail": "b@x.com", "password": "pw-123456"}, format="json")
        created = manager.put(
            f"{BASE}/PUTNEW?sendPasswordResetNotifications=false",
            {"contactEmail": "c@x.com"},
            format="json",
        )
    assert created.status_code == 201
    assert mailoutbox == []
    assert check_password("pw-123456", Account.objects.get(email="b@x.com").password)


def test_taken_email_is_409_naming_the_email_not_the_customer(world, api_as):
    response = api_as("customer.customer_manage--DE").post(
        BASE, {"contactEmail": "fr1@example.com"}, format="json"
    )
    assert response.status_code == 409
    assert "fr1@example.com" in response.json()["message"]
    assert "FR1" not in response.content.decode()
    assert Customer.objects.filter(tenant__code="acme").count() == 4


# -- upsert, patch, delete -----------------------------------------------------------------------


@pytest.fixture
def ada(tenant):
    customer = CustomerFactory(
        tenant=tenant,
        customer_number="ADA",
        first_name="Ada",
        last_name="Lovelace",
        company="Engines",
        contact_email="ada@x.com",
        restriction="DE",
    )
    AddressFactory(customer=customer, is_default=True)
    AccountFactory(customer=customer, email="ada@x.com")
    return customer


def test_put_creates_201_then_replaces_204(tenant, manager):
    assert (
        manager.put(f"{BASE}/NEWP", {"firstName": "A", "company": "C"}, format="json").status_code
        == 201
    )
    response = manager.put(f"{BASE}/NEWP", {"firstName": "B"}, format="json")
    assert response.status_code == 204
    customer = Customer.objects.get(customer_number="NEWP")
    assert (customer.first_name, customer.company, customer.version) == ("B", None, 2)


def test_put_keeps_restriction_and_contact_email_when_not_sent(ada, manager):
    assert manager.put(f"{BASE}/ADA", {"firstName": "Augusta"}, format="json").status_code == 204
    ada.refresh_from_db()
    assert (ada.restriction, ada.contact_email, ada.last_name) == ("DE", "ada@x.com", None)


def test_a_read_document_with_emporix_read_only_fields_can_be_written_back(ada, manager):
    document = manager.get(f"{BASE}/ADA", {"expand": "addresses,accounts"}).json()
    document["firstName"] = "Augusta"
    # What Emporix's own customer document also carries.
    document["email"] = "ada@x.com"
    document["b2b"] = {"legalEntities": [{"id": "LE-1", "name": "Engines Ltd"}]}
    response = manager.put(f"{BASE}/ADA", document, format="json")
    assert response.status_code == 204, response.json()
    ada.refresh_from_db()
    assert (ada.first_name, ada.last_name, ada.version) == ("Augusta", "Lovelace", 2)
    again = manager.get(f"{BASE}/ADA").json()
    assert again["b2b"] == {"legalEntities": [{"id": "LE-1", "name": "Engines Ltd"}]}
    assert again["businessModel"] == "B2B"  # a legal entity makes the customer B2B
    unknown = manager.patch(f"{BASE}/ADA", {"shoeSize": 42}, format="json")
    assert unknown.status_code == 400  # genuinely unknown properties are still refused


def test_put_cannot_rename(ada, manager):
    response = manager.put(f"{BASE}/ADA", {"id": "OTHER"}, format="json")
    assert response.status_code == 400


def test_patch_changes_only_what_it_sends(ada, manager):
    response = manager.patch(f"{BASE}/ADA", {"lastName": "King"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["firstName"], body["lastName"], body["company"]) == ("Ada", "King", "Engines")
    assert body["metadata"]["version"] == 2


def test_merge_patch_null_resets_a_field(ada, manager):
    response = manager.generic(
        "PATCH",
        f"{BASE}/ADA",
        '{"company": null, "active": null}',
        content_type="application/merge-patch+json",
    )
    assert response.status_code == 200
    assert "company" not in response.json()  # null properties are left out
    assert response.json()["active"] is True
    ada.refresh_from_db()
    assert ada.company is None


def test_contact_email_cannot_be_unset(ada, manager):
    response = manager.patch(f"{BASE}/ADA", {"contactEmail": None}, format="json")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "contactEmail"


def test_optimistic_locking(ada, manager):
    stale = manager.patch(
        f"{BASE}/ADA", {"firstName": "X", "metadata": {"version": 7}}, format="json"
    )
    assert stale.status_code == 409
    ada.refresh_from_db()
    assert (ada.first_name, ada.version) == ("Ada", 1)
    fresh = manager.patch(
        f"{BASE}/ADA", {"firstName": "X", "metadata": {"version": 1}}, format="json"
    )
    assert fresh.status_code == 200
    assert (
        manager.put(f"{BASE}/ADA", {"metadata": {"version": 1}}, format="json").status_code == 409
    )


def test_delete_removes_addresses_and_accounts(ada, manager):
    response = manager.delete(f"{BASE}/ADA")
    assert response.status_code == 202
    assert response.content == b""
    assert not Address.objects.exists()
    assert not Account.objects.exists()
    assert manager.get(f"{BASE}/ADA").status_code == 404


def test_assign_account(ada, manager):
    url = f"{BASE}/ADA/accounts/internal"
    response = manager.post(url, {"email": "Second@x.com"}, format="json")
    assert response.status_code == 201
    assert response.json() == {"id": "ADA"}
    assert set(ada.accounts.values_list("email", flat=True)) == {"ada@x.com", "second@x.com"}
    assert manager.post(url, {"email": "second@x.com"}, format="json").status_code == 409
    assert manager.post(url, {"email": "nope"}, format="json").status_code == 400


def test_reader_cannot_write(ada, reader):
    assert reader.post(BASE, {}, format="json").status_code == 403
    assert reader.patch(f"{BASE}/ADA", {}, format="json").status_code == 403
    assert reader.delete(f"{BASE}/ADA").status_code == 403


@pytest.mark.parametrize("content_type", ["application/json", "application/merge-patch+json"])
def test_patch_merges_mixins_at_every_depth(ada, manager, content_type):
    ada.mixins = {"deliveryOptions": {"window": "AM", "days": ["MO"]}, "loyalty": {"tier": 1}}
    ada.metadata_mixins = {"loyalty": "https://example.com/loyalty.json"}
    ada.save()
    patch = {
        "mixins": {"loyalty": {"points": 20}, "deliveryOptions": {"window": None}},
        "metadata": {"mixins": {"deliveryOptions": "https://example.com/delivery.json"}},
    }
    response = manager.generic("PATCH", f"{BASE}/ADA", json.dumps(patch), content_type=content_type)
    assert response.status_code == 200, response.json()
    ada.refresh_from_db()
    assert ada.mixins == {"deliveryOptions": {"days": ["MO"]}, "loyalty": {"tier": 1, "points": 20}}
    assert ada.metadata_mixins == {
        "loyalty": "https://example.com/loyalty.json",
        "deliveryOptions": "https://example.com/delivery.json",
    }
    # A PUT replaces them whole.
    assert manager.put(f"{BASE}/ADA", {"mixins": {"x": 1}}, format="json").status_code == 204
    ada.refresh_from_db()
    assert (ada.mixins, ada.metadata_mixins) == ({"x": 1}, {})


def test_patch_of_b2b_changes_only_the_members_sent(ada, manager):
    ada.b2b_company_registration_id = "HRB-1"
    ada.save()
    entities = [{"id": "LE-1", "name": "Engines Ltd", "contactAssignmentId": "CA-1"}]
    response = manager.patch(f"{BASE}/ADA", {"b2b": {"legalEntities": entities}}, format="json")
    assert response.status_code == 200
    assert response.json()["b2b"] == {"companyRegistrationId": "HRB-1", "legalEntities": entities}
    cleared = manager.patch(f"{BASE}/ADA", {"b2b": None}, format="json").json()
    assert "b2b" not in cleared
    assert cleared["businessModel"] == "B2C"


def test_merge_patch_null_metadata_removes_the_mixin_links(ada, manager):
    ada.metadata_mixins = {"loyalty": "https://example.com/loyalty.json"}
    ada.save()
    response = manager.generic(
        "PATCH", f"{BASE}/ADA", '{"metadata": null}', content_type="application/merge-patch+json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["metadata"]["mixins"] == {}


def test_merge_patch_null_mixins_removes_them_all_and_put_null_empties_them(ada, manager):
    ada.mixins = {"loyalty": {"tier": 1}}
    ada.save()
    patched = manager.patch(f"{BASE}/ADA", {"mixins": None}, format="json")
    assert patched.status_code == 200
    ada.refresh_from_db()
    assert ada.mixins == {}
    replaced = manager.put(f"{BASE}/ADA", {"mixins": None, "metadata": None}, format="json")
    assert replaced.status_code == 204
    ada.refresh_from_db()
    assert (ada.mixins, ada.metadata_mixins) == ({}, {})
