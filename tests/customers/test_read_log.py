"""The read-access log: every customer served to a caller is in it once per read (who, when,
through which door, how, with the purpose the caller gave); what was not served is not; the
audit API and its scopes; the log is append-only under row security."""

import datetime

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from accounts import rowsecurity
from customers.models import Customer, CustomerView
from tests.conftest import MANAGER, READER

pytestmark = pytest.mark.django_db
CUSTOMERS = "/customer/acme/customers"
VIEWS = "/iam/acme/views"
AUDITOR = ("audit.audit_read",)


def reads_since(mark: int) -> list[tuple[str, str, str]]:
    rows = CustomerView.objects.filter(pk__gt=mark).order_by("customer_number")
    return list(rows.values_list("customer_number", "how", "channel"))


def last_pk() -> int:
    return CustomerView.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_every_api_read_logs_each_served_customer_exactly_once(world, api_as):
    http = api_as(*READER, *MANAGER)
    address = world["NULL1"].addresses.get().address_id
    reads = [
        ("list", lambda: http.get(CUSTOMERS), ["DE1", "FR1", "NULL1", "US1"]),
        (
            "search",
            lambda: http.post(f"{CUSTOMERS}/search", {"q": "restriction:(DE,FR)"}, format="json"),
            None,
        ),
        ("get", lambda: http.get(f"{CUSTOMERS}/DE1?expand=addresses,accounts"), ["DE1"]),
        (
            "change",
            lambda: http.patch(f"{CUSTOMERS}/FR1", {"contactPhone": "+33 1"}, format="json"),
            ["FR1"],
        ),
        ("addresses", lambda: http.get(f"{CUSTOMERS}/US1/addresses"), ["US1"]),
        ("addresses", lambda: http.get(f"{CUSTOMERS}/NULL1/addresses/{address}"), ["NULL1"]),
    ]
    for how, read, expected in reads:
        mark = last_pk()
        response = read()
        assert response.status_code == 200, (how, response.content)
        expected = expected or ["DE1", "FR1"]
        assert reads_since(mark) == [(number, how, "api") for number in expected], how
    row = CustomerView.objects.filter(how="get").get()
    assert (row.actor_kind, row.actor_id) == ("api_client", http.api_client.client_id)
    assert row.expanded == "accounts addresses" and row.tenant_id == world["DE1"].tenant_id


def test_a_page_logs_only_what_it_served(world, api_as):
    """A restricted reader's list: its customers only; a page of two: those two; the next
    page the rest."""
    mark = last_pk()
    api_as("customer.customer_read--DE").get(CUSTOMERS)
    assert [number for number, _, _ in reads_since(mark)] == ["DE1"]
    http = api_as(*READER)
    mark = last_pk()
    first = http.get(f"{CUSTOMERS}?pageSize=2")
    assert sorted(c["id"] for c in first.json()) == [n for n, _, _ in reads_since(mark)]


def test_what_is_not_served_is_not_logged(world, api_as):
    http = api_as("customer.customer_read--DE", "customer.customer_manage--DE")
    mark = last_pk()
    assert http.get(f"{CUSTOMERS}/FR1").status_code == 404  # not covered: like a missing one
    assert http.get(f"{CUSTOMERS}/NOPE").status_code == 404
    assert http.get(f"{CUSTOMERS}/FR1/addresses").status_code == 404
    assert (
        http.put(f"{CUSTOMERS}/DE1", {"lastName": "Neu"}, format="json").status_code == 204
    )  # no document
    assert http.post(f"{CUSTOMERS}/search", {"q": "lastName:Nobody"}, format="json").json() == []
    assert reads_since(mark) == []


