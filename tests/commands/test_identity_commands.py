import io
import json
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AccessChange, AccessGroup, ApiClient, Employee
from tenancy.models import Restriction, Site, Tenant
from tests.factories import ApiClientFactory


def run(*args, stdin=None):
    out = io.StringIO()
    with mock.patch("sys.stdin", io.StringIO(stdin or "")):
        call_command(*args, stdout=out)
    return out.getvalue()


def fails(*args, message, stdin=None):
    with pytest.raises(CommandError, match=message) as info:
        run(*args, stdin=stdin)
    assert info.value.returncode == 2
    return info.value


@pytest.mark.django_db
class TestCreateTenant:
    def test_creates_tenant_sites_and_restrictions(self):
        run(
            "create_tenant",
            "demo",
            "--name",
            "Demo",
            "--restrictions",
            "DE,FR",
            "--sites",
            "DE,FR",
            "--sync-restrictions-with-sites",
        )
        tenant = Tenant.objects.get(code="demo")
        assert tenant.sync_restrictions_with_sites
        assert set(tenant.sites.values_list("code", flat=True)) == {"main", "DE", "FR"}
        assert set(tenant.restrictions.values_list("code", flat=True)) == {"DE", "FR"}

    def test_existing_tenant_is_refused(self, tenant):
        fails("create_tenant", "acme", "--name", "Again", message="already exists")
        assert Tenant.objects.count() == 1

    @pytest.mark.parametrize("code", ["Demo", "ab", "1abc", "a" * 17, "de-mo"])
    def test_invalid_code_is_refused(self, code):
        fails("create_tenant", code, "--name", "X", message="code")
        assert not Tenant.objects.exists()

    @pytest.mark.parametrize("restriction", ["D--E", "-DE", "D E", "X" * 65])
    def test_invalid_restriction_creates_nothing(self, restriction):
        fails(
            "create_tenant",
            "demo",
            "--name",
            "X",
            "--restrictions",
            f"DE,{restriction}",
            message="code",
        )
        assert not Tenant.objects.exists()
        assert not Restriction.objects.exists()
        assert not Site.objects.exists()


@pytest.mark.django_db
class TestCreateApiClient:
    def test_prints_credentials_as_json_that_work(self, tenant, client):
        output = run(
            "create_api_client",
            "--tenant",
            "acme",
            "--name",
            "shop",
            "--scopes",
            "customer.customer_read customer.customer_manage--DE",
            "--json",
        )
        data = json.loads(output)
        assert data["scopes"] == ["customer.customer_read", "customer.customer_manage--DE"]
        stored = ApiClient.objects.get(client_id=data["client_id"])
        assert stored.check_secret(data["client_secret"])
        assert data["client_secret"] not in stored.secret_hash

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ["--tenant", "nope", "--name", "x", "--scopes", "customer.customer_read"],
                "Unknown tenant 'nope'",
            ),
            (
                ["--tenant", "acme", "--name", "x", "--scopes", "customer.customer_fly"],
                "Unknown scope 'customer.customer_fly'",
            ),
            (
                ["--tenant", "acme", "--name", "x", "--scopes", "customer.customer_read--"],
                "empty restriction",
            ),
            (
                ["--tenant", "acme", "--name", "x", "--scopes", "customer.customer_read--JP"],
                "not valid in tenant acme: JP",
            ),
        ],
    )
    def test_bad_input_creates_nothing(self, tenant, args, message):
        fails("create_api_client", *args, message=message)
        assert not ApiClient.objects.exists()

    def test_duplicate_name_is_refused(self, tenant):
        ApiClientFactory(tenant=tenant, name="shop")
        fails(
            "create_api_client",
            "--tenant",
            "acme",
            "--name",
            "shop",
            "--scopes",
            "customer.customer_read",
            message="already exists",
        )
        assert ApiClient.objects.count() == 1


