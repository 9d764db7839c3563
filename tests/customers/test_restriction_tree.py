"""Restriction values in a tree: EU over DE and FR. A suffix covers its value and everything
below it, in every path (API, tokens, writes, back office, explainer); changing the tree changes
who sees what at once and is recorded; a flat tenant is Emporix's model unchanged."""

import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AccessChange, Employee
from customers.models import Customer
from tenancy import tree
from tenancy.models import Restriction, Tenant
from tenancy.services import tree_changed
from tests.conftest import bearer_client, token_for
from tests.factories import (
    AccessGroupFactory,
    ApiClientFactory,
    CustomerFactory,
    EmployeeFactory,
    employee_holding,
)
from tests.forms import tenant_settings

pytestmark = pytest.mark.django_db
BASE = "/customer/euro/customers"


# -- the tree itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parents", "message"),
    [
        ({"DE": "XX"}, "Unknown parent: DE (parent XX)"),
        ({"A": "B", "B": "A"}, "cycle: A → B → A"),
        ({"A": "A"}, "cycle: A → A"),
        (
            {"L1": None, "L2": "L1", "L3": "L2", "L4": "L3", "L5": "L4", "L6": "L5", "L7": "L6"},
            "More than 6 levels: L7 under L6 under L5 under L4 under L3 under L2 under L1",
        ),
    ],
)
def test_impossible_trees_are_refused_naming_the_values(parents, message):
    with pytest.raises(tree.InvalidTree, match=re.escape(message)):
        tree.validate(parents)


def test_a_value_covers_itself_and_everything_below():
    parents = {"EU": None, "DACH": "EU", "DE": "DACH", "FR": "EU", "US": None}
    tree.validate(parents)
    below = tree.below(parents)
    assert below["EU"] == {"EU", "DACH", "DE", "FR"}
    assert below["DACH"] == {"DACH", "DE"}
    assert below["US"] == {"US"}
    assert tree.path_to(parents, "DE", "EU") == ["EU", "DACH", "DE"]
    assert tree.path_to(parents, "US", "EU") is None


# -- the tenant commands --------------------------------------------------------------------------


def test_create_tenant_takes_value_colon_parent():
    call_command(
        "create_tenant", "euro", "--name", "EU", "--restrictions", "EU,DE:EU,FR:EU,US",
        stdout=io.StringIO(),
    )  # fmt: skip
    parents = dict(
        Restriction.objects.filter(tenant__code="euro").values_list("code", "parent__code")
    )
    assert parents == {"EU": None, "DE": "EU", "FR": "EU", "US": None}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("DE:XX", "Unknown parent: DE (parent XX)"),
        ("A:B,B:A", "cycle"),
        ("DE:", "not VALUE or VALUE:PARENT"),
        ("DE,DE:EU,EU", "listed twice"),
    ],
)
def test_create_tenant_refuses_impossible_trees(spec, message):
    with pytest.raises(CommandError, match=re.escape(message)) as refused:
        call_command("create_tenant", "euro", "--name", "EU", "--restrictions", spec)
    assert refused.value.returncode == 2
    assert not Tenant.objects.filter(code="euro").exists()


# -- what a suffix covers --------------------------------------------------------------------


@pytest.fixture
def eu():
    call_command(
        "create_tenant", "euro", "--name", "EU", "--restrictions", "EU,DE:EU,FR:EU,US",
        "--sites", "DE,FR,US", stdout=io.StringIO(),
    )  # fmt: skip
    tenant = Tenant.objects.get(code="euro")
    for value in ("EU", "DE", "FR", "US", None):
        CustomerFactory(tenant=tenant, customer_number=f"C-{value or 'NONE'}", restriction=value)
    return tenant


def api(tenant, *scopes):
    client = ApiClientFactory(tenant=tenant, scopes=list(scopes))
    http = bearer_client(token_for(client))
    http.api_client = client
    return http


def numbers(http) -> set[str]:
    response = http.get(BASE)
    assert response.status_code == 200, response.json()
    return {customer["id"] for customer in response.json()}


