"""Access over time in a real browser: an employee asks, an administrator approves; a review
is started, a line revoked, the report downloaded."""

import csv
import io
import re

import pytest

from accounts.models import AccessRequest, AccessReview, AccessReviewLine
from tests.admin.test_browser import login, shot
from tests.factories import AccessGroupFactory, EmployeeFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN_SCOPES = ["customer.customer_read", "customer.customer_manage", "tenant.tenant_manage"]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def people(tenant):
    admins = AccessGroupFactory(tenant=tenant, name="admins", scopes=ADMIN_SCOPES)
    de = AccessGroupFactory(
        tenant=tenant, name="DE readers", scopes=["customer.customer_read"], restrictions=["DE"]
    )
    fr = AccessGroupFactory(
        tenant=tenant, name="FR readers", scopes=["customer.customer_read"], restrictions=["FR"]
    )
    return {
        "admin": EmployeeFactory(tenant=tenant, username="tadmin", access_groups=[admins]),
        "agent": EmployeeFactory(tenant=tenant, username="agent", access_groups=[de]),
        "fr": fr,
    }


def run_action(page, action: str):
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_load_state()


def test_an_employee_asks_and_the_administrator_approves(page, people, world):
    login(page, "agent")
    page.goto("/admin/accounts/accessrequest/add/")
    page.select_option("#id_group", label="FR readers: customer.customer_read for FR")
    page.fill("#id_hours", "2")
    page.fill("#id_reason", "Covering the French desk today")
    shot(page, "30-request-form")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/accounts/accessrequest/$"))
    assert (
        "waits for a tenant administrator's decision" in page.locator(".messagelist").inner_text()
    )
    assert page.locator("#result_list tbody tr").count() == 1
    page.goto("/admin/customers/customer/")
    assert "FR1" not in page.locator("#result_list").inner_text()
    page.click("text=Log out")

    login(page, "tadmin")
    page.goto("/admin/accounts/accessrequest/?status=pending")
    row = page.locator("#result_list tbody tr", has_text="Covering the French desk")
    row.locator("input.action-select").check()
    shot(page, "31-requests-pending")
    run_action(page, "approve")
    assert "Approved 1 request." in page.locator(".messagelist").inner_text()
    assert AccessRequest.objects.get().status == "approved"
    page.goto("/admin/accounts/temporarygrant/")
    listed = page.locator("#result_list").inner_text()
    assert "agent" in listed and "group FR readers" in listed and "left" in listed
    shot(page, "32-temporary-grants")
    page.click("text=Log out")

    login(page, "agent")
    page.goto("/admin/customers/customer/")
    assert "FR1" in page.locator("#result_list").inner_text()


def test_a_review_is_started_a_line_revoked_and_the_report_downloaded(page, people, world):
    login(page, "tadmin")
    page.goto("/admin/accounts/accessreview/add/")
    page.fill("#id_name", "Browser review")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/accounts/accessreview/$"))
    review = AccessReview.objects.get(name="Browser review")
    assert "0 of 2" in page.locator("#result_list").inner_text()
    page.click('#result_list a:has-text("Browser review")')
    page.click("text=Decide the lines")
    page.wait_for_load_state()
    shot(page, "33-review-lines")
    # At 1,400 px what a reviewer acts on is in view, not behind a horizontal scroll.
    for column in ("decision_shown", "decided_by_name", "outcome"):
        box = page.locator(f"#result_list th.column-{column}").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1400, (column, box)
    row = page.locator("#result_list tbody tr", has_text="agent")
    row.locator("input.action-select").check()
    run_action(page, "revoke")
    assert "Revoked 1 line: the access is gone now." in page.locator(".messagelist").inner_text()
    assert not people["agent"].access_groups.exists()
    line = AccessReviewLine.objects.get(review=review, subject_name="agent")
    assert line.decision == "revoke"
    shot(page, "34-review-line-revoked")

    page.goto(f"/admin/accounts/accessreview/{review.pk}/change/")
    with page.expect_download() as download_info:
        page.click("text=Report (CSV)")
    report = download_info.value
    assert report.suggested_filename == f"access-review-{review.pk}.csv"
    with open(report.path(), encoding="utf-8") as downloaded:
        rows = list(csv.DictReader(io.StringIO(downloaded.read())))
    agent_row = next(row for row in rows if row["identity"] == "agent")
    assert agent_row["decision"] == "revoke" and agent_row["decided_by"] == "tadmin"
    assert agent_row["what_changed"] == "removed from group DE readers"
