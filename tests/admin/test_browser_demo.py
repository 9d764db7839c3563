"""The README's back-office demo path in a real browser, on a fresh `make run` (its own SQLite
file, its own port, its task worker printing the e-mails): the US customers moved to DE, the
waiting request approved, a break-glass activation (and its e-mail), the demo review decided by
`admin` and `admin2` until it closes, its report downloaded; then `make demo-reset`."""

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.admin.test_browser import shot
from tests.processes import ROOT, fetch, free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]
README = (ROOT / "README.md").read_text()
DEMO_CUSTOMERS = 300
CUSTOMERS = f"DEMO_CUSTOMERS={DEMO_CUSTOMERS}"


@dataclass
class Demo:
    base: str
    log: Path
    env: dict[str, str]
    port: int

    def make(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            ["make", "--no-print-directory", *arguments, f"PORT={self.port}", CUSTOMERS],  # noqa: S607
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def printed(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`make run` as a newcomer starts it: nothing set but the port (and a database file of its
    own, the embedded default), stopped with its worker at the end."""
    directory = tmp_path_factory.mktemp("make-run")
    port = free_port()
    inherited = ("DATABASE_", "REDIS_URL", "BACK_OFFICE_URL", "EMAIL_", "DEBUG")
    env = {name: value for name, value in os.environ.items() if not name.startswith(inherited)}
    env["DATABASE_URL"] = f"sqlite:///{directory / 'demo.sqlite3'}"
    log = directory / "make-run.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603
            ["make", "--no-print-directory", "run", f"PORT={port}", CUSTOMERS],  # noqa: S607
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its server, reloader and worker stop with it
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if fetch(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield Demo(base, log, env, port)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def page(browser, demo):
    context = browser.new_context(
        base_url=demo.base, viewport={"width": 1400, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, demo: Demo, username: str):
    """With the password `make run` printed for the login."""
    password = re.search(rf"^ +{username} +/ (\S+)", demo.printed(), re.MULTILINE)
    page.context.clear_cookies()
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password.group(1))
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def count(page, url: str) -> int:
    """The number of customers the list says it holds ("1,234 customers")."""
    page.goto(url)
    text = page.locator(".paginator").inner_text()
    return int(re.search(r"([\d,]+) customers?", text).group(1).replace(",", ""))


def from_home(page, name: str):
    """A page as the README names it: the link of that name on the back office's home page."""
    page.goto("/admin/")
    page.locator("#content-main").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def message(page) -> str:
    return page.locator(".messagelist").inner_text()


def run_action(page, action: str):
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_load_state()


def wait_for_printed(demo, text: str, timeout: float = 30) -> str:
    """What the task worker printed once ``text`` is in it (e-mails go to its console)."""
    deadline = time.monotonic() + timeout
    while text not in (printed := demo.printed()):
        assert time.monotonic() < deadline, f"{text!r} never printed:\n{printed[-3000:]}"
        time.sleep(0.5)
    return printed


def decide_my_lines(page, review_link: str, reviewer: str, decision: str) -> str:
    """On the review's lines, the reviewer's own (the filter by reviewer), all ticked."""
    page.goto(review_link)
    page.click("text=Decide the lines")
    page.wait_for_load_state()
    reviewers = page.locator("#changelist-filter details", has_text="reviewer")
    reviewers.get_by_role("link", name=reviewer, exact=True).click()
    page.wait_for_load_state()
    page.check("#action-toggle")
    run_action(page, decision)
    return message(page)


def test_the_readmes_back_office_demo_path_on_a_fresh_make_run(page, demo):
    for said in (
        "filter *restriction: US*",
        "**Assign restriction…** → DE",
        "**Access requests** holds `fr_agent`'s request",
        "*incident-response* can be activated at once",
        "as `admin` and then as `admin2`",
    ):
        assert said in README, said

    # 1. As admin: the US customers move to DE, and de_agent sees them.
    sign_in(page, demo, "admin")
    us = count(page, "/admin/customers/customer/?restriction=US")
    de = count(page, "/admin/customers/customer/?restriction=DE")
    assert us > 0
    page.goto("/admin/customers/customer/?restriction=US")
    page.check("#action-toggle")
    assert us > 50  # more than the page holds: "Select all" across pages, as the README says
    page.locator("div.actions .question a").click()
    page.select_option("select[name=action]", "assign_restriction")
    page.click("button[name=index]")
    page.select_option("select[name=restriction]", "DE")
    page.click("#preview-assign")
    page.click("#confirm-assign")
    page.wait_for_url(re.compile(r"/admin/customers/customer/"))
    assert f"{us:,} changed" in message(page)
    sign_in(page, demo, "de_agent")
    assert count(page, "/admin/customers/customer/") == de + us

    # 2. As admin: fr_agent's waiting request approved; the grant shows its time left.
    sign_in(page, demo, "admin")
    from_home(page, "Access requests")
    row = page.locator("#result_list tbody tr", has_text="fr_agent").filter(has_text="pending")
    row.locator("input.action-select").check()
    run_action(page, "approve")
    assert "Approved 1 request." in message(page)
    from_home(page, "Temporary grants")
    grants = page.locator("#result_list").inner_text()
    assert "fr_agent" in grants and "left" in grants
    wait_for_printed(demo, "Your request for group de-agents was approved")

    # 3. As fr_agent: DE customers readable now; break-glass into incident-response.
    sign_in(page, demo, "fr_agent")
    assert count(page, "/admin/customers/customer/?restriction=DE") == de + us
    page.goto("/admin/accounts/accessrequest/add/")
    option = page.locator("#id_group option", has_text="incident-response")
    assert "emergency self-activation (break-glass)" in option.inner_text()
    page.select_option("#id_group", value=option.get_attribute("value"))
    page.fill("#id_hours", "1")
    page.fill("#id_reason", "Payment outage: checking US customers")
    page.check("#id_activate_now")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/accounts/accessrequest/$"))
    assert "Emergency access to group incident-response is active until" in message(page)
    printed = wait_for_printed(demo, "BREAK-GLASS: fr_agent activated group incident-response")
    assert f"Details: {demo.base}/admin/accounts/accessrequest/" in printed  # the serving port
    shot(page, "40-demo-break-glass")

    # 4. As admin: the activation waits on the home page; acknowledged there.
    sign_in(page, demo, "admin")
    notice = page.locator("#break-glass")
    assert "fr_agent" in notice.inner_text()
    notice.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state()
    assert page.locator("#break-glass").count() == 0

    # 5. The demo review: admin decides theirs, then admin2; it closes with the last line.
    from_home(page, "Access reviews")
    page.click('#result_list a:has-text("Demo access review")')
    page.wait_for_load_state()
    review_link = page.url
    assert "closes by itself when its last line is decided" in page.content()
    kept = decide_my_lines(page, review_link, "admin", "keep")
    assert re.search(r"Kept \d+ lines?\.", kept) and "review is closed" not in kept
    sign_in(page, demo, "admin2")
    closing = decide_my_lines(page, review_link, "admin2", "keep")
    assert "Every line is decided: the review is closed and its report is final." in closing
    page.goto(review_link)
    assert "Decide the lines" not in page.locator(".submit-row").inner_text()
    assert page.locator(".field-status .readonly").inner_text() == "Closed"
    shot(page, "41-demo-review-closed")

    # ... and its report, as CSV and as JSON.
    with page.expect_download() as csv_download:
        page.click("text=Report (CSV)")
    with open(csv_download.value.path(), encoding="utf-8") as downloaded:
        rows = list(csv.DictReader(io.StringIO(downloaded.read())))
    assert rows and {row["decision"] for row in rows} == {"keep"}
    decided_by = {row["identity"]: row["decided_by"] for row in rows}
    assert decided_by["admin"] == "admin2" and decided_by["admin2"] == "admin"
    with page.expect_download() as json_download:
        page.click("text=Report (JSON)")
    with open(json_download.value.path(), encoding="utf-8") as downloaded:
        report = json.load(downloaded)
    assert report["status"] == "closed" and len(report["lines"]) == len(rows)

    # 6. make demo-reset: the customers seeded again, the closed review and the log kept.
    reset = demo.make("demo-reset")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert f"Demo reset: {DEMO_CUSTOMERS:,} customers removed." in reset.stdout
    assert "Open access review" not in reset.stdout  # (the demo's was closed: none is open)
    assert count(page, "/admin/customers/customer/?restriction=US") > 0
    page.goto(review_link)
    assert page.locator(".field-status .readonly").inner_text() == "Closed"