def test_a_parent_suffix_reads_its_value_and_everything_below(eu):
    assert numbers(api(eu, "customer.customer_read--EU")) == {"C-EU", "C-DE", "C-FR"}
    assert numbers(api(eu, "customer.customer_read--DE")) == {"C-DE"}
    assert numbers(api(eu, "customer.customer_read")) == {"C-EU", "C-DE", "C-FR", "C-US", "C-NONE"}
    counted = api(eu, "customer.customer_read--EU").get(BASE, HTTP_X_TOTAL_COUNT="true")
    assert counted["X-Total-Count"] == "3"
    assert api(eu, "customer.customer_read--EU").get(f"{BASE}/C-US").status_code == 404


def test_a_token_is_limited_to_what_its_client_holds_now_in_the_tree(eu):
    http = api(eu, "customer.customer_read--EU")
    client = http.api_client
    client.scopes = ["customer.customer_read--DE"]
    client.save(update_fields=["scopes"])
    assert numbers(http) == {"C-DE"}  # the token says --EU, the client holds --DE now


def test_moving_between_values_below_the_same_parent_needs_that_parent(eu):
    mover = api(eu, "customer.customer_manage--EU", "restriction.restriction_manage--EU")
    moved = mover.patch(f"{BASE}/C-DE", {"restriction": "FR"}, format="json")
    assert moved.status_code == 200, moved.json()
    assert Customer.objects.get(customer_number="C-DE").restriction == "FR"
    refused = mover.patch(f"{BASE}/C-FR", {"restriction": "US"}, format="json")
    assert refused.status_code == 403
    de_only = api(eu, "customer.customer_manage--DE", "restriction.restriction_manage--DE")
    assert de_only.post(BASE, {"id": "N1", "restriction": "EU"}, format="json").status_code == 403


