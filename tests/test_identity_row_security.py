"""The second lock for identities (PostgreSQL, as the service role): employees, API clients,
access groups, temporary grants and memberships answer only within the bound tenants, and every
edge that finds its caller before a principal exists (the token endpoint, a token's principal
lookup, the back-office sign-in and session, a command's ``--actor``, ``createsuperuser``) still
works when nothing at all is bound."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import rowsecurity
from accounts.models import AccessGroup, ApiClient, Employee, TemporaryGrant
from accounts.principal import Principal
from customers.models import Customer
from tests.factories import (
    AccessGroupFactory,
    ApiClientFactory,
    CustomerFactory,
    EmployeeFactory,
    employee_holding,
)

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-level security is PostgreSQL's"
    ),
]
PASSWORD = "correct-horse-battery"
Membership = Employee.access_groups.through


@pytest.fixture(autouse=True)
def _as_the_service_role(database_roles):
    if database_roles is None:
        pytest.skip("the suite runs as a superuser, whom row-level security does not bind")


@pytest.fixture
def identities(tenant, other_tenant):
    """In each tenant: an employee in a group with a temporary grant, and an API client with a
    temporary scope; and a platform superuser (no tenant)."""
    made = {}
    now = timezone.now()
    for each in (tenant, other_tenant):
        group = AccessGroupFactory(tenant=each)
        employee = EmployeeFactory(tenant=each, access_groups=[group])
        client = ApiClientFactory(tenant=each)
        window = {"valid_from": now, "valid_until": now + timedelta(hours=1)}
        TemporaryGrant.objects.create(tenant=each, employee=employee, group=group, **window)
        TemporaryGrant.objects.create(tenant=each, api_client=client, scope="x.y", **window)
        made[each.code] = {"employee": employee, "client": client, "group": group}
    made["root"] = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    return made


def tenants_of(model) -> set:
    if model is Membership:
        return set(Membership.objects.values_list("employee__tenant_id", flat=True))
    return set(model._base_manager.values_list("tenant_id", flat=True))


IDENTITY_MODELS = [Employee, ApiClient, AccessGroup, TemporaryGrant, Membership]


@pytest.mark.django_db
@pytest.mark.parametrize("model", IDENTITY_MODELS, ids=lambda model: model.__name__)
def test_identities_answer_only_within_the_bound_tenant(identities, tenant, other_tenant, model):
    assert {tenant.pk, other_tenant.pk} <= tenants_of(model)
    with rowsecurity.row_context(rowsecurity.RowContext.of(Principal.operator(tenant))):
        # (code that forgets the tenant filter still reads and changes only its own)
        assert tenants_of(model) == {tenant.pk}
        if model is Membership:
            other = Membership.objects.filter(employee__tenant=other_tenant)
        else:
            other = model._base_manager.filter(tenant=other_tenant)
        assert not other.delete()[0]
    with rowsecurity.row_context(rowsecurity.NOTHING):
        assert not model._base_manager.exists()
    assert other_tenant.pk in tenants_of(model)


@pytest.mark.django_db
def test_a_platform_superuser_is_seen_only_with_every_tenant_bound(identities, tenant):
    with rowsecurity.row_context(rowsecurity.RowContext.whole_tenant(tenant.pk)):
        assert not Employee.objects.filter(username="root").exists()
        assert Employee.objects.filter(is_superuser=True).update(is_active=False) == 0
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert Employee.objects.get(username="root").is_active


@pytest.mark.django_db
def test_an_identity_is_written_only_in_the_bound_tenant(identities, tenant, other_tenant):
    theirs = identities[other_tenant.code]
    with rowsecurity.row_context(rowsecurity.RowContext.of(Principal.operator(tenant))):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            ApiClient.objects.create(tenant=other_tenant, name="planted", scopes=[])
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Membership.objects.create(
                employee=theirs["employee"], accessgroup=identities[tenant.code]["group"]
            )
        # moving one's own identity into another tenant is refused too
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            ApiClient.objects.filter(pk=identities[tenant.code]["client"].pk).update(
                tenant=other_tenant
            )
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Employee.objects.create_user("planted-root", is_superuser=True, tenant=None)


@pytest.mark.django_db
def test_the_sign_in_context_reads_identities_and_no_customer(identities, tenant):
    CustomerFactory(tenant=tenant)
    with rowsecurity.row_context(rowsecurity.SIGN_IN):
        assert Employee.objects.filter(username="root").exists()
        assert ApiClient.objects.count() == 2
        assert not Customer.objects.exists()


# The edges, with nothing bound (as production starts every connection).


def post_token(data):
    return APIClient().post(
        "/oauth/token", urlencode(data), content_type="application/x-www-form-urlencoded"
    )


@pytest.mark.django_db
def test_a_client_gets_a_token_and_reads_with_nothing_bound(tenant, no_row_context):
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read"])
        CustomerFactory(tenant=tenant, customer_number="C1")
    answer = post_token(
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.clear_secret,
        }
    )
    assert answer.status_code == 200, answer.content
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {answer.json()['access_token']}")
    for _ in range(2):  # (the second request binds its principal's context with its lookup)
        listed = http.get(f"/customer/{tenant.code}/customers")
        assert listed.status_code == 200, listed.content
        assert [c["customerNumber"] for c in listed.json()] == ["C1"]
    assert rowsecurity.current() == rowsecurity.NOTHING


@pytest.mark.django_db
@pytest.mark.parametrize("superuser", [False, True], ids=["employee", "platform superuser"])
def test_an_employee_gets_a_token_and_reads_with_nothing_bound(tenant, no_row_context, superuser):
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        if superuser:
            EmployeeFactory(tenant=None, is_superuser=True, username="pat", password=PASSWORD)
        else:
            employee_holding(tenant, "customer.customer_read", username="pat", password=PASSWORD)
        CustomerFactory(tenant=tenant, customer_number="C1")
    answer = post_token(
        {"grant_type": "password", "username": "pat", "password": PASSWORD, "tenant": tenant.code}
    )
    assert answer.status_code == 200, answer.content
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {answer.json()['access_token']}")
    listed = http.get(f"/customer/{tenant.code}/customers")
    assert listed.status_code == 200, listed.content
    assert [c["customerNumber"] for c in listed.json()] == ["C1"]


@pytest.mark.django_db
def test_a_revoked_client_is_refused_and_leaves_nothing_bound(tenant, no_row_context):
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read"])
    token = post_token(
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.clear_secret,
        }
    ).json()["access_token"]
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        ApiClient.objects.filter(pk=client.pk).update(is_active=False)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert http.get(f"/customer/{tenant.code}/customers").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("superuser", [False, True], ids=["employee", "platform superuser"])
def test_the_back_office_signs_in_and_serves_with_nothing_bound(
    tenant, client, no_row_context, superuser
):
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        if superuser:
            EmployeeFactory(tenant=None, is_superuser=True, username="pat", password=PASSWORD)
        else:
            employee_holding(tenant, "customer.customer_read", username="pat", password=PASSWORD)
        CustomerFactory(tenant=tenant, customer_number="C1", last_name="Visible")
    signed_in = client.post("/admin/login/?next=/admin/", {"username": "pat", "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    page = client.get("/admin/customers/customer/")
    assert page.status_code == 200 and "Visible" in page.content.decode()
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert Employee.objects.get(username="pat").last_login is not None


@pytest.mark.django_db
def test_a_tenant_administrator_sees_only_their_tenants_identities(
    tenant, other_tenant, client, no_row_context
):
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        admin = employee_holding(tenant, "tenant.tenant_manage", username="boss")
        EmployeeFactory(tenant=other_tenant, username="stranger")
        client.force_login(admin)  # (the test client's sign-in records it: test code's context)
    page = client.get("/admin/accounts/employee/")
    assert page.status_code == 200
    assert "boss" in page.content.decode() and "stranger" not in page.content.decode()


@pytest.mark.django_db
def test_a_command_acts_as_its_actor_with_nothing_bound(tenant, no_row_context):
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        employee_holding(
            tenant,
            "customer.customer_read",
            "customer.customer_manage",
            "restriction.restriction_manage",
            username="pat",
        )
        CustomerFactory(tenant=tenant, customer_number="C1")
    call_command(
        "assign_restriction", "--tenant", tenant.code, "--actor", "pat", "--restriction", "DE",
        "--all",
    )  # fmt: skip
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert Customer.objects.get(customer_number="C1").restriction == "DE"


@pytest.mark.django_db
def test_createsuperuser_works_with_nothing_bound(no_row_context):
    call_command("createsuperuser", "--noinput", "--username", "root2", "--email", "r@example.com")
    with pytest.raises(Exception, match="already taken"):
        call_command(
            "createsuperuser", "--noinput", "--username", "root2", "--email", "r@example.com"
        )
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert Employee.objects.get(username="root2").is_superuser


def test_no_policy_but_the_read_logs_erasure_reads_another_table(db):
    """What a distributed database accepts of the tables it keeps whole on the coordinator or
    copies to every node (the tenants, the identities and whatever refers to them): policies
    over the row, its settings and functions of them; no subquery. (The read log's erasure
    policy has one; the log refers to nothing and stays a plain table.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public' "
            "AND coalesce(qual, '') || coalesce(with_check, '') ~* '\\mselect\\M'"
        )
        with_subqueries = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM pg_policies WHERE tablename LIKE 'accounts\\_%%'")
        identity_policies = cursor.fetchone()[0]
    assert with_subqueries == [("customers_customerview", "erase")]
    assert identity_policies >= 7 * 4  # (the identities' and memberships' four each)


def test_a_membership_is_seen_and_changed_exactly_when_its_employee_is(identities, tenant):
    own, other = identities["acme"]["employee"], identities["globex"]["employee"]
    with rowsecurity.row_context(rowsecurity.RowContext.whole_tenant(tenant.pk)):
        seen = set(Membership.objects.values_list("employee_id", flat=True))
        assert seen == {own.pk}
        group = AccessGroupFactory(tenant=tenant)
        Membership.objects.create(employee_id=own.pk, accessgroup_id=group.pk)
        with pytest.raises(DatabaseError), transaction.atomic():
            Membership.objects.create(employee_id=other.pk, accessgroup_id=group.pk)
        assert Membership.objects.filter(employee_id=other.pk).delete()[0] == 0
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert Membership.objects.filter(employee_id=other.pk).count() == 1
