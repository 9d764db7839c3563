"""A refusal in the back office is a page of the back office (header, reason, a way back)."""

import pytest

from tests.factories import employee_holding

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/admin/accounts/accesschange/", "/admin/accounts/apiclient/add/", "/admin/tenancy/tenant/"],
)
def test_a_staff_member_refused_a_page_reads_why_on_a_back_office_page(client, tenant, url):
    client.force_login(employee_holding(tenant, "customer.customer_read"))
    page = client.get(url)
    assert page.status_code == 403
    text = page.content.decode()
    assert 'id="site-name"' in text  # the back office's header
    assert "This page is not open to you" in text
    assert "Back to the start page" in text
