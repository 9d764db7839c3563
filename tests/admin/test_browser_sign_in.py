"""Company sign-in in a real browser: the back office's sign-in page, the real identity
provider's login page (oidc-provider), back to the back office with the mapped access groups,
seeing only the customers they cover."""

import re

import pytest

from accounts.models import ProviderGroup, SignInProvider
from tests.admin.test_browser import shot
from tests.factories import AccessGroupFactory, CustomerFactory
from tests.identity_provider import identity_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_employee_signs_in_through_the_provider_and_sees_what_the_groups_cover(
    browser, live_server, tenant, tmp_path
):
    readers = AccessGroupFactory(
        tenant=tenant, name="de-readers", scopes=["customer.customer_read"], restrictions=["DE"]
    )
    ProviderGroup.objects.create(tenant=tenant, name="Sales DE", access_group=readers)
    CustomerFactory(tenant=tenant, restriction="DE", last_name="Deutschmann")
    CustomerFactory(tenant=tenant, restriction="FR", last_name="Français")
    callback = f"{live_server.url}/sso/acme/callback"
    with identity_provider(tmp_path, [callback]) as provider:
        SignInProvider.objects.create(
            tenant=tenant,
            name="Test IdP",
            issuer=provider.issuer,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            create_employees=True,
        )
        context = browser.new_context(base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/admin/login/")
        page.fill("#id_sso_tenant", "acme")
        page.click("#company-sign-in input[type=submit]")
        page.click("text=Sign in with Test IdP")
        # The provider's own login page.
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/interaction/"))
        page.fill("input[name=login]", "anna")
        page.fill("input[name=password]", "anything")
        shot(page, "sso-provider-login")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/admin/$"))
        access = page.inner_text("#your-access")
        assert "de-readers" in access and "customer.customer_read--DE" in access
        shot(page, "sso-signed-in")
        page.goto("/admin/customers/customer/")
        listing = page.inner_text("#result_list")
        assert "Deutschmann" in listing and "Français" not in listing
        context.close()