def test_the_purpose_header_is_kept_and_a_bad_one_refused_before_anything_happens(world, api_as):
    http = api_as(*READER, *MANAGER)
    http.get(f"{CUSTOMERS}/DE1", HTTP_X_PURPOSE="  Ticket 4711: address check ")
    assert CustomerView.objects.get(customer_number="DE1").purpose == "Ticket 4711: address check"
    mark = last_pk()
    for purpose, message in [
        ("x" * 201, "The purpose is at most 200 characters (201 given)."),
        ("line\u0007bell", "The purpose cannot contain control characters."),
    ]:
        refused = http.patch(
            f"{CUSTOMERS}/FR1", {"lastName": "Changed"}, format="json", HTTP_X_PURPOSE=purpose
        )
        assert refused.status_code == 400
        assert refused.json()["message"] == message
    assert Customer.objects.get(customer_number="FR1").last_name == "LastFR1"  # not applied
    assert reads_since(mark) == []


def test_the_back_office_logs_its_customer_page_and_the_rows_of_its_list(world, client, tenant):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    group = AccessGroupFactory(
        tenant=tenant, scopes=["customer.customer_read"], restrictions=["DE", "FR"]
    )
    agent = EmployeeFactory(tenant=tenant, username="agent", access_groups=[group])
    client.force_login(agent)
    mark = last_pk()
    assert client.get("/admin/customers/customer/").status_code == 200
    assert reads_since(mark) == [("DE1", "admin_list", "admin"), ("FR1", "admin_list", "admin")]
    mark = last_pk()
    page = client.get(f"/admin/customers/customer/{world['DE1'].pk}/change/")
    assert page.status_code == 200
    assert reads_since(mark) == [("DE1", "admin_page", "admin")]
    row = CustomerView.objects.get(pk__gt=mark)
    assert (row.actor_kind, row.actor_name) == ("employee", "agent")
    mark = last_pk()
    hidden = client.get(f"/admin/customers/customer/{world['US1'].pk}/change/", follow=True)
    assert "US1" not in hidden.content.decode() and reads_since(mark) == []


def test_the_audit_api_answers_who_read_a_customer_and_what_an_identity_read(world, api_as):
    reader = api_as(*READER)
    reader.get(CUSTOMERS)
    reader.get(f"{CUSTOMERS}/DE1", HTTP_X_PURPOSE="Complaint 12")
    auditor = api_as(*AUDITOR)
    views = auditor.get(f"{CUSTOMERS}/DE1/views")
    assert views.status_code == 200
    assert [(v["how"], v["purpose"]) for v in views.json()] == [
        ("get", "Complaint 12"),
        ("list", ""),
    ]
    assert views.json()[0]["actor"] == {
        "kind": "api_client",
        "id": reader.api_client.client_id,
        "name": reader.api_client.name,
    }
    mine = auditor.get(f"{VIEWS}?actor={reader.api_client.client_id}&how=list")
    assert sorted(v["customerNumber"] for v in mine.json()) == ["DE1", "FR1", "NULL1", "US1"]
    page = auditor.get(f"{VIEWS}?pageSize=2")
    assert page.json() and page["Link"]
    bad = auditor.get(f"{VIEWS}?how=peek")
    assert bad.status_code == 400 and "get (read by number)" in bad.json()["message"]


def test_a_suffixed_auditor_sees_reads_of_the_customers_it_covers_and_404_elsewhere(world, api_as):
    api_as(*READER).get(CUSTOMERS)
    de = api_as("audit.audit_read--DE")
    assert {v["customerNumber"] for v in de.get(VIEWS).json()} == {"DE1"}
    assert de.get(f"{CUSTOMERS}/FR1/views").status_code == 404
    assert de.get(f"{CUSTOMERS}/DE1/views").status_code == 200
    assert de.get(f"{VIEWS}?customerNumber=FR1").json() == []  # a filter on hidden rows
    assert api_as(*READER).get(VIEWS).status_code == 403  # reading customers is not auditing


