"""Numbers and times as staff read them: thousands separated, durations in words, a window's
end with its day when it is not today, break-glass said once."""

from datetime import timedelta

import pytest

from customers.models import Customer
from tests.factories import AccessGroupFactory, CustomerFactory, EmployeeFactory, themselves

pytestmark = pytest.mark.django_db


def test_a_search_counts_with_thousands_separated():
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    cl = SimpleNamespace(
        search_fields=["name"], query="x", search_help_text="", result_count=6032,
        full_result_count=6001, show_full_result_count=True, is_popup=False, add_facets=False,
        params={},
    )  # fmt: skip
    shown = render_to_string("admin/search_form.html", {"cl": cl, "show_result_count": True})
    assert "6,032 results" in shown and "6,001 total" in shown


def test_a_list_counts_with_thousands_separated(client, tenant):
    Customer.objects.bulk_create(CustomerFactory.build_batch(1001, tenant=tenant))
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True, username="root"))
    page = client.get("/admin/customers/customer/").content.decode()
    assert "1,001 customers" in page and "1001 customers" not in page


def test_requests_say_how_long_in_words_and_break_glass_once(client, tenant):
    from accounts.services.temporary_access import access_request_create
    from core.channels import Channel

    admins = AccessGroupFactory(
        tenant=tenant, scopes=["tenant.tenant_manage", "customer.customer_read"]
    )
    boss = EmployeeFactory(tenant=tenant, username="boss", access_groups=[admins])
    agent = EmployeeFactory(tenant=tenant, username="agent")
    emergency = AccessGroupFactory(tenant=tenant, name="incident", break_glass=True)
    for group, hours, break_glass in ((admins, 4, False), (emergency, 1, True)):
        access_request_create(
            actor=themselves(agent),
            channel=Channel.ADMIN,
            group=group,
            duration=timedelta(hours=hours),
            reason="cover",
            break_glass=break_glass,
        )
    client.force_login(boss)
    page = client.get("/admin/accounts/accessrequest/").content.decode()
    rows = page.split('id="result_list"')[1].split("</table>")[0]
    assert "4 h" in rows and "4:00:00" not in page
    assert "BREAK-GLASS</strong> activated" in rows
    assert "activated (break-glass)" not in rows