def test_the_token_endpoint_grants_a_child_to_a_client_holding_its_parent(eu):
    from urllib.parse import urlencode

    from rest_framework.test import APIClient

    client = ApiClientFactory(tenant=eu, scopes=["customer.customer_read--EU"], secret="s3cret")
    form = {"grant_type": "client_credentials", "client_id": client.client_id}
    answer = APIClient().post(
        "/oauth/token",
        urlencode({**form, "client_secret": "s3cret", "scope": "customer.customer_read--DE"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["scope"] == "tenant=euro customer.customer_read--DE"


def test_changing_the_tree_changes_who_sees_what_at_once(eu, client):
    http = api(eu, "customer.customer_read--EU")
    assert "C-US" not in numbers(http)
    us, top = (
        Restriction.objects.get(tenant=eu, code="US"),
        Restriction.objects.get(tenant=eu, code="EU"),
    )
    us.parent = top
    us.save(update_fields=["parent"])
    tree_changed(eu.pk)
    assert "C-US" in numbers(http)  # the same token, the next request


def test_the_tenant_page_edits_the_tree_records_it_and_refuses_impossible_ones(eu, client):
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    client.force_login(root)
    rows = list(Restriction.objects.filter(tenant=eu).order_by("pk"))
    by_code = {r.code: r for r in rows}

    def form(parents, delete=()):
        data = {
            **tenant_settings(eu),
            "restrictions-TOTAL_FORMS": str(len(rows)),
            "restrictions-INITIAL_FORMS": str(len(rows)),
            "sites-TOTAL_FORMS": "0",
            "sites-INITIAL_FORMS": "0",
        }
        for i, row in enumerate(rows):
            data[f"restrictions-{i}-id"] = row.pk
            data[f"restrictions-{i}-tenant"] = eu.pk
            data[f"restrictions-{i}-code"] = row.code
            parent = parents.get(row.code)
            data[f"restrictions-{i}-parent"] = by_code[parent].pk if parent else ""
            if row.code in delete:
                data[f"restrictions-{i}-DELETE"] = "on"
        return data

    page = f"/admin/tenancy/tenant/{eu.pk}/change/"
    cycle = client.post(page, form({"DE": "EU", "FR": "EU", "EU": "DE"}))
    assert cycle.status_code == 200 and "cycle: DE → EU → DE" in cycle.content.decode()
    orphaned = client.post(page, form({"DE": "EU", "FR": "EU"}, delete=["EU"]))
    assert orphaned.status_code == 200
    # (Django names the related objects in the order the database hands them out)
    assert re.search(
        r"protected related objects: restriction (DE and restriction FR|FR and restriction DE)",
        orphaned.content.decode(),
    )
    assert Restriction.objects.filter(tenant=eu, code="EU").exists()
    version = Tenant.objects.get(pk=eu.pk).tree_version
    ApiClientFactory(tenant=eu, scopes=["customer.customer_read--EU"])
    EmployeeFactory(
        tenant=eu,
        access_groups=[
            AccessGroupFactory(tenant=eu, scopes=["customer.customer_read"], restrictions=["EU"])
        ],
    )
    # First the effect, then, once confirmed, the change.
    preview = client.post(page, form({"DE": "EU", "FR": "EU", "US": "EU"}))
    assert preview.status_code == 200
    assert (
        "This change of the restriction tree lets 1 employee and 1 API client read 2 more "
        "customers (counted per identity)"
    ) in preview.content.decode()
    assert Restriction.objects.get(tenant=eu, code="US").parent is None
    confirmed = {**form({"DE": "EU", "FR": "EU", "US": "EU"}), "confirm_tree_change": "on"}
    moved = client.post(page, confirmed)
    assert moved.status_code == 302
    assert Restriction.objects.get(tenant=eu, code="US").parent.code == "EU"
    assert Tenant.objects.get(pk=eu.pk).tree_version == version + 1
    change = AccessChange.objects.get(subject_kind="tenant")
    assert change.before == {"restrictions": ["DE:EU", "EU", "FR:EU", "US"]}
    assert change.after == {"restrictions": ["DE:EU", "EU", "FR:EU", "US:EU"]}


def test_a_value_with_values_below_it_is_not_removed(eu):
    from core.errors import ConflictError
    from customers.services import restriction_remove

    Customer.objects.filter(tenant=eu, restriction="EU").delete()
    with pytest.raises(ConflictError, match=r"'EU' has values below it \(DE, FR\)"):
        restriction_remove(tenant=eu, code="EU")


def test_the_explainer_names_the_tree_path(eu):
    from customers.access import explain_access

    group = AccessGroupFactory(tenant=eu, name="eu-readers", scopes=["customer.customer_read"],
                               restrictions=["EU"])  # fmt: skip
    lead = EmployeeFactory(tenant=eu, username="eu_lead", access_groups=[group])
    customer = Customer.objects.get(customer_number="C-DE")
    explanation = explain_access(identity=lead, tenant=eu, customer=customer)
    read = next(v for v in explanation.verdicts if v.right == "read")
    assert read.allowed
    assert "access group “eu-readers” (customer.customer_read--EU), through the tree: EU > DE" in (
        " | ".join(read.reasons)
    )


def test_an_administrator_holding_a_parent_may_grant_its_children_only(eu):
    from accounts.principal import Principal
    from accounts.services.identities import api_client_create
    from core.channels import Channel
    from core.errors import NotPermitted

    admin = Principal.for_employee(
        employee_holding(eu, "tenant.tenant_manage", "customer.customer_read--EU"), eu
    )
    assert admin.grants.may_read("DE") and not admin.grants.may_read("US")
    api_client_create(
        actor=admin,
        channel=Channel.ADMIN,
        tenant=eu,
        name="de",
        scopes=["customer.customer_read--DE"],
    )
    with pytest.raises(NotPermitted):
        api_client_create(
            actor=admin, channel=Channel.ADMIN, tenant=eu, name="us",
            scopes=["customer.customer_read--US"],
        )  # fmt: skip


# -- who may see it -------------------------------------------------------------------------


@pytest.fixture
def people(eu):
    readers = AccessGroupFactory(
        tenant=eu, name="eu-readers", scopes=["customer.customer_read"], restrictions=["EU"]
    )
    movers = AccessGroupFactory(
        tenant=eu,
        name="de-movers",
        scopes=["customer.customer_manage", "restriction.restriction_manage"],
        restrictions=["DE"],
    )
    admins = AccessGroupFactory(tenant=eu, name="admins", scopes=["tenant.tenant_manage"])
    EmployeeFactory(tenant=eu, username="eu_lead", access_groups=[readers])
    EmployeeFactory(tenant=eu, username="de_mover", access_groups=[movers])
    EmployeeFactory(tenant=eu, username="gone", access_groups=[readers], is_active=False)
    EmployeeFactory(tenant=eu, username="tadmin", access_groups=[admins, readers])
    ApiClientFactory(tenant=eu, name="shop-us", scopes=["customer.customer_read--US"])
    return eu


def test_who_may_see_a_customer_on_the_command_line(people, capsys):
    call_command("explain_access", "--tenant", "euro", "--customer", "C-DE", "--json")
    answers = {a["name"]: a for a in json.loads(capsys.readouterr().out)}
    assert "gone" not in answers  # deactivated identities hold nothing
    lead = answers["eu_lead"]
    assert (lead["kind"], lead["read"], lead["manage"], lead["assign"]) == (
        "employee", True, False, False,
    )  # fmt: skip
    assert lead["because"] == [
        "read: access group “eu-readers” (customer.customer_read--EU), through the tree: EU > DE"
    ]
    mover = answers["de_mover"]
    assert (mover["read"], mover["manage"], mover["assign"]) == (True, True, True)
    shop = next(a for name, a in answers.items() if name.startswith("shop-us"))
    assert (shop["kind"], shop["read"], shop["because"]) == ("api_client", False, [])
    call_command("explain_access", "--tenant", "euro", "--restriction", "US")
    text = capsys.readouterr().out
    assert "Who may do what with customers of US in euro:" in text
    assert "employee eu_lead: nothing" in text


def test_who_may_see_a_customer_in_the_back_office(people, client):
    client.force_login(Employee.objects.get(username="tadmin"))
    page = client.get("/admin/customers/customer/explain-access/", {"customer_number": "C-FR"})
    text = page.content.decode()
    assert page.status_code == 200
    assert "Who may see customer C-FR with restriction FR" in text
    assert "employee eu_lead" in text and "through the tree: EU &gt; FR" in text
    exported = client.get(
        "/admin/customers/customer/explain-access/",
        {"customer_number": "C-FR", "format": "csv"},
    )
    assert exported["Content-Type"].startswith("text/csv")
    rows = exported.content.decode().splitlines()
    assert rows[0] == "kind,name,read,manage,change restriction,because"
    assert any(row.startswith("employee,eu_lead,yes,no,no,") for row in rows)
    # A customer the asker cannot see is not found, whoever may see it.
    missing = client.get("/admin/customers/customer/explain-access/", {"customer_number": "C-US"})
    assert "No customer with this number." in missing.content.decode()


def test_who_may_see_costs_the_same_queries_for_many_identities(people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from customers.access import who_has_access

    def queries():
        with CaptureQueriesContext(connection) as captured:
            who_has_access(tenant=people, restriction="DE")
        return len(captured)

    few = queries()
    group = AccessGroupFactory(
        tenant=people, scopes=["customer.customer_read"], restrictions=["FR"]
    )
    for _ in range(20):
        EmployeeFactory(tenant=people, access_groups=[group])
        ApiClientFactory(tenant=people, scopes=["customer.customer_read--EU"])
    assert queries() == few


def test_a_tenant_with_a_tree_can_still_be_deleted_whole(eu):
    eu.delete()  # (its values go with it; alone, a parent would be refused)
    assert not Tenant.objects.filter(code="euro").exists()
    assert not Restriction.objects.filter(code__in=["EU", "DE", "FR"]).exists()