@pytest.mark.django_db
class TestCreateEmployee:
    def test_creates_employee_with_groups(self, tenant):
        output = run(
            "create_employee",
            "--tenant",
            "acme",
            "--username",
            "anna",
            "--password-stdin",
            "--staff",
            "--group",
            "de:customer.customer_read,customer.customer_manage:DE",
            "--group",
            "all-readers:customer.customer_read",
            stdin="s3cret-pass\n",
        )
        anna = Employee.objects.get(username="anna")
        assert anna.is_staff and anna.check_password("s3cret-pass")
        assert set(anna.scope_strings()) == {
            "customer.customer_read",
            "customer.customer_manage--DE",
        }
        assert "customer.customer_manage--DE" in output

    def test_joins_an_existing_group_by_name(self, tenant):
        AccessGroup.objects.create(tenant=tenant, name="readers", scopes=["customer.customer_read"])
        run(
            "create_employee",
            "--tenant",
            "acme",
            "--username",
            "bo",
            "--password-stdin",
            "--group",
            "readers",
            stdin="s3cret-pass\n",
        )
        assert Employee.objects.get(username="bo").scope_strings() == ["customer.customer_read"]

    @pytest.mark.parametrize(
        ("args", "stdin", "message"),
        [
            (["--tenant", "nope"], "s3cret-pass\n", "Unknown tenant"),
            (["--tenant", "acme"], "\n", "password is empty"),
            (["--tenant", "acme"], "", "password is empty"),
            (
                ["--tenant", "acme", "--group", "g:customer.customer_fly"],
                "s3cret-pass\n",
                "Unknown scope",
            ),
            (
                ["--tenant", "acme", "--group", "g:customer.customer_read:JP"],
                "s3cret-pass\n",
                "not valid in tenant acme: JP",
            ),
            (
                ["--tenant", "acme", "--group", "g:customer.customer_read--DE"],
                "s3cret-pass\n",
                "unsuffixed",
            ),
            (["--tenant", "acme", "--group", "missing"], "s3cret-pass\n", "Unknown access group"),
            (["--tenant", "acme", "--group", "a:b:c:d"], "s3cret-pass\n", "Invalid group"),
        ],
    )
    def test_bad_input_creates_nothing(self, tenant, args, stdin, message):
        fails(
            "create_employee",
            "--username",
            "anna",
            "--password-stdin",
            *args,
            stdin=stdin,
            message=message,
        )
        assert not Employee.objects.exists()
        assert not AccessGroup.objects.exists()

    def test_duplicate_username_is_refused(self, tenant):
        run(
            "create_employee",
            "--tenant",
            "acme",
            "--username",
            "anna",
            "--password-stdin",
            stdin="s3cret-pass\n",
        )
        fails(
            "create_employee",
            "--tenant",
            "acme",
            "--username",
            "anna",
            "--password-stdin",
            stdin="other-pass\n",
            message="already exists",
        )
        assert Employee.objects.count() == 1


@pytest.mark.django_db
class TestRevokeApiClient:
    def test_deactivates(self, tenant):
        api_client = ApiClientFactory(tenant=tenant)
        assert "Revoked" in run("revoke_api_client", api_client.client_id)
        api_client.refresh_from_db()
        assert not api_client.is_active

    def test_unknown_client_is_refused(self, db):
        fails("revoke_api_client", "cl_missing", message="Unknown API client 'cl_missing'")


@pytest.mark.django_db
class TestTheCommandEdge:
    """Every tenant command resolves --tenant and --actor to one principal and the identity
    services decide with it: an actor gets no further through a command than the back office."""

    def test_an_actor_grants_nothing_beyond_their_own_through_a_command(self, tenant):
        from tests.factories import AccessGroupFactory, EmployeeFactory

        EmployeeFactory(
            tenant=tenant,
            username="tadmin",
            access_groups=[
                AccessGroupFactory(
                    tenant=tenant, scopes=["tenant.tenant_manage", "customer.customer_read"]
                )
            ],
        )
        fails(
            "create_api_client",
            "--tenant=acme",
            "--actor=tadmin",
            "--name=shop",
            "--scopes=customer.customer_manage",
            message="beyond your own",
        )
        assert not ApiClient.objects.exists()
        run(
            "create_api_client",
            "--tenant=acme",
            "--actor=tadmin",
            "--name=shop",
            "--scopes=customer.customer_read--DE",
        )
        change = AccessChange.objects.get()
        assert (change.actor_kind, change.actor_name, change.channel) == (
            "employee",
            "tadmin",
            "command",
        )

    def test_unknown_tenants_and_actors_and_other_tenants_employees_are_refused(
        self, tenant, other_tenant
    ):
        from tests.factories import EmployeeFactory

        EmployeeFactory(tenant=other_tenant, username="outsider")
        common = ["--name=shop", "--scopes=customer.customer_read"]
        fails("create_api_client", "--tenant=nope", *common, message="Unknown tenant 'nope'")
        fails(
            "create_api_client", "--tenant=acme", "--actor=ghost", *common, message="Unknown actor"
        )
        fails(
            "create_api_client",
            "--tenant=acme",
            "--actor=outsider",
            *common,
            message="Unknown actor 'outsider' in tenant acme",
        )
        assert not ApiClient.objects.exists()

    def test_the_operator_is_recorded_as_the_actor(self, tenant):
        client = ApiClientFactory(tenant=tenant)
        run("revoke_api_client", client.client_id)
        change = AccessChange.objects.get()
        assert (change.action, change.actor_kind, change.channel) == (
            "deactivated",
            "operator",
            "command",
        )

    def test_a_tenant_command_cannot_take_over_the_edge(self):
        from accounts.commands import TenantCommand

        with pytest.raises(TypeError, match="must not override handle"):

            class Careless(TenantCommand):
                def handle(self, *args, **options):
                    pass
