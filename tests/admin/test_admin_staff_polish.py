"""What staff read: the product's name, no stray Django screens, the tenant for superusers,
search by company, and the restriction history as sentences."""

import pytest

from tests.factories import CustomerFactory, EmployeeFactory, RestrictionChangeFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/customers/customer/"


def test_the_back_office_names_the_product_and_hides_what_does_not_apply(world, de_agent, client):
    client.force_login(de_agent)
    page = client.get("/admin/").content.decode()
    assert "Customer Service back office" in page
    assert "View site" not in page
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    client.force_login(root)
    page = client.get("/admin/").content.decode()
    assert "Access groups" in page
    assert "/admin/auth/group/" not in page


def test_a_superuser_sees_and_filters_by_tenant(world, client):
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True, username="root"))
    page = client.get(CHANGELIST).content.decode()
    assert '<th scope="col" class="sortable column-tenant">' in page
    filtered = client.get(CHANGELIST, {"tenant__id__exact": world["OT-DE1"].tenant_id})
    assert [c.customer_number for c in filtered.context["cl"].result_list] == ["OT-DE1"]


def test_an_employee_does_not_get_a_tenant_column(world, de_agent, client):
    client.force_login(de_agent)
    assert "column-tenant" not in client.get(CHANGELIST).content.decode()


def test_search_covers_company(tenant, restriction_manager, client):
    CustomerFactory(tenant=tenant, customer_number="ACME1", company="Globex Industries")
    CustomerFactory(tenant=tenant, customer_number="OTHER1", company="Initech")
    client.force_login(restriction_manager)
    found = client.get(CHANGELIST, {"q": "globex"}).context["cl"].result_list
    assert [c.customer_number for c in found] == ["ACME1"]


def test_restriction_history_reads_as_sentences(world, de_agent, client):
    RestrictionChangeFactory(
        customer=world["DE1"],
        old_value=None,
        new_value="DE",
        actor_name="mover",
        actor_kind="employee",
        channel="admin",
    )
    client.force_login(de_agent)
    page = client.get(f"{CHANGELIST}{world['DE1'].pk}/change/").content.decode()
    assert "From no restriction to DE, by mover (employee), in the back office" in page
    assert "None -&gt; DE" not in page


def test_counts_have_thousands_separators(tenant, client):
    from customers.demo import seed_customers

    seed_customers(tenant, 1200)
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True, username="root"))
    page = client.get("/admin/customers/customer/").content.decode()
    assert "1,200 customers" in page
    assert "Select all 1,200 customers" in page
