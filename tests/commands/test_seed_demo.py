import io
import re
import subprocess
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from accounts.models import AccessGroup, Employee
from customers.models import Account, Address, Customer, RestrictionChange
from tenancy.models import Tenant
from tests.factories import CustomerFactory
from tests.processes import manage

pytestmark = pytest.mark.django_db


def seed(*args):
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_seed_demo_builds_a_usable_tenant_and_prints_a_working_token_request():
    output = seed("--customers", "400")
    assert set(AccessGroup.objects.values_list("name", flat=True)) == {
        "de-agents",
        "fr-agents",
        "restriction-managers",
        "de-fr-movers",
        "eu-leads",
        "incident-response",
        "admins",
    }
    assert set(Employee.objects.values_list("username", flat=True)) == {
        "admin",
        "admin2",
        "de_agent",
        "fr_agent",
        "mover",
        "eu_lead",
    }
    assert Customer.objects.count() == 400
    spread = set(Customer.objects.values_list("restriction", flat=True))
    assert spread == {"EU", "DE", "FR", "US", None}
    assert Address.objects.exists() and Account.objects.exists()
    assert (
        RestrictionChange.objects.count()
        == Customer.objects.exclude(restriction__isnull=True).count()
    )
    assert "admin" in output and "demo-admin-pass" in output

    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {printed_token(output)}")
    listed = http.get("/customer/demo/customers", HTTP_X_TOTAL_COUNT="true")
    assert listed["X-Total-Count"] == "400"


