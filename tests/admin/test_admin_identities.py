from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccessChange, AccessGroup, ApiClient, Employee
from tests.factories import AccessGroupFactory, ApiClientFactory, EmployeeFactory
from tests.forms import tenant_settings

pytestmark = pytest.mark.django_db


def test_tenant_admin_cannot_grant_a_scope_they_lack(tenant, tenant_admin, client):
    client.force_login(tenant_admin)
    response = client.post(
        "/admin/accounts/accessgroup/add/",
        {
            "name": "movers",
            "scopes": "customer.customer_read restriction.restriction_manage",
            "restrictions": "",
        },
    )
    assert response.status_code == 200
    assert "beyond your own" in response.content.decode()
    assert not AccessGroup.objects.filter(name="movers").exists()
    ok = client.post(
        "/admin/accounts/accessgroup/add/",
        {"name": "readers-de", "scopes": "customer.customer_read", "restrictions": "DE"},
    )
    assert ok.status_code == 302
    assert AccessGroup.objects.get(name="readers-de").tenant == tenant


def test_tenant_admin_cannot_create_a_more_powerful_api_client(tenant, tenant_admin, client):
    client.force_login(tenant_admin)
    response = client.post(
        "/admin/accounts/apiclient/add/",
        {"name": "too-strong", "scopes": "customer.customer_manage", "is_active": "on"},
    )
    assert "beyond your own" in response.content.decode()
    assert not ApiClient.objects.filter(name="too-strong").exists()


def test_api_client_secret_is_shown_once_and_works(tenant, tenant_admin, client):
    client.force_login(tenant_admin)
    response = client.post(
        "/admin/accounts/apiclient/add/",
        {"name": "shop", "scopes": "customer.customer_read--DE", "is_active": "on"},
        follow=True,
    )
    message = next(str(m) for m in response.context["messages"])
    secret = message.rsplit(": ", 1)[1]
    assert ApiClient.objects.get(name="shop").check_secret(secret)
    assert secret not in client.get("/admin/accounts/apiclient/").content.decode()


def test_deactivate_action_revokes_at_once(tenant, tenant_admin, client, api_as):
    http = api_as("customer.customer_read")
    assert http.get("/customer/acme/customers").status_code == 200
    client.force_login(tenant_admin)
    client.post(
        "/admin/accounts/apiclient/",
        {"action": "deactivate", "_selected_action": [http.api_client.pk]},
    )
    assert http.get("/customer/acme/customers").status_code == 401


def test_tenant_admin_sees_only_their_tenant(tenant, other_tenant, tenant_admin, client):
    ApiClientFactory(tenant=other_tenant, name="foreign-client")
    AccessGroupFactory(tenant=other_tenant, name="foreign-group")
    EmployeeFactory(tenant=other_tenant, username="foreign-employee")
    client.force_login(tenant_admin)
    for url in [
        "/admin/accounts/apiclient/",
        "/admin/accounts/accessgroup/",
        "/admin/accounts/employee/",
    ]:
        page = client.get(url).content.decode()
        assert "foreign" not in page
        assert "globex" not in page  # not even the other tenant's code in a filter
    foreign = Employee.objects.get(username="foreign-employee")
    assert client.get(f"/admin/accounts/employee/{foreign.pk}/change/").status_code == 404
    assert client.get("/admin/tenancy/tenant/").status_code == 403


def test_tenant_admin_cannot_take_over_a_stronger_employee(tenant, tenant_admin, employee, client):
    boss = employee("boss", (["customer.customer_manage"], []))
    client.force_login(tenant_admin)
    page = client.get(f"/admin/accounts/employee/{boss.pk}/change/").content.decode()
    assert 'name="username"' not in page  # read-only


def test_employee_without_tenant_manage_cannot_open_identity_admin(tenant, de_agent, client):
    client.force_login(de_agent)
    assert client.get("/admin/accounts/apiclient/").status_code == 403