def test_another_tenants_reads_are_never_listed(world, api_as, other_tenant):
    api_as(*READER, on_tenant=other_tenant).get("/customer/globex/customers")
    assert CustomerView.objects.filter(customer_number="OT-DE1").exists()
    auditor = api_as(*AUDITOR)
    assert all(v["customerNumber"] != "OT-DE1" for v in auditor.get(VIEWS).json())
    assert auditor.get(f"{CUSTOMERS}/OT-DE1/views").status_code == 404


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row security is PostgreSQL's")
def test_the_log_is_append_only_and_tenant_bound_under_row_security(world, api_as, tenant):
    api_as(*READER).get(CUSTOMERS)
    tenant_only = rowsecurity.RowContext.whole_tenant(tenant.pk)
    with rowsecurity.row_context(tenant_only, reason="the test"):
        assert CustomerView.objects.count() == 4
        for attempt in (
            lambda: CustomerView.objects.update(purpose="rewritten"),
            lambda: CustomerView.objects.all().delete()[0],
        ):
            with transaction.atomic():
                assert attempt() == 0  # (the policies hide every row from the change)
        with pytest.raises(DatabaseError), transaction.atomic():
            CustomerView.objects.create(
                tenant_id=world["OT-DE1"].tenant_id,
                customer_number="OT-DE1",
                actor_kind="employee",
                actor_id="1",
                channel="api",
                how="get",
                keep_until=datetime.date.today(),
            )
    assert set(CustomerView.objects.values_list("purpose", flat=True)) == {""}


@pytest.fixture
def office(tenant):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    def employee(username, scopes, restrictions=()):
        group = AccessGroupFactory(
            tenant=tenant, name=username, scopes=scopes, restrictions=list(restrictions)
        )
        return EmployeeFactory(tenant=tenant, username=username, access_groups=[group])

    return {
        "auditor": employee("auditor", ["customer.customer_read", "audit.audit_read"]),
        "de_auditor": employee(
            "de_auditor", ["customer.customer_read", "audit.audit_read"], ["DE"]
        ),
        "agent": employee("agent", ["customer.customer_read"]),
    }


CHANGELIST = "/admin/customers/customerview/"


def test_the_back_office_shows_who_viewed_a_customer_to_auditors_only(world, client, office):
    import csv
    import io

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    client.force_login(office["agent"])
    page = client.get(f"/admin/customers/customer/{world['DE1'].pk}/change/").content.decode()
    assert "Who viewed it?" not in page
    assert client.get(CHANGELIST).status_code == 403
    client.force_login(office["auditor"])
    page = client.get(f"/admin/customers/customer/{world['DE1'].pk}/change/").content.decode()
    assert f'{CHANGELIST}?customer_number=DE1" id="who-viewed-link"' in page
    reads = client.get(f"{CHANGELIST}?customer_number=DE1")
    assert reads.status_code == 200
    shown = list(reads.context["cl"].result_list)
    assert [(v.actor_name, v.how) for v in shown] == [
        ("auditor", "admin_page"),
        ("agent", "admin_page"),
    ]
    download = client.post(
        f"{CHANGELIST}?customer_number=DE1",
        {"action": "download_csv", "select_across": "1", ACTION_CHECKBOX_NAME: [str(shown[0].pk)]},
    )
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert [row["by"] for row in rows] == ["auditor", "agent"]
    assert rows[0]["how"] == "customer page" and rows[0]["channel"] == "back office"


def test_a_suffixed_auditor_sees_reads_of_its_customers_only(world, client, office, api_as):
    api_as(*READER).get(CUSTOMERS, HTTP_X_PURPOSE='=HYPERLINK("http://evil.example")')
    client.force_login(office["de_auditor"])
    listed = {v.customer_number for v in client.get(CHANGELIST).context["cl"].result_list}
    assert listed == {"DE1"}
    assert list(client.get(f"{CHANGELIST}?customer_number=FR1").context["cl"].result_list) == []