def printed_token(output: str) -> str:
    curl = re.search(r"client_id=(\S+) -d client_secret=(\S+)", output)
    response = APIClient().post(
        "/oauth/token",
        urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": curl.group(1),
                "client_secret": curl.group(2),
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.json()
    return response.json()["access_token"]


def lists(token: str) -> int:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return http.get("/customer/demo/customers").status_code


def test_running_it_again_keeps_the_running_demos_credentials_working():
    """A second ``make run`` (or seed_demo) prints the same credentials and leaves tokens
    already handed out working; --rotate-secrets is the way to new ones."""
    first = seed("--customers", "5")
    token = printed_token(first)
    employee_generations = dict(Employee.objects.values_list("username", "token_generation"))
    again = seed("--customers", "5")
    assert re.findall(r"client_secret=(\S+)", again) == re.findall(r"client_secret=(\S+)", first)
    assert lists(token) == 200
    assert dict(Employee.objects.values_list("username", "token_generation")) == (
        employee_generations
    )
    rotated = seed("--rotate-secrets")
    assert re.findall(r"client_secret=(\S+)", rotated) != re.findall(r"client_secret=(\S+)", first)
    assert lists(token) == 401
    assert lists(printed_token(rotated)) == 200


def test_reset_starts_the_demo_customers_over():
    seed("--customers", "30")
    Customer.objects.update(restriction="US")  # as after "select all, assign US"
    mine = CustomerFactory(tenant=Tenant.objects.get(code="demo"), customer_number="MINE-1")
    output = seed("--customers", "30", "--reset")
    assert "Demo reset: 30 customers removed." in output
    # A customer the user made is not the demo's to remove (nor counted for the top-up).
    assert Customer.objects.filter(pk=mine.pk).exists()
    Customer.objects.filter(pk=mine.pk).delete()
    assert Customer.objects.count() == 30
    assert set(Customer.objects.values_list("restriction", flat=True)) == {
        "EU",
        "DE",
        "FR",
        "US",
        None,
    }
    assert not RestrictionChange.objects.filter(new_value="US", channel="admin").exists()


def test_the_printed_urls_follow_the_base_url():
    output = seed("--base-url", "http://127.0.0.1:8001/")
    assert "http://127.0.0.1:8001/admin/" in output
    assert "http://127.0.0.1:8001/oauth/token" in output
    assert "8000" not in output


def test_the_demo_has_a_small_tree_and_a_lead_who_sees_it(client):
    """EU over DE and FR: eu_lead, who holds customer.customer_read--EU, reads EU, DE and FR
    customers, and none of US or without a restriction."""
    from tenancy.models import Restriction

    seed("--customers", "80")
    parents = dict(Restriction.objects.values_list("code", "parent__code"))
    assert parents == {"EU": None, "DE": "EU", "FR": "EU", "US": None}
    response = APIClient().post(
        "/oauth/token",
        urlencode({"grant_type": "password", "username": "eu_lead", "password": "demo-eu-pass"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.json()
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    seen = {c["restriction"] for c in http.get("/customer/demo/customers?pageSize=100").json()}
    assert seen == {"EU", "DE", "FR"}
    assert seed("--customers", "80")  # running again leaves the tree as it is


def test_seed_demo_runs_again_and_tops_up():
    seed("--customers", "10")
    assert "(0 customers added)" in seed("--customers", "10")
    seed("--customers", "15")
    assert Customer.objects.count() == 15
    assert Employee.objects.count() == 6


def test_negative_count_is_refused():
    with pytest.raises(CommandError, match="0 or more") as info:
        seed("--customers", "-1")
    assert info.value.returncode == 2


def test_de_agent_sees_only_de_demo_customers(client):
    seed("--customers", "200")
    de_agent = Employee.objects.get(username="de_agent")
    assert de_agent.check_password("demo-de-pass")
    client.force_login(de_agent)
    page = client.get("/admin/customers/customer/", {"all": ""}).content.decode()
    numbers = re.findall(r'<th class="field-customer_number"><a [^>]*>([^<]+)</a>', page)
    de_numbers = Customer.objects.filter(tenant__code="demo", restriction="DE")
    assert 0 < de_numbers.count() < Customer.objects.filter(tenant__code="demo").count()
    assert sorted(numbers) == sorted(de_numbers.values_list("customer_number", flat=True))


def test_the_demo_mover_can_move_de_and_fr_customers_between_the_two_only():
    seed("--customers", "200")
    mover = Employee.objects.get(username="mover")
    grants = mover.grants()
    assert grants.manageable().restrictions == {"DE", "FR"}
    assert grants.assignable().restrictions == {"DE", "FR"}
    assert mover.check_password("demo-mover-pass")
    assert Employee.objects.get(username="admin").grants().can_manage_tenant()


@pytest.mark.django_db(transaction=True)
def test_seed_demo_survives_its_output_being_closed():
    seeding = manage(
        "seed_demo", "--customers", "30", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    seeding.stdout.close()  # the reader is gone before anything is written (``| head -0``)
    _, stderr = seeding.communicate(timeout=120)
    assert seeding.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    assert b"Exception ignored" not in stderr
    assert Customer.objects.filter(tenant__code="demo").count() == 30
    assert Employee.objects.filter(username="mover").exists()


def test_the_demo_has_one_pending_request_and_one_open_review_however_often_it_runs():
    from accounts.models import AccessRequest, AccessReview

    seed()
    seed()
    [request] = AccessRequest.objects.all()
    assert request.status == "pending" and request.requester.username == "fr_agent"
    [review] = AccessReview.objects.all()
    assert review.status == "open" and review.lines.filter(reviewer_name="admin").exists()
    assert AccessGroup.objects.get(name="incident-response").break_glass


def printed_client(output: str, variable: str) -> APIClient:
    """An API client with the token the printed ``VARIABLE=$(curl … /oauth/token …)`` line
    gets, as pasted."""
    client_id, secret = re.search(
        rf"{variable}=.*client_id=(\S+) -d client_secret=(\S+)", output
    ).groups()
    token = APIClient().post(
        "/oauth/token",
        urlencode(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert token.status_code == 200, token.json()
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")
    return http


def test_the_demo_review_can_close_and_the_auditor_reads_the_audit_api():
    """Two administrators review each other; the printed audit call works as pasted."""
    from accounts.models import AccessChange, AccessReview, Employee
    from accounts.principal import Principal
    from accounts.services.reviews import review_lines_decide

    output = seed()
    review = AccessReview.objects.get()
    for username in ("admin", "admin2"):
        employee = Employee.objects.get(username=username)
        mine = review.lines.filter(reviewer=employee).values_list("pk", flat=True)
        review_lines_decide(
            actor=Principal.for_employee(employee, employee.tenant),
            review_pk=review.pk,
            line_pks=list(mine),
            decision="keep",
        )
    review.refresh_from_db()
    assert review.status == "closed"
    http = printed_client(output, "AUDIT")
    changes = http.get("/iam/demo/access-changes", {"pageSize": 3})
    assert changes.status_code == 200 and len(changes.json()) == 3
    # The demo's identities were made through the identity services, and recorded.
    assert AccessChange.objects.filter(subject_name="admin2", action="created").exists()
    # Seeding again opens no new review and asks nothing again.
    seed()
    assert AccessReview.objects.count() == 1


def test_seeding_again_rewrites_nothing_a_user_changed():
    from accounts.models import AccessChange, AccessGroup, Employee

    seed()
    agent = Employee.objects.get(username="de_agent")
    agent.access_groups.set([AccessGroup.objects.get(name="eu-leads")])
    agent.set_password("my-own-new-passphrase")
    agent.save()
    before = AccessChange.objects.count()
    seed()
    agent.refresh_from_db()
    assert [g.name for g in agent.access_groups.all()] == ["eu-leads"]
    assert agent.check_password("my-own-new-passphrase")
    assert AccessChange.objects.count() == before


def test_the_printed_scim_call_finds_the_demo_employee():
    output = seed()
    http = printed_client(output, "SCIM")
    path = re.search(r"'http://[^/]+(/scim/v2/\S+)'", output).group(1)
    found = http.get(path).json()
    assert [user["userName"] for user in found["Resources"]] == ["de_agent"]