def tenant_form(tenant, change=None):
    """The tenant change form as the page posts it; ``change``: "delete" or "rename" FR, or
    "add" JP."""
    restrictions = list(tenant.restrictions.order_by("pk"))
    sites = list(tenant.sites.order_by("pk"))
    data = {
        **tenant_settings(tenant),
        "restrictions-TOTAL_FORMS": str(len(restrictions)),
        "restrictions-INITIAL_FORMS": str(len(restrictions)),
        "sites-TOTAL_FORMS": str(len(sites)),
        "sites-INITIAL_FORMS": str(len(sites)),
    }
    for i, r in enumerate(restrictions):
        data.update(
            {
                f"restrictions-{i}-id": r.pk,
                f"restrictions-{i}-code": r.code,
                f"restrictions-{i}-tenant": tenant.pk,
            }
        )
        if r.code == "FR" and change == "delete":
            data[f"restrictions-{i}-DELETE"] = "on"
        elif r.code == "FR" and change == "rename":
            data[f"restrictions-{i}-code"] = "FRANCE"
    for i, s in enumerate(sites):
        data.update(
            {f"sites-{i}-id": s.pk, f"sites-{i}-code": s.code, f"sites-{i}-tenant": tenant.pk}
        )
    if change == "add":
        new = len(restrictions)
        data["restrictions-TOTAL_FORMS"] = str(new + 1)
        data.update({f"restrictions-{new}-code": "JP", f"restrictions-{new}-tenant": tenant.pk})
    return data


@pytest.mark.parametrize("change", ["delete", "rename"])
def test_superuser_removing_a_restriction_in_use_is_refused_with_count(
    world, client, tenant, change
):
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    client.force_login(root)
    response = client.post(
        f"/admin/tenancy/tenant/{tenant.pk}/change/", tenant_form(tenant, change)
    )
    assert response.status_code == 200
    assert "still carried by 1 customer" in response.content.decode()
    assert tenant.restrictions.filter(code="FR").exists()
    assert not tenant.restrictions.filter(code="FRANCE").exists()
    assert not AccessChange.objects.exists()


def test_a_change_of_the_valid_restrictions_is_an_access_change(tenant, client):
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    client.force_login(root)
    before = sorted(tenant.restrictions.values_list("code", flat=True))
    response = client.post(f"/admin/tenancy/tenant/{tenant.pk}/change/", tenant_form(tenant, "add"))
    assert response.status_code == 302
    change = AccessChange.objects.get()
    assert (change.subject_kind, change.subject_id, change.action) == ("tenant", "acme", "changed")
    assert change.before == {"restrictions": before}
    assert change.after == {"restrictions": sorted([*before, "JP"])}
    assert (change.actor_kind, change.actor_name, change.tenant_id) == (
        "platform",
        "root",
        tenant.pk,
    )


def test_a_change_of_the_longest_temporary_access_is_an_access_change(tenant, client):
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True, username="root"))
    url = f"/admin/tenancy/tenant/{tenant.pk}/change/"
    response = client.post(url, {**tenant_form(tenant), "max_temporary_access": "04:00:00"})
    assert response.status_code == 302
    change = AccessChange.objects.get()
    assert (change.subject_kind, change.subject_id, change.action) == ("tenant", "acme", "changed")
    assert change.before == {"max_temporary_access": "P0DT08H00M00S"}
    assert change.after == {"max_temporary_access": "P0DT04H00M00S"}
    client.post(url, {**tenant_form(tenant), "max_temporary_access": "04:00:00"})
    assert AccessChange.objects.count() == 1  # (saved again unchanged: nothing to record)