def test_the_csv_writes_no_formula(world, client, office, api_as):
    import csv
    import io

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    api_as(*READER).get(f"{CUSTOMERS}/DE1", HTTP_X_PURPOSE='=HYPERLINK("http://evil.example")')
    client.force_login(office["auditor"])
    view = CustomerView.objects.get(customer_number="DE1")
    download = client.post(
        CHANGELIST, {"action": "download_csv", ACTION_CHECKBOX_NAME: [str(view.pk)]}
    )
    (row,) = csv.DictReader(io.StringIO(download.content.decode()))
    assert row["purpose"] == '\'=HYPERLINK("http://evil.example")'


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("journal", [False, True], ids=["written-by-the-read", "journal"])
def test_every_answered_read_is_logged_though_the_server_is_killed_right_after(
    world, tmp_path, settings, journal
):
    """gunicorn, SIGKILLed (master and workers) the moment the last answer arrives: every
    customer of every answer is in the log, exactly once. With the journal, what its workers
    had not shipped yet is shipped by whoever comes next (here ``ship_read_log``)."""
    import json
    import urllib.parse
    import urllib.request

    from tests.factories import ApiClientFactory
    from tests.processes import fetch, kill_server, production_server

    client = ApiClientFactory(tenant=world["DE1"].tenant, scopes=list(READER), secret="s3cret")
    served = []
    journal = {"READ_LOG_JOURNAL": str(tmp_path / "journal")} if journal else {}
    with production_server(tmp_path, **journal) as (base, _log):
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": "s3cret",
            }
        ).encode()
        request = urllib.request.Request(f"{base}/oauth/token", data=form)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            token = json.load(answer)["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for path in ["?pageSize=2", "/DE1", "/FR1", "?pageSize=3&pageNumber=2", "/US1"] * 4:
            status, _, body = fetch(f"{base}{CUSTOMERS}{path}", headers)
            assert status == 200, body
            document = json.loads(body)
            served += (
                [c["id"] for c in document] if isinstance(document, list) else [document["id"]]
            )
        kill_server(base)
    if journal:
        import pathlib

        left = pathlib.Path(journal["READ_LOG_JOURNAL"])
        assert list(left.glob("*.journal"))  # (the killed workers' files: the journal was used)
        wait_until_unlocked(left.glob("*.journal"))  # (SIGKILL takes a moment to land)
        settings.READ_LOG_JOURNAL = str(left)
        call_command("ship_read_log")
        assert not [path for path in left.iterdir() if path.stat().st_size]
    logged = CustomerView.objects.filter(actor_id=client.client_id)
    assert sorted(logged.values_list("customer_number", flat=True)) == sorted(served)


def wait_until_unlocked(paths, seconds: float = 10.0) -> None:
    """Until no process holds a lock on any of ``paths`` (they have all exited)."""
    import fcntl
    import os
    import time

    deadline = time.monotonic() + seconds
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, f"{path} is still locked"
                    time.sleep(0.05)
        finally:
            os.close(fd)


def test_a_deleted_tenant_takes_its_log_lines_along(world, api_as, other_tenant):
    """(The log has no foreign-key constraint in the database: Django's cascade removes them.)"""
    api_as(*READER, on_tenant=other_tenant).get("/customer/globex/customers")
    api_as(*READER).get(CUSTOMERS)
    other_tenant.delete()
    assert set(CustomerView.objects.values_list("customer_number", flat=True)) == {
        "DE1",
        "FR1",
        "US1",
        "NULL1",
    }


def test_a_head_request_is_answered_and_logged_as_the_get_it_runs(world, api_as):
    http = api_as(*READER)
    mark = last_pk()
    assert http.head(f"{CUSTOMERS}/DE1").status_code == 200
    assert http.head(f"{CUSTOMERS}/US1/addresses").status_code == 200
    assert reads_since(mark) == [("DE1", "get", "api"), ("US1", "addresses", "api")]
