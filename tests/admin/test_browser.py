"""The back office in a real browser: Debian's Chromium driven by Playwright against a live
server. Screenshots of each key page land in artifacts/screenshots/ (git-ignored)."""

import re
import subprocess
from pathlib import Path

import pytest

from customers.models import Customer, RestrictionChange
from tests.factories import CustomerFactory, EmployeeFactory
from tests.processes import environment, manage

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct-horse-battery"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def login(page, username):
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def listed(page):
    return set(page.locator("#result_list th.field-customer_number a").all_inner_texts())


@pytest.fixture
def more_de(world, tenant):
    for number in ("DE2", "DE3"):
        CustomerFactory(
            tenant=tenant, customer_number=number, restriction="DE", last_name=f"Last{number}"
        )


def test_de_agent_sees_exactly_the_de_customers_and_nothing_else(page, de_agent, world, more_de):
    login(page, "de_agent")
    page.goto("/admin/customers/customer/")
    assert listed(page) == {"DE1", "DE2", "DE3"}
    assert "3 customers" in page.locator(".paginator").inner_text()
    shot(page, "01-de-agent-changelist")

    page.fill("#searchbar", "fr1@example.com")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    assert listed(page) == set()
    assert "0 customers" in page.locator(".paginator").inner_text()
    shot(page, "02-de-agent-search-fr-email")

    response = page.goto(f"/admin/customers/customer/{world['FR1'].pk}/change/")
    assert response.status == 404
    shot(page, "03-de-agent-fr-change-url-404")


def test_restriction_field_is_read_only_for_the_de_agent(page, de_agent, world):
    login(page, "de_agent")
    page.goto(f"/admin/customers/customer/{world['DE1'].pk}/change/")
    assert page.locator("select[name=restriction]").count() == 0
    assert page.locator(".field-restriction .readonly").inner_text() == "DE"
    shot(page, "04-de-agent-restriction-read-only")


def test_restriction_choice_offers_only_de_with_restriction_manage_de(
    page, de_restriction_agent, world
):
    login(page, "de_boss")
    page.goto(f"/admin/customers/customer/{world['DE1'].pk}/change/")
    options = page.locator("select[name=restriction] option").all_inner_texts()
    assert options == ["DE"]
    shot(page, "05-restriction-choice-de-only")


def test_bulk_assign_confirms_moves_and_records_history(page, restriction_manager, world, more_de):
    login(page, "mover")
    page.goto("/admin/customers/customer/?o=1")
    for number in ("DE1", "DE2", "FR1", "NULL1"):
        row = page.locator("#result_list tr", has=page.locator(f"a:text-is('{number}')"))
        row.locator("input.action-select").check()
    page.select_option("select[name=action]", "assign_restriction")
    page.click("button[name=index]")
    page.select_option("select[name=restriction]", "US")
    page.click("#preview-assign")
    assert page.locator("#target").inner_text() == "US"
    rows = {
        tuple(cells.locator("td").all_inner_texts()[::2])
        for cells in page.locator("#moves tbody tr").all()
    }
    assert rows == {("DE", "2"), ("FR", "1"), ("— none —", "1")}
    shot(page, "06-bulk-assign-confirmation")
    page.click("#confirm-assign")
    page.wait_for_url(re.compile(r"/admin/customers/customer/"))
    assert "4 changed" in page.locator(".messagelist").inner_text()
    shot(page, "07-bulk-assign-done")

    assert set(
        Customer.objects.filter(restriction="US").values_list("customer_number", flat=True)
    ) == {"US1", "DE1", "DE2", "FR1", "NULL1"}
    assert RestrictionChange.objects.filter(channel="admin").count() == 4
    page.goto(f"/admin/customers/customer/{world['DE1'].pk}/change/")
    history = page.locator("#restriction_changes-group").inner_text()
    assert "From DE to US, by mover (employee), in the back office" in history
    shot(page, "08-restriction-history")


def test_superuser_sees_every_tenants_customers(page, world):
    EmployeeFactory(tenant=None, is_superuser=True, username="root")
    login(page, "root")
    page.goto("/admin/customers/customer/")
    assert listed(page) == {"DE1", "FR1", "US1", "NULL1", "OT-DE1"}
    shot(page, "09-superuser-all-tenants")


def test_tenant_admin_cannot_grant_a_scope_they_lack(page, tenant_admin):
    login(page, "tadmin")
    page.goto("/admin/accounts/accessgroup/add/")
    page.fill("#id_name", "movers")
    page.fill("#id_scopes", "customer.customer_read restriction.restriction_manage")
    page.click("input[name=_save]")
    assert "beyond your own" in page.locator(".errorlist").first.inner_text()
    shot(page, "10-tenant-admin-escalation-refused")


