"""Every write path as a restricted principal, on customers that carry restriction history (as
every real customer created with a restriction or ever moved does). On PostgreSQL the suite
connects as the service role, under row-level security: what the database does on the side of
a write (cascades, the unlinking of a deleted customer's history) must hold for a principal
whose policies hide most rows. On SQLite the same tests check the same answers."""

import io

import pytest
from django.core.management import call_command

from customers.models import Account, Address, Customer, Job, RestrictionChange
from customers.passwords import emporix_hash
from tests.conftest import DE_MANAGER, DE_RESTRICTION_MANAGER, MANAGER

pytestmark = pytest.mark.django_db
HASH = emporix_hash("secret-pass", "salt1234")
BASE = "/customer/acme/customers"
MOVER = (
    "customer.customer_manage--DE",
    "customer.customer_manage--FR",
    "restriction.restriction_manage--DE",
    "restriction.restriction_manage--FR",
)


def history(number: str) -> list[tuple]:
    return list(
        RestrictionChange.objects.filter(customer_number=number)
        .order_by("pk")
        .values_list("old_value", "new_value", "customer_id")
    )


@pytest.mark.parametrize("scopes", [DE_MANAGER, DE_RESTRICTION_MANAGER, MOVER, MANAGER])
def test_a_manager_deletes_a_customer_with_restriction_history(audited_world, api_as, scopes):
    before = history("DE1")
    assert before and before[0][2] == audited_world["DE1"].pk
    response = api_as(*scopes).delete(f"{BASE}/DE1")
    assert response.status_code == 202, response.content
    assert not Customer.objects.filter(customer_number="DE1").exists()
    assert not Address.objects.filter(customer_id=audited_world["DE1"].pk).exists()
    # the history stays, under the customer's number, unlinked from the deleted row
    assert history("DE1") == [(old, new, None) for old, new, _ in before]
    # and no other customer's history was touched
    assert all(row[2] is not None for number in ("FR1", "US1") for row in history(number))


def test_a_deleted_customers_history_stays_readable_by_its_number(audited_world, api_as):
    api_as(*DE_MANAGER).delete(f"{BASE}/DE1")
    auditor = api_as("audit.audit_read")
    answer = auditor.get(f"{BASE}/DE1/restriction-changes")
    assert answer.status_code == 200, answer.content
    assert [change["newValue"] for change in answer.json()] == ["DE"]
    # a suffixed auditor never sees a deleted customer's history (it covers no customer now)
    assert api_as("audit.audit_read--DE").get(f"{BASE}/DE1/restriction-changes").status_code == 404


def test_a_restricted_manager_deletes_a_customer_it_moved_itself(audited_world, api_as):
    http = api_as(*MOVER)
    assert http.patch(f"{BASE}/FR1", {"restriction": "DE"}, format="json").status_code == 200
    assert http.patch(f"{BASE}/FR1", {"restriction": "FR"}, format="json").status_code == 200
    assert len(history("FR1")) == 3
    assert http.delete(f"{BASE}/FR1").status_code == 202
    assert [row[2] for row in history("FR1")] == [None, None, None]


def test_a_restricted_manager_cannot_delete_outside_its_scope_and_nothing_changes(
    audited_world, api_as
):
    before = history("FR1")
    assert api_as(*DE_MANAGER).delete(f"{BASE}/FR1").status_code == 404
    assert history("FR1") == before
    assert Customer.objects.filter(customer_number="FR1").exists()


def test_every_customer_write_of_a_de_restriction_manager_answers_as_documented(
    audited_world, api_as
):
    http = api_as(*DE_RESTRICTION_MANAGER)
    created = http.post(BASE, {"id": "NEW-DE", "lastName": "N", "restriction": "DE"}, format="json")
    assert created.status_code == 201, created.content
    assert http.put(f"{BASE}/NEW-DE", {"lastName": "M"}, format="json").status_code == 204
    upserted = http.put(f"{BASE}/UP-DE", {"lastName": "U", "restriction": "DE"}, format="json")
    assert upserted.status_code == 201, upserted.content
    assert http.patch(f"{BASE}/DE1", {"firstName": "Neu"}, format="json").status_code == 200
    account = http.post(f"{BASE}/DE1/accounts/internal", {"email": "x@de.example"}, format="json")
    assert account.status_code == 201, account.content
    for number in ("NEW-DE", "UP-DE", "DE1"):
        assert http.delete(f"{BASE}/{number}").status_code == 202
    assert set(Customer.objects.values_list("customer_number", flat=True)) == {
        "FR1",
        "US1",
        "NULL1",
        "OT-DE1",
    }
    assert not Account.objects.filter(email="x@de.example").exists()
    assert {row[:2] for row in history("NEW-DE")} == {(None, "DE")}