@pytest.mark.parametrize("value", ["00:00:00", "-1 00:00:00", "00:10:00", "32 00:00:00"])
def test_the_longest_temporary_access_is_between_a_quarter_hour_and_a_month(tenant, client, value):
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True, username="root"))
    url = f"/admin/tenancy/tenant/{tenant.pk}/change/"
    response = client.post(url, {**tenant_form(tenant), "max_temporary_access": value})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["max_temporary_access"]
    tenant.refresh_from_db()
    assert tenant.max_temporary_access == timedelta(hours=8)
    assert not AccessChange.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["/admin/accounts/apiclient/", "/admin/accounts/accessgroup/", "/admin/accounts/employee/"],
)
def test_identity_lists_cost_constant_queries(tenant, client, url):
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    client.force_login(root)
    for _ in range(3):
        ApiClientFactory(tenant=tenant)
        AccessGroupFactory(tenant=tenant)
        EmployeeFactory(tenant=tenant)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(20):
        ApiClientFactory(tenant=tenant)
        AccessGroupFactory(tenant=tenant)
        EmployeeFactory(tenant=tenant)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


def test_tenant_admin_cannot_give_an_employee_a_stronger_group(tenant, tenant_admin, client):
    strong = AccessGroupFactory(
        tenant=tenant, name="movers", scopes=["restriction.restriction_manage"]
    )
    weak = AccessGroupFactory(tenant=tenant, name="readers", scopes=["customer.customer_read"])
    clerk = EmployeeFactory(tenant=tenant, username="clerk", access_groups=[weak])
    client.force_login(tenant_admin)
    url = f"/admin/accounts/employee/{clerk.pk}/change/"
    data = {
        "username": "clerk",
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    refused = client.post(url, {**data, "access_groups": [weak.pk, strong.pk]})
    assert refused.status_code == 200
    assert "beyond your own" in refused.content.decode()
    assert list(clerk.access_groups.all()) == [weak]
    allowed = client.post(url, {**data, "access_groups": [weak.pk]})
    assert allowed.status_code == 302, allowed.context["adminform"].form.errors


def test_tenant_admin_cannot_deactivate_or_rotate_a_stronger_client(
    tenant, tenant_admin, client, api_as
):
    weaker = api_as("customer.customer_read--DE")
    stronger = api_as("customer.customer_manage")
    secret_hash = stronger.api_client.secret_hash
    client.force_login(tenant_admin)
    selected = [weaker.api_client.pk, stronger.api_client.pk]
    response = client.post(
        "/admin/accounts/apiclient/",
        {"action": "deactivate", "_selected_action": selected},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        "Deactivated 1 API client.",
        "1 API client beyond your own grants: left unchanged.",
    ]
    stronger.api_client.refresh_from_db()
    assert stronger.api_client.is_active
    assert stronger.get("/customer/acme/customers").status_code == 200
    assert weaker.get("/customer/acme/customers").status_code == 401

    client.post(
        "/admin/accounts/apiclient/",
        {"action": "rotate_secret", "_selected_action": [stronger.api_client.pk]},
    )
    stronger.api_client.refresh_from_db()
    assert stronger.api_client.secret_hash == secret_hash


def test_a_duplicate_client_name_reshows_the_form_with_the_services_error(
    tenant, tenant_admin, client
):
    ApiClientFactory(tenant=tenant, name="shop")
    client.force_login(tenant_admin)
    response = client.post(
        "/admin/accounts/apiclient/add/",
        {"name": "shop", "scopes": "customer.customer_read", "is_active": "on"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert errors == ["An API client named 'shop' already exists in acme."]
    assert ApiClient.objects.filter(name="shop").count() == 1


def test_employee_created_in_the_admin_goes_through_the_service(tenant, tenant_admin, client):
    client.force_login(tenant_admin)
    response = client.post(
        "/admin/accounts/employee/add/",
        {"username": "newbie", "password1": "a-long-passphrase", "password2": "a-long-passphrase"},
    )
    assert response.status_code == 302
    created = Employee.objects.get(username="newbie")
    assert created.tenant == tenant
    assert created.check_password("a-long-passphrase")
    short = client.post(
        "/admin/accounts/employee/add/",
        {"username": "shorty", "password1": "abc", "password2": "abc"},
    )
    assert short.status_code == 200
    assert not Employee.objects.filter(username="shorty").exists()


def test_a_username_taken_in_another_tenant_is_refused_with_a_message(
    tenant, other_tenant, tenant_admin, client
):
    """Usernames are one namespace for every tenant. Under row-level security the form's own
    check cannot see another tenant's employees; the database's unique key can, and the
    service turns it into the same refusal, never a server error."""
    EmployeeFactory(tenant=other_tenant, username="taken")
    client.force_login(tenant_admin)
    response = client.post(
        "/admin/accounts/employee/add/",
        {"username": "taken", "password1": "a-long-passphrase", "password2": "a-long-passphrase"},
        follow=True,
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert list(Employee.objects.filter(username="taken").values_list("tenant", flat=True)) == [
        other_tenant.pk
    ]


def employee_token(employee):
    from accounts.tokens import EMPLOYEE_SUBJECT_PREFIX, issue_token

    employee.refresh_from_db()
    return issue_token(
        subject=f"{EMPLOYEE_SUBJECT_PREFIX}{employee.pk}",
        tenant_code=employee.tenant.code,
        scopes=employee.scope_strings(),
        generation=employee.token_generation,
    ).access_token


def test_reactivating_through_the_change_form_does_not_revive_old_tokens(
    tenant, tenant_admin, client, api_as
):
    """Untick "Active", save; tick it, save: tokens issued before stay dead, for API clients and
    employees alike (the form has already changed the object when it is saved; the service
    compares with the stored row)."""
    from tests.conftest import bearer_client

    http = api_as("customer.customer_read--DE")
    api_client = http.api_client
    readers = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])
    clerk = EmployeeFactory(tenant=tenant, username="clerk", access_groups=[readers])
    clerk_http = bearer_client(employee_token(clerk))
    assert http.get("/customer/acme/customers").status_code == 200
    assert clerk_http.get("/customer/acme/customers").status_code == 200
    client.force_login(tenant_admin)
    client_page = f"/admin/accounts/apiclient/{api_client.pk}/change/"
    client_form = {"name": api_client.name, "scopes": "customer.customer_read--DE"}
    clerk_page = f"/admin/accounts/employee/{clerk.pk}/change/"
    clerk_form = {
        "username": "clerk",
        "is_staff": "on",
        "access_groups": [readers.pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    for active in ({}, {"is_active": "on"}):
        assert client.post(client_page, {**client_form, **active}).status_code == 302
        assert client.post(clerk_page, {**clerk_form, **active}).status_code == 302
    api_client.refresh_from_db()
    clerk.refresh_from_db()
    assert api_client.is_active and clerk.is_active
    assert http.get("/customer/acme/customers").status_code == 401
    assert clerk_http.get("/customer/acme/customers").status_code == 401
    assert bearer_client(employee_token(clerk)).get("/customer/acme/customers").status_code == 200
    recorded = AccessChange.objects.filter(channel="admin").values_list("subject_name", "action")
    assert sorted(recorded) == sorted(
        [
            (api_client.name, "deactivated"),
            (api_client.name, "reactivated"),
            ("clerk", "deactivated"),
            ("clerk", "reactivated"),
        ]
    )


def test_the_password_page_saves_through_the_service(tenant, tenant_admin, client):
    from tests.conftest import bearer_client

    readers = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])
    clerk = EmployeeFactory(tenant=tenant, username="clerk", access_groups=[readers])
    old_token = bearer_client(employee_token(clerk))
    client.force_login(tenant_admin)
    page = f"/admin/accounts/employee/{clerk.pk}/password/"
    assert client.get(page).status_code == 200
    too_short = client.post(page, {"password1": "abc", "password2": "abc"})
    assert too_short.status_code == 200
    assert "too short" in too_short.content.decode()
    response = client.post(
        page, {"password1": "a-long-passphrase", "password2": "a-long-passphrase"}, follow=True
    )
    assert "Password changed successfully." in [str(m) for m in response.context["messages"]]
    clerk.refresh_from_db()
    assert clerk.check_password("a-long-passphrase")
    assert old_token.get("/customer/acme/customers").status_code == 401
    change = AccessChange.objects.get(action="password_changed")
    assert (change.subject_name, change.actor_name) == ("clerk", "tadmin")
    assert change.before == change.after == {}


def test_access_changes_page_shows_the_own_tenant_to_tenant_administrators(
    tenant, other_tenant, tenant_admin, de_agent, client
):
    from accounts.principal import Principal
    from accounts.services.identities import api_client_create
    from core.channels import Channel

    for owner, name in ((tenant, "ours"), (other_tenant, "theirs")):
        api_client_create(
            actor=Principal.operator(owner),
            channel=Channel.COMMAND,
            tenant=owner,
            name=name,
            scopes=["customer.customer_read"],
        )
    page = "/admin/accounts/accesschange/"
    client.force_login(tenant_admin)
    text = client.get(page).content.decode()
    assert "ours" in text and "theirs" not in text
    theirs = AccessChange.objects.get(subject_name="theirs")
    assert client.get(f"{page}{theirs.pk}/change/").status_code == 404
    assert "ours" not in client.get(page, {"q": "nobody"}).content.decode()
    assert "ours" in client.get(page, {"q": "ours", "action__exact": "created"}).content.decode()
    assert client.get(page, {"before__contains": "x"}).status_code == 400
    ours = AccessChange.objects.get(subject_name="ours")
    assert client.post(f"{page}{ours.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AccessChange.objects.filter(pk=ours.pk).exists()
    client.force_login(de_agent)
    assert client.get(page).status_code == 403
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True, username="root"))
    text = client.get(page).content.decode()
    assert "ours" in text and "theirs" in text


def test_changing_ones_own_password_goes_through_the_service(tenant, de_agent, client):
    """The back office's own "Change password" page: the old password is checked, only the
    password and the token generation are written (an administrator's concurrent change of
    the row survives), earlier tokens die, and the change is recorded."""
    from tests.conftest import bearer_client

    old_token = bearer_client(employee_token(de_agent))
    assert old_token.get("/customer/acme/customers").status_code == 200
    client.force_login(de_agent)
    page = "/admin/password_change/"
    wrong = client.post(
        page,
        {
            "old_password": "not-it",
            "new_password1": "a-long-passphrase",
            "new_password2": "a-long-passphrase",
        },
    )
    assert wrong.status_code == 200 and "incorrectly" in wrong.content.decode()
    from unittest import mock

    from accounts.admin_site import OwnPasswordChangeForm

    checked = OwnPasswordChangeForm.clean_old_password

    def meanwhile(form):
        # An administrator deactivates the employee after this request loaded the row.
        Employee.objects.filter(pk=de_agent.pk).update(first_name="Renamed", is_active=False)
        return checked(form)

    with mock.patch.object(OwnPasswordChangeForm, "clean_old_password", meanwhile):
        done = client.post(
            page,
            {
                "old_password": "correct-horse-battery",
                "new_password1": "a-long-passphrase",
                "new_password2": "a-long-passphrase",
            },
        )
    assert done.status_code == 302 and done["Location"].endswith("/password_change/done/")
    stored = Employee.objects.get(pk=de_agent.pk)
    assert stored.check_password("a-long-passphrase")
    assert (stored.first_name, stored.is_active) == ("Renamed", False)  # not written back
    assert old_token.get("/customer/acme/customers").status_code == 401
    change = AccessChange.objects.get()
    assert (change.action, change.subject_name, change.actor_name) == (
        "password_changed",
        "de_agent",
        "de_agent",
    )