def test_select_all_assign_becomes_a_job_and_shows_progress_to_completion(
    page, restriction_manager, tenant, settings
):
    from playwright.sync_api import expect

    CustomerFactory.create_batch(60, tenant=tenant, restriction="DE")
    settings.BULK_JOB_THRESHOLD = 20
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    login(page, "mover")
    page.goto("/admin/customers/customer/")
    page.check("#action-toggle")
    page.click(".actions .question a")  # "Select all 60 customers"
    page.select_option("select[name=action]", "assign_restriction")
    page.click("button[name=index]")
    page.select_option("select[name=restriction]", "FR")
    page.click("#preview-assign")
    notice = page.locator("#runs-as-job")
    assert notice.locator("strong").inner_text() == "This runs as a background job."
    # Said as loud as the rest of the page, not in the small grey print of a field's help.
    size = "e => parseFloat(getComputedStyle(e).fontSize)"
    assert notice.evaluate(size) >= page.locator("#unchanged").evaluate(size)
    assert page.locator("#moves .count").all_inner_texts() == ["60"]
    shot(page, "11-select-all-assign-as-a-job")
    page.click("#confirm-assign")
    message = page.locator(".messagelist").inner_text()
    assert "Started a background job for 60 customers" in message

    worker = manage(
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--interval",
        "0.1",
        "--batch",
        env=environment(
            TASKS_BACKEND="django_tasks_db.DatabaseBackend",
            BULK_JOB_BATCH_SIZE="5",
            BULK_JOB_BATCH_PAUSE="0.4",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page.click(".messagelist a")  # to the Jobs page, which refreshes itself while running
        status = page.locator("td.field-status")
        expect(status).to_have_text("Running", timeout=30_000)
        shot(page, "12-job-in-progress")
        expect(status).to_have_text("Succeeded", timeout=60_000)
        assert "60/60" in page.locator("td.field-progress").inner_text()
        assert "60 changed, 0 already had it" in page.locator("td.field-message").inner_text()
        shot(page, "13-job-done")
    finally:
        worker.wait(timeout=60)
    assert Customer.objects.filter(restriction="FR").count() == 60


def test_delete_asks_with_the_numbers_first(page, restriction_manager, world):
    login(page, "mover")
    page.goto("/admin/customers/customer/?o=1")
    for number in ("DE1", "FR1"):
        row = page.locator("#result_list tr", has=page.locator(f"a:text-is('{number}')"))
        row.locator("input.action-select").check()
    page.select_option("select[name=action]", "delete_selected_customers")
    page.click("button[name=index]")
    assert page.locator("h2").first.inner_text() == "Delete 2 customers?"
    assert page.locator("#delete-addresses").inner_text() == "2"
    assert page.locator("#delete-accounts").inner_text() == "2"
    shot(page, "14-delete-confirmation")
    page.click("#confirm-delete")
    assert page.locator(".messagelist").inner_text() == "Deleted 2 customers."
    assert not Customer.objects.filter(customer_number__in=["DE1", "FR1"]).exists()


def test_the_access_explainer_says_why(page, tenant_admin, de_agent, world):
    login(page, "tadmin")
    page.goto("/admin/customers/customer/")
    page.click("#explain-access-link")
    page.select_option("#id_identity", label=f"de_agent ({world['DE1'].tenant.code})")
    page.fill("#id_customer_number", "FR1")
    page.click("#explain")
    title = page.locator("#explanation-title").inner_text()
    assert title == "employee de_agent and customer FR1 (restriction FR)"
    read = page.locator("tr.verdict-read")
    assert read.locator(".answer").inner_text() == "no"
    assert "covers FR" in read.inner_text()
    shot(page, "15-access-explainer")


def test_the_customer_list_fits_a_1400_pixel_window(page, restriction_manager, tenant):
    """Every column visible without scrolling sideways, long names and e-mails included."""
    for index in range(3):
        CustomerFactory(
            tenant=tenant,
            customer_number=f"LONG-CUSTOMER-NUMBER-{index:04d}",
            first_name="Maximiliane-Josephine",
            last_name="Schwarzenberg-Hohenlohe",
            contact_email=f"maximiliane.josephine.schwarzenberg-hohenlohe{index}@example.com",
            restriction="DE",
        )
    login(page, "mover")
    page.goto("/admin/customers/customer/")
    overflow = page.evaluate(
        "() => { const box = document.querySelector('#changelist .results');"
        " return box.scrollWidth - box.clientWidth; }"
    )
    shot(page, "10-customer-list-1400px")
    assert overflow <= 0
