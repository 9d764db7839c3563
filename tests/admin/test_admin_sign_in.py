"""Setting up the tenant's sign-in provider and its group mappings in the back office, and
password sign-in for a tenant that signs its staff in through its provider only."""

from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from accounts import rowsecurity
from accounts.models import AccessChange, ProviderGroup, SignInProvider
from tests.factories import AccessGroupFactory, EmployeeFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def provider_form(**changes):
    form = {
        "name": "Okta",
        "issuer": "https://acme.okta.example",
        "client_id": "0oa-client",
        "client_secret": "s3cret",
        "username_claim": "preferred_username",
        "groups_claim": "groups",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_an_administrator_sets_the_provider_up_and_the_secret_is_never_shown(
    tenant, tenant_admin, client
):
    client.force_login(tenant_admin)
    added = client.post("/admin/accounts/signinprovider/add/", provider_form(required="on"))
    assert added.status_code == 302, added.content.decode()[:2000]
    provider = SignInProvider.objects.get(tenant=tenant)
    assert (provider.name, provider.client_secret, provider.required) == ("Okta", "s3cret", True)
    change = AccessChange.objects.get(subject_kind="tenant", action="changed")
    assert change.after["sign-in issuer"] == "https://acme.okta.example"
    assert change.after["sign-in client_secret"] == "(changed)"
    page = client.get(f"/admin/accounts/signinprovider/{provider.pk}/change/")
    assert "s3cret" not in page.content.decode()
    # Saved again without a secret: the stored one stays.
    again = client.post(
        f"/admin/accounts/signinprovider/{provider.pk}/change/",
        provider_form(client_secret="", name="Okta SSO", required="on"),
    )
    assert again.status_code == 302
    provider.refresh_from_db()
    assert (provider.name, provider.client_secret) == ("Okta SSO", "s3cret")


def test_nobody_sets_up_a_provider_that_could_sign_in_as_someone_stronger(
    tenant, tenant_admin, client
):
    stronger = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_manage"])
    EmployeeFactory(tenant=tenant, username="manager", access_groups=[stronger])
    client.force_login(tenant_admin)
    refused = client.post("/admin/accounts/signinprovider/add/", provider_form())
    assert refused.status_code == 200
    assert "can sign in as any employee" in refused.content.decode()
    assert not SignInProvider.objects.exists()


def test_nobody_maps_a_provider_group_to_access_beyond_their_own(tenant, tenant_admin, client):
    mine = AccessGroupFactory(tenant=tenant, name="readers", scopes=["customer.customer_read"])
    beyond = AccessGroupFactory(tenant=tenant, name="managers", scopes=["customer.customer_manage"])
    client.force_login(tenant_admin)
    refused = client.post(
        "/admin/accounts/providergroup/add/", {"name": "Sales", "access_group": beyond.pk}
    )
    assert refused.status_code == 200 and "beyond your own" in refused.content.decode()
    assert not ProviderGroup.objects.exists()
    mapped = client.post(
        "/admin/accounts/providergroup/add/", {"name": "Sales", "access_group": mine.pk}
    )
    assert mapped.status_code == 302
    assert ProviderGroup.objects.get().access_group == mine
    assert AccessChange.objects.filter(
        subject_kind="access_group", subject_name="readers", after={"provider group": "Sales"}
    ).exists()


def test_the_mapping_page_offers_only_the_tenants_groups(
    tenant, other_tenant, tenant_admin, client
):
    AccessGroupFactory(tenant=other_tenant, name="elsewhere")
    AccessGroupFactory(tenant=tenant, name="here")
    client.force_login(tenant_admin)
    page = client.get("/admin/accounts/providergroup/add/").content.decode()
    assert "here" in page and "elsewhere" not in page


def test_password_sign_in_is_refused_where_the_provider_is_required(tenant, client):
    SignInProvider.objects.create(
        tenant=tenant,
        name="Okta",
        issuer="https://acme.okta.example",
        client_id="c",
        client_secret="s",
        required=True,
    )
    EmployeeFactory(tenant=tenant, username="pat")
    # (a sign-in has no principal: nothing is bound, as in production; tests start bound to all)
    rowsecurity.stand(rowsecurity.NOTHING)
    try:
        refused = client.post(
            "/admin/login/?next=/admin/", {"username": "pat", "password": PASSWORD}
        )
        page = refused.content.decode()
        assert refused.status_code == 200
        assert "sign in through Okta" in page and "/sso/acme/" in page
        wrong = client.post("/admin/login/?next=/admin/", {"username": "pat", "password": "wrong"})
        assert "Okta" not in wrong.content.decode().split("Company sign-in")[0]
        token = APIClient().post(
            "/oauth/token",
            urlencode({"grant_type": "password", "username": "pat", "password": PASSWORD}),
            content_type="application/x-www-form-urlencoded",
        )
        assert token.status_code == 400
        assert "sign in through Okta" in token.json()["error_description"]
    finally:
        rowsecurity.stand(rowsecurity.ALL_TENANTS)


def test_the_sign_in_page_leads_to_the_tenants_provider(tenant, client):
    login_page = client.get("/admin/login/").content.decode()
    assert 'action="/sso/"' in login_page
    nothing = client.get("/sso/", {"tenant": "acme"}).content.decode()
    assert "no sign-in through an identity provider" in nothing
    SignInProvider.objects.create(
        tenant=tenant, name="Okta", issuer="https://x.example", client_id="c", client_secret="s"
    )
    assert client.get("/sso/", {"tenant": "acme"})["Location"] == "/sso/acme/"
    page = client.get("/sso/acme/").content.decode()
    assert "Sign in with Okta" in page and "/sso/acme/start" in page


def provisioning_token(client, api_client) -> str:
    """The back office's action on ``api_client``; the token its message shows once."""
    answer = client.post(
        "/admin/accounts/apiclient/",
        {"action": "provisioning_token", "_selected_action": [api_client.pk]},
        follow=True,
    )
    messages = [str(m) for m in answer.context["messages"]]
    shown = [m for m in messages if "shown only this once" in m]
    assert shown, messages
    return shown[0].rsplit(": ", 1)[1]


def test_a_provisioning_token_serves_scim_only_for_a_year_until_the_secret_turns(
    tenant, employee, client
):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tokens import verify_token
    from tests.factories import ApiClientFactory

    admin = employee(
        "provisioning-admin",
        (["tenant.tenant_manage", "iam.scim_manage", "customer.customer_read"], []),
    )
    scim_client = ApiClientFactory(
        tenant=tenant, scopes=["iam.scim_manage", "customer.customer_read"]
    )
    client.force_login(admin)
    token = provisioning_token(client, scim_client)
    claims = verify_token(token)
    assert claims.use == "scim"
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert http.get("/scim/v2/acme/Users").status_code == 200
    refused = http.get("/customer/acme/customers")
    assert refused.status_code == 403
    assert "SCIM endpoints only" in refused.json()["message"]
    change = AccessChange.objects.get(subject_id=scim_client.client_id, action="changed")
    year = (timezone.now() + timedelta(days=365)).strftime("%Y-%m-%d")
    assert change.after == {"provisioning token": f"issued, valid until {year}"}
    # Rotating the secret revokes it.
    client.post(
        "/admin/accounts/apiclient/",
        {"action": "rotate_secret", "_selected_action": [scim_client.pk]},
    )
    assert http.get("/scim/v2/acme/Users").status_code == 401


def test_no_provisioning_token_for_a_client_without_the_scope_or_beyond_ones_own(
    tenant, employee, client
):
    from tests.factories import ApiClientFactory

    admin = employee(
        "limited-admin",
        (["tenant.tenant_manage", "iam.scim_manage", "customer.customer_read"], []),
    )
    plain = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read--DE"])
    stronger = ApiClientFactory(
        tenant=tenant, scopes=["iam.scim_manage", "customer.customer_manage"]
    )
    client.force_login(admin)
    for api_client, why in [(plain, "not an active client holding"), (stronger, "beyond your own")]:
        answer = client.post(
            "/admin/accounts/apiclient/",
            {"action": "provisioning_token", "_selected_action": [api_client.pk]},
            follow=True,
        )
        messages = " ".join(str(m) for m in answer.context["messages"])
        assert why in messages and "shown only this once" not in messages
    assert not AccessChange.objects.filter(action="changed", subject_kind="api_client").exists()


def test_a_mapping_saved_unchanged_records_nothing_and_a_moved_one_records_both_sides(
    tenant, tenant_admin, client
):
    first = AccessGroupFactory(tenant=tenant, name="first", scopes=["customer.customer_read"])
    second = AccessGroupFactory(tenant=tenant, name="second", scopes=["customer.customer_read"])
    client.force_login(tenant_admin)
    client.post("/admin/accounts/providergroup/add/", {"name": "Sales", "access_group": first.pk})
    mapping = ProviderGroup.objects.get()
    page = f"/admin/accounts/providergroup/{mapping.pk}/change/"
    before = AccessChange.objects.count()
    assert client.post(page, {"name": "Sales", "access_group": first.pk}).status_code == 302
    assert AccessChange.objects.count() == before
    assert client.post(page, {"name": "Sales", "access_group": second.pk}).status_code == 302
    moved = AccessChange.objects.order_by("pk")[before:]
    assert [(c.subject_name, c.before, c.after) for c in moved] == [
        ("first", {"provider group": "Sales"}, {}),
        ("second", {}, {"provider group": "Sales"}),
    ]
