"""Every statement a write or a page sends to a customer table names the tenant, on every
database: on a distributed one (Citus) that is what sends it to the tenant's shard alone
(tests/test_citus.py checks the plans there). Deletes go through ``TenantCollector``, the
reverse relations of a customer filter by its tenant, and the default address's subquery
repeats the tenant of its statement."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Address, Customer, RestrictionChange
from tests.conftest import MANAGER, READER
from tests.customers.test_api_addresses import ADDRESS

pytestmark = pytest.mark.django_db
BASE = "/customer/acme/customers"
TABLES = re.compile(r'"?customers_(customer|address|account|restrictionchange)"?\b')


def statements(captured, *verbs: str) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(verbs) and TABLES.search(q["sql"])
    ]


def test_a_customer_delete_names_the_tenant_in_every_statement(world, api_as, tenant):
    manager = api_as(*MANAGER)
    assert manager.patch(f"{BASE}/DE1", {"restriction": "FR"}, format="json").status_code == 200
    assert RestrictionChange.objects.filter(customer__customer_number="DE1").exists()
    with CaptureQueriesContext(connection) as captured:
        assert manager.delete(f"{BASE}/DE1").status_code == 202
    writes = statements(captured, "DELETE", "UPDATE")
    assert {TABLES.search(sql).group(1) for sql in writes} == {
        "customer",
        "address",
        "account",
        "restrictionchange",
    }
    assert [sql for sql in writes if f'tenant_id" = {tenant.pk}' not in sql] == []
    history = RestrictionChange.objects.filter(customer_number="DE1")
    assert history.exists() and not history.filter(customer__isnull=False).exists()
    assert not Address.objects.filter(customer__customer_number="DE1").exists()


def test_an_address_written_and_deleted_through_the_customer_names_the_tenant(world, api_as):
    manager, tenant_id = api_as(*MANAGER), world["DE1"].tenant_id
    addresses = f"{BASE}/DE1/addresses"
    with CaptureQueriesContext(connection) as captured:
        created = manager.post(addresses, ADDRESS, format="json")
        assert created.status_code == 201
        assert manager.delete(f"{addresses}/{created.json()['id']}").status_code in (202, 204)
    writes = statements(captured, "SELECT", "UPDATE", "DELETE")
    on_addresses = [sql for sql in writes if TABLES.search(sql).group(1) == "address"]
    assert on_addresses
    assert [sql for sql in on_addresses if f'"tenant_id" = {tenant_id}' not in sql] == []


def test_a_pages_default_address_repeats_its_statements_tenant(world, api_as):
    tenant_id = world["DE1"].tenant_id
    with CaptureQueriesContext(connection) as captured:
        page = api_as(*READER).get(BASE)
    assert page.status_code == 200
    [statement] = [q["sql"] for q in captured.captured_queries if '"default_address"' in q["sql"]]
    assert f"a.tenant_id = {tenant_id} AND a.tenant_id =" in statement
    served = {c["id"]: c for c in page.json()}
    assert served["DE1"]["defaultAddress"]["contactName"] == "ContactDE1"


def test_a_customer_of_another_tenant_keeps_its_rows_when_a_namesake_is_deleted(
    world, api_as, other_tenant
):
    """The tenant in the delete narrows it, never widens it: another tenant's rows stay."""
    from tests.factories import AddressFactory, CustomerFactory

    twin = CustomerFactory(tenant=other_tenant, customer_number="DE1", restriction="DE")
    AddressFactory(customer=twin, tenant=other_tenant)
    assert api_as(*MANAGER).delete(f"{BASE}/DE1").status_code == 202
    assert Customer.objects.filter(pk=twin.pk).exists()
    assert Address.objects.filter(customer=twin).count() == 1


def test_the_tenant_delete_keeps_djangos_refusals(world):
    """The managers have no ``delete()`` (it would empty the table), and a sliced or
    ``values()`` queryset refuses to delete, as Django's own delete does; nothing goes."""
    assert not hasattr(Customer.objects, "delete")
    assert not hasattr(Address.objects, "delete")
    with pytest.raises(TypeError, match="limit"):
        Customer.objects.order_by("pk")[:1].delete()
    with pytest.raises(TypeError, match="values"):
        Customer.objects.values("pk").delete()
    assert Customer.objects.filter(customer_number="DE1").exists()
