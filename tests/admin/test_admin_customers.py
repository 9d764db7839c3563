"""The admin through Django's test client: the same rules as the API."""

import re

import pytest
from django.urls import reverse

from customers.models import Address, Customer, RestrictionChange
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/customers/customer/"


def change_url(number):
    return reverse(
        "admin:customers_customer_change", args=[Customer.objects.get(customer_number=number).pk]
    )


def inline_management(**totals):
    data = {}
    for prefix in ("addresses", "accounts", "restriction_changes"):
        data[f"{prefix}-TOTAL_FORMS"] = str(totals.get(prefix, 0))
        data[f"{prefix}-INITIAL_FORMS"] = "0"
    return data


def change_form_data(client, number, **changes):
    """The change form of ``number`` as the browser would post it, with ``changes`` applied."""
    form = client.get(change_url(number)).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    return {**data, **inline_management(), **changes}


def listed_numbers(response):
    return set(
        re.findall(
            r'<th class="field-customer_number"><a [^>]*>([^<]+)</a>', response.content.decode()
        )
    )


def test_de_agent_sees_exactly_the_de_customers(world, de_agent, client):
    client.force_login(de_agent)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert listed_numbers(response) == {"DE1"}
    assert "1 customer" in response.content.decode()


def test_search_and_filters_never_reveal_other_restrictions(world, de_agent, client):
    client.force_login(de_agent)
    assert listed_numbers(client.get(CHANGELIST, {"q": "fr1@example.com"})) == set()
    assert listed_numbers(client.get(CHANGELIST, {"restriction": "FR"})) == set()
    filters = client.get(CHANGELIST).content.decode()
    assert "?restriction=FR" not in filters
    assert "?restriction=__none__" not in filters
    assert "?restriction=DE" in filters


@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_out_of_scope_pages_are_404(world, de_agent, client, page):
    client.force_login(de_agent)
    pk = world["FR1"].pk
    assert client.get(f"{CHANGELIST}{pk}/{page}/").status_code == 404
    assert client.get(f"{CHANGELIST}999999/{page}/").status_code == 404


def test_restriction_is_read_only_without_restriction_manage(world, de_agent, client):
    client.force_login(de_agent)
    page = client.get(change_url("DE1")).content.decode()
    assert 'name="restriction"' not in page
    assert 'name="first_name"' in page


def test_restriction_choices_offer_only_assignable_values(world, de_restriction_agent, client):
    client.force_login(de_restriction_agent)
    page = client.get(change_url("DE1")).content.decode()
    select = re.search(r'<select name="restriction".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', select) == ["DE"]