def test_every_address_write_of_a_de_manager_answers_as_documented(audited_world, api_as):
    http = api_as(*DE_MANAGER)
    url = f"{BASE}/DE1/addresses"
    body = {"contactName": "Jo", "country": "DE"}
    created = http.post(url, body, format="json")
    assert created.status_code == 201, created.content
    address = f"{url}/{created.json()['id']}"
    assert http.put(address, {**body, "city": "Bonn"}, format="json").status_code == 204
    assert http.patch(address, {"city": "Köln"}, format="json").status_code == 200
    assert http.post(f"{address}/tags?tags=home").status_code == 204
    assert http.delete(f"{address}/tags?tags=home").status_code == 204
    assert http.delete(address).status_code == 204
    # FR1's addresses are invisible: a 404, and nothing written
    assert http.post(f"{BASE}/FR1/addresses", body, format="json").status_code == 404
    assert Address.objects.filter(customer=audited_world["FR1"]).count() == 1


def test_an_import_of_a_de_restricted_importer_on_existing_history(audited_world, api_as):
    http = api_as(
        "customer.import_manage",
        "customer.customer_manage--DE",
        "restriction.restriction_manage--DE",
    )
    results = http.post(
        f"{BASE}/import",
        [
            {"id": "DE1", "account": {"email": "de1-new@example.com", "passwordHash": HASH}},
            {"id": "IMP-1", "account": {"email": "imp@example.com", "passwordHash": HASH}},
        ],
        format="json",
    )
    assert results.status_code == 207, results.content
    assert [r["code"] for r in results.json()] == [409, 201]
    assert http.delete(f"{BASE}/IMP-1").status_code == 202


def test_the_back_office_deletes_of_a_de_agent_on_customers_with_history(
    audited_world, employee, client
):
    agent = employee("de_agent", (["customer.customer_read", "customer.customer_manage"], ["DE"]))
    from tests.factories import CustomerFactory, RestrictionChangeFactory

    second = CustomerFactory(tenant=audited_world["DE1"].tenant, restriction="DE")
    RestrictionChangeFactory(customer=second, new_value="DE")
    client.force_login(agent)
    one = client.post(
        f"/admin/customers/customer/{audited_world['DE1'].pk}/delete/", {"post": "yes"}
    )
    assert one.status_code == 302
    many = client.post(
        "/admin/customers/customer/",
        {"action": "delete_selected_customers", "_selected_action": [second.pk], "post": "yes"},
    )
    assert many.status_code == 302
    assert not Customer.objects.filter(pk__in=[audited_world["DE1"].pk, second.pk]).exists()
    assert (
        RestrictionChange.objects.filter(customer_number=second.customer_number).get().customer_id
        is None
    )


@pytest.fixture
def mover(employee):
    """A staff employee who reads, manages and moves DE and FR customers."""
    rights = [
        "customer.customer_read",
        "customer.customer_manage",
        "restriction.restriction_manage",
    ]
    return employee("mover", (rights, ["DE", "FR"]))


def test_a_bulk_assignment_and_a_delete_by_a_mover_in_the_back_office(audited_world, mover, client):
    client.force_login(mover)
    response = client.post(
        "/admin/customers/customer/",
        {
            "action": "assign_restriction",
            "_selected_action": [audited_world["DE1"].pk, audited_world["FR1"].pk],
            "restriction": "FR",
            "confirm": "yes",
        },
    )
    assert response.status_code == 302, response.content
    assert Customer.objects.get(customer_number="DE1").restriction == "FR"
    assert len(history("DE1")) == 2
    deleted = client.post(
        f"/admin/customers/customer/{audited_world['DE1'].pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert [row[2] for row in history("DE1")] == [None, None]


def test_a_bulk_assignment_run_as_a_job_then_a_delete_run_as_a_job(
    audited_world, mover, client, settings, django_capture_on_commit_callbacks
):
    settings.BULK_JOB_THRESHOLD = 1
    client.force_login(mover)
    selected = [audited_world["DE1"].pk, audited_world["FR1"].pk]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/customers/customer/",
            {
                "action": "assign_restriction",
                "_selected_action": selected,
                "restriction": "DE",
                "confirm": "yes",
            },
        )
    assert Customer.objects.get(customer_number="FR1").restriction == "DE"
    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.post(
            "/admin/customers/customer/",
            {"action": "delete_selected_customers", "_selected_action": selected, "post": "yes"},
        )
    assert deleted.status_code == 302
    assert list(Job.objects.values_list("status", flat=True)) == ["succeeded", "succeeded"]
    assert not Customer.objects.filter(pk__in=selected).exists()
    assert [row[2] for row in history("FR1")] == [None, None]


def test_the_operators_assignment_then_a_restricted_delete(audited_world, api_as):
    call_command(
        "assign_restriction",
        "--tenant",
        "acme",
        "--restriction",
        "DE",
        "--q",
        "restriction:US",
        stdout=io.StringIO(),
    )
    assert Customer.objects.get(customer_number="US1").restriction == "DE"
    assert api_as(*DE_MANAGER).delete(f"{BASE}/US1").status_code == 202
    assert [row[2] for row in history("US1")] == [None, None]