def test_saving_goes_through_the_service_and_is_audited(world, restriction_manager, client):
    client.force_login(restriction_manager)
    customer = world["DE1"]
    data = change_form_data(client, "DE1", restriction="FR", first_name="Renamed")
    response = client.post(change_url("DE1"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert (customer.restriction, customer.first_name, customer.version) == ("FR", "Renamed", 2)
    change = RestrictionChange.objects.get(customer=customer)
    assert (change.old_value, change.new_value, change.channel, change.actor_id) == (
        "DE",
        "FR",
        "admin",
        str(restriction_manager.pk),
    )
    assert change.actor_name == "mover"


def test_read_only_without_a_manage_scope(world, employee, client):
    reader = employee("reader", (["customer.customer_read"], ["DE"]))
    client.force_login(reader)
    page = client.get(change_url("DE1")).content.decode()
    assert 'name="first_name"' not in page
    assert "Add customer" not in client.get(CHANGELIST).content.decode()
    assert client.post(change_url("DE1"), {"first_name": "X"}).status_code == 403


def test_assign_action_confirms_with_numbers_then_moves(world, restriction_manager, client):
    client.force_login(restriction_manager)
    pks = [str(world[n].pk) for n in ("DE1", "FR1", "NULL1")]
    base = {"action": "assign_restriction", "_selected_action": pks}
    first = client.post(CHANGELIST, base)
    assert "Assign a restriction to 3 selected customers" in first.content.decode()
    preview = client.post(CHANGELIST, {**base, "restriction": "US"})
    moves = preview.context["moves"]
    assert dict(moves) == {"DE": 1, "FR": 1, "— none —": 1}
    assert preview.context["changing"] == 3
    assert Customer.objects.filter(restriction="US").count() == 1
    done = client.post(CHANGELIST, {**base, "restriction": "US", "confirm": "yes"})
    assert done.status_code == 302
    assert Customer.objects.filter(restriction="US", tenant=world["DE1"].tenant).count() == 4
    assert RestrictionChange.objects.filter(channel="admin", new_value="US").count() == 3


def test_assign_action_is_absent_without_restriction_manage(world, de_agent, client):
    client.force_login(de_agent)
    assert "assign_restriction" not in client.get(CHANGELIST).content.decode()


def test_restricted_assigner_cannot_move_foreign_customers(world, de_restriction_agent, client):
    client.force_login(de_restriction_agent)
    # FR1 is invisible, so selecting it selects nothing: DE1 alone stays DE.
    response = client.post(
        CHANGELIST,
        {
            "action": "assign_restriction",
            "restriction": "DE",
            "confirm": "yes",
            "_selected_action": [world["FR1"].pk],
        },
    )
    assert response.status_code in {200, 302}
    assert Customer.objects.get(customer_number="FR1").restriction == "FR"


def test_autocomplete_is_scoped(world, de_agent, client):
    client.force_login(de_agent)
    response = client.get(
        "/admin/autocomplete/",
        {
            "app_label": "customers",
            "model_name": "account",
            "field_name": "customer",
            "term": "Last",
        },
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["DE1 FirstDE1 LastDE1"]


def test_superuser_sees_every_tenant(world, client):
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    client.force_login(root)
    assert listed_numbers(client.get(CHANGELIST)) == {"DE1", "FR1", "US1", "NULL1", "OT-DE1"}


def test_employee_without_staff_cannot_log_in(world, employee, client):
    employee("outsider", (["customer.customer_read"], []), is_staff=False)
    response = client.post(
        "/admin/login/", {"username": "outsider", "password": "correct-horse-battery"}
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get(CHANGELIST).status_code == 302


def test_crafted_restriction_outside_the_choices_changes_nothing(
    world, de_restriction_agent, client
):
    client.force_login(de_restriction_agent)
    response = client.post(change_url("DE1"), change_form_data(client, "DE1", restriction="FR"))
    assert response.status_code == 200
    assert "restriction" in response.context["adminform"].form.errors
    assert Customer.objects.get(customer_number="DE1").restriction == "DE"
    assert not RestrictionChange.objects.exists()


@pytest.mark.parametrize("extra", [0, 45])
def test_changelist_costs_constant_queries(world, tenant, de_agent, client, extra):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import data_queries, is_read_log_insert
    from tests.factories import CustomerFactory

    CustomerFactory.create_batch(extra, tenant=tenant, restriction="DE")
    client.force_login(de_agent)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST)
    # the same for 1 and 46 rows (the employee's standing groups and temporary grants: 2 of them;
    # the page's rows in the read-access log: 1 insert; the tenant's mass-read limits, cached
    # for a minute: 1, the test's cache being empty)
    statements = data_queries(captured)
    assert len(statements) == 14
    assert sum(is_read_log_insert(sql) for sql in statements) == 1
    assert len(listed_numbers(response)) == extra + 1


def test_adding_a_customer_with_an_address_goes_through_the_services(tenant, de_agent, client):
    client.force_login(de_agent)
    response = client.post(
        "/admin/customers/customer/add/",
        {
            "first_name": "Added",
            "last_name": "Person",
            "preferred_site": "main",
            "preferred_language": "en_US",
            "preferred_currency": "EUR",
            "type": "CUSTOMER",
            "active": "on",
            **inline_management(addresses=1),
            "addresses-0-contact_name": "Home",
            "addresses-0-country": "DE",
            "addresses-0-city": "Berlin",
            "addresses-0-tags": "[]",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get(first_name="Added")
    assert customer.restriction == "DE"  # the default: the agent's single manage value
    assert len(customer.customer_number) == 10
    assert list(customer.addresses.values_list("contact_name", "is_default")) == [("Home", True)]
    change = RestrictionChange.objects.get(customer=customer)
    assert (change.old_value, change.new_value, change.channel) == (None, "DE", "admin")


def test_bulk_delete_action_deletes_only_within_scope(world, de_agent, client):
    client.force_login(de_agent)
    response = client.post(
        CHANGELIST,
        {
            "action": "delete_selected_customers",
            "_selected_action": [world["DE1"].pk, world["FR1"].pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not Customer.objects.filter(customer_number="DE1").exists()
    assert Customer.objects.filter(customer_number="FR1").exists()


def test_account_admin_assigns_through_the_service(world, de_agent, client):
    client.force_login(de_agent)
    response = client.post(
        "/admin/customers/account/add/",
        {"email": "Second@Example.com", "customer": world["DE1"].pk},
    )
    assert response.status_code == 302
    assert world["DE1"].accounts.filter(email="second@example.com").exists()
    foreign = client.post(
        "/admin/customers/account/add/", {"email": "third@example.com", "customer": world["FR1"].pk}
    )
    assert foreign.status_code == 200
    assert "customer" in foreign.context["adminform"].form.errors


def test_audit_log_lists_only_visible_customers_changes(audited_world, de_agent, client):
    client.force_login(de_agent)
    page = client.get("/admin/customers/restrictionchange/").content.decode()
    numbers = set(re.findall(r'<td class="field-customer_link"><a href="[^"]*">([^<]+)</a>', page))
    assert numbers == {"DE1"}


def test_the_restriction_history_reads_as_staff_speak(audited_world, restriction_manager, client):
    """Human labels: who (with kind), from and to ("— none —" for no restriction), the
    channel's name, and the customer number linked to the customer's page."""
    client.force_login(restriction_manager)
    page = client.get("/admin/customers/restrictionchange/").content.decode()
    customer = audited_world["DE1"]
    assert f'href="/admin/customers/customer/{customer.pk}/change/">DE1</a>' in page
    assert "— none —" in page
    assert "(operator)" in page and "operator</td>" not in page
    assert ">api_client<" not in page and ">API client<" in page  # the filter's labels
    own = client.get(f"/admin/customers/customer/{customer.pk}/change/").content.decode()
    assert "Restriction history" in own
    assert "From no restriction to DE, by" in own


def test_a_service_refusal_reshows_the_form_with_the_error_and_saves_nothing(
    tenant, de_agent, client
):
    tenant.sync_restrictions_with_sites = True  # the default would make the new customer FR ...
    tenant.save()
    client.force_login(de_agent)
    response = client.post(
        "/admin/customers/customer/add/",
        {
            "first_name": "Refused",
            "preferred_site": "FR",
            "preferred_language": "en_US",
            "preferred_currency": "EUR",
            "type": "CUSTOMER",
            "active": "on",
            **inline_management(addresses=1),
            "addresses-0-contact_name": "Home",
            "addresses-0-country": "DE",
            "addresses-0-tags": "[]",
        },
    )
    assert response.status_code == 200  # the form again, not a redirect
    form = response.context["adminform"].form
    # ... which is outside their manage scope.
    assert form.non_field_errors() == [
        "Your manage scope does not cover the resulting restriction."
    ]
    page = response.content.decode()
    assert 'value="Refused"' in page  # what was typed is still there
    assert 'value="Home"' in page
    assert not Customer.objects.filter(first_name="Refused").exists()
    assert not Address.objects.exists()
