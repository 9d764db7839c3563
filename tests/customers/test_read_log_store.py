"""Where the read-access log's lines live and how long: each line carries the day its tenant's
retention ends; on PostgreSQL a read writes into the unindexed inbox, the worker files lines
into monthly partitions (same lines, once each, visible all along), and the daily upkeep drops
a month whose lines are all past (the partition goes; no line is deleted one by one)."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection

from accounts import rowsecurity
from customers import read_log, read_log_store
from customers.models import CustomerView
from tests.conftest import READER
from tests.threads import at_once

pytestmark = pytest.mark.django_db
CUSTOMERS = "/customer/acme/customers"
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the log is partitioned on PostgreSQL only"
)


def lines() -> list[tuple[str, bool]]:
    return sorted(CustomerView.objects.values_list("customer_number", "filed"))


def where(ids: list[int]) -> dict[int, str]:
    """The physical table each line is in (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, tableoid::regclass::text FROM customers_customerview WHERE id = ANY(%s)",
            [ids],
        )
        return dict(cursor.fetchall())


def test_a_line_is_kept_for_its_tenants_retention_from_the_day_it_was_read(world, api_as, tenant):
    tenant.read_log_days = 90
    tenant.save()
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    line = CustomerView.objects.get()
    assert line.keep_until == line.viewed_at.date() + datetime.timedelta(days=90)


def test_a_changed_retention_applies_to_reads_within_a_minute(world, api_as, tenant, monkeypatch):
    """(Each process reads the tenant's settings at most once a minute.)"""
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    tenant.read_log_days = 31
    tenant.save()
    clock = read_log.time.monotonic() + read_log._SETTINGS_SECONDS  # (the minute has passed)
    monkeypatch.setattr(read_log.time, "monotonic", lambda: clock)
    api_as(*READER).get(f"{CUSTOMERS}/FR1")
    kept = dict(CustomerView.objects.values_list("customer_number", "keep_until"))
    assert (kept["DE1"] - kept["FR1"]).days == 730 - 31


@postgresql_only
def test_a_read_writes_into_the_inbox_and_filing_moves_the_same_lines_once(world, api_as):
    http = api_as(*READER)
    http.get(CUSTOMERS)
    ids = list(CustomerView.objects.values_list("pk", flat=True))
    assert set(where(ids).values()) == {"customers_customerview_inbox"}
    assert lines() == [("DE1", False), ("FR1", False), ("NULL1", False), ("US1", False)]

    assert read_log_store.file_inbox() == 4
    assert read_log_store.file_inbox() == 0
    assert sorted(CustomerView.objects.values_list("pk", flat=True)) == sorted(ids)
    assert set(where(ids).values()) == {"customers_customerview_filed_default"}
    assert lines() == [("DE1", True), ("FR1", True), ("NULL1", True), ("US1", True)]


@postgresql_only
def test_filing_takes_a_backlog_in_batches_without_a_join_whatever_the_statistics(
    world, api_as, monkeypatch
):
    """The inbox's statistics are of an emptier moment (here: analysed empty, then a backlog of
    a worker that was down): a batch is taken by one scan with a bound, never joined back to
    the unindexed inbox line by line (that plan was quadratic in the backlog)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {read_log_store.INBOX}")
    http = api_as(*READER)
    for _ in range(30):
        http.get(CUSTOMERS)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {read_log_store._FILE}", [read_log_store.FILE_BATCH - 1])
        plan = "\n".join(row for (row,) in cursor.fetchall())
    assert "Nested Loop" not in plan and "Join" not in plan, plan
    monkeypatch.setattr(read_log_store, "FILE_BATCH", 50)  # (batches of 50, 50 and 20)
    assert read_log_store.file_inbox() == 120
    assert CustomerView.objects.filter(filed=True).count() == 120


def test_every_line_waiting_or_filed_is_in_the_audit_answers(world, api_as):
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    read_log_store.file_inbox()
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    auditor = api_as("audit.audit_read")
    answer = auditor.get(f"{CUSTOMERS}/DE1/views")
    assert answer.status_code == 200
    assert len(answer.json()) == 2


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_filings_at_once_move_each_line_once(world, api_as, monkeypatch):
    monkeypatch.setattr(read_log, "file_soon", lambda: None)  # (no filing after each read)
    http = api_as(*READER)
    for _ in range(20):
        http.get(CUSTOMERS)
    assert CustomerView.objects.filter(filed=False).count() == 80
    results = at_once(read_log_store.file_inbox, read_log_store.file_inbox)
    assert sum(results) == 80
    assert CustomerView.objects.count() == 80
    assert CustomerView.objects.filter(filed=True).count() == 80


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_worker_is_asked_to_file_after_a_read(world, api_as, monkeypatch):
    """(Tasks run at once in the tests: the line is filed when the read commits.)"""
    monkeypatch.setattr(read_log, "_next_filing", 0.0)  # (as in a process that just started)
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    assert lines() == [("DE1", True)]


def months(name_prefix: str = "customers_customerview_filed_2") -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE %s AND relkind = 'r' ORDER BY 1",
            [f"{name_prefix}%"],
        )
        return [name for (name,) in cursor.fetchall()]


@pytest.fixture
def drop_months():
    """The upkeep's partitions outlive a test's transaction: dropped after it."""
    yield
    if connection.vendor == "postgresql":
        from core import roles

        with roles.as_database_owner(), connection.cursor() as cursor:
            for name in months():
                cursor.execute(f"DROP TABLE {name}")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_upkeep_drops_a_month_whose_lines_are_past_and_keeps_the_rest(
    world, api_as, tenant, other_tenant, drop_months
):
    tenant.read_log_days = 30
    tenant.save()
    other_tenant.read_log_days = 400
    other_tenant.save()
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    api_as(*READER, on_tenant=other_tenant).get("/customer/globex/customers/OT-DE1")
    today = datetime.date.today()

    kept = read_log_store.keep(today)
    assert (kept.rehomed, kept.dropped, kept.deleted) == (2, [], 0)
    short = read_log_store.partition_name((today + datetime.timedelta(days=30)).replace(day=1))
    long = read_log_store.partition_name((today + datetime.timedelta(days=400)).replace(day=1))
    assert {short, long} <= set(months())
    # Every month from the shortest retention's to the longest's, and two more, is made ahead.
    first, last = (today + datetime.timedelta(days=days) for days in (30, 400))
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    assert len(months()) == span + read_log_store.MONTHS_AHEAD
    ids = list(CustomerView.objects.values_list("pk", flat=True))
    assert set(where(ids).values()) == {short, long}

    later = (today + datetime.timedelta(days=30)).replace(day=28) + datetime.timedelta(days=10)
    kept = read_log_store.keep(later)
    assert short in kept.dropped and long not in kept.dropped
    assert kept.deleted == 0  # (the partition went whole)
    assert short not in months()
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS, reason="the test"):
        assert list(CustomerView.objects.values_list("customer_number", flat=True)) == ["OT-DE1"]

    again = read_log_store.keep(later)
    assert (again.made, again.dropped, again.rehomed, again.deleted) == ([], [], 0, 0)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_lines_of_a_month_without_partition_wait_in_the_default_and_past_ones_go(
    world, api_as, drop_months
):
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    read_log_store.file_inbox()
    far = datetime.date.today() + datetime.timedelta(days=800)
    kept = read_log_store.keep(far)  # (the line's day has passed before its month was made)
    assert kept.deleted == 1
    assert CustomerView.objects.count() == 0


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite's log is one table")
@pytest.mark.django_db(transaction=True)
def test_on_sqlite_the_upkeep_deletes_the_past_lines(world, api_as, tenant, other_tenant):
    tenant.read_log_days = 30
    tenant.save()
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    api_as(*READER, on_tenant=other_tenant).get("/customer/globex/customers/OT-DE1")
    kept = read_log_store.keep(datetime.date.today() + datetime.timedelta(days=31))
    assert kept.deleted == 1
    assert list(CustomerView.objects.values_list("customer_number", flat=True)) == ["OT-DE1"]


@pytest.mark.django_db(transaction=True)
def test_the_daily_command_says_what_it_did(world, api_as, capsys, drop_months):
    api_as(*READER).get(CUSTOMERS)
    call_command("keep_read_log")
    out = capsys.readouterr().out
    assert out.startswith("shipped=0 filed=") and "dropped=0" in out and "deleted=0" in out
    assert CustomerView.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_the_daily_upkeep_ships_the_journal_files_of_processes_gone(
    world, settings, tmp_path, drop_months
):
    from tests.customers.test_read_log_journal import entry, write_orphan

    settings.READ_LOG_JOURNAL = str(tmp_path)
    write_orphan(tmp_path, [entry(world["DE1"].tenant_id, "DE1")])
    kept = read_log_store.keep()
    assert str(kept).startswith("shipped=1 ")
    # (shipped into the inbox on PostgreSQL; filed by then, by the task its shipment asked for
    # or by the upkeep itself)
    assert list(CustomerView.objects.values_list("customer_number", "filed")) == [("DE1", True)]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_service_reaches_the_lines_only_through_the_log_and_its_policies(
    world, api_as, drop_months, monkeypatch
):
    """A part named directly (the inbox, the filed lines, a month) has row security without
    policies: the service's raw SQL sees and changes nothing there, whatever context it binds."""
    from django.db import DatabaseError, transaction

    monkeypatch.setattr(read_log, "file_soon", lambda: None)
    api_as(*READER).get(f"{CUSTOMERS}/DE1")  # (waits in the inbox)
    api_as(*READER).get(f"{CUSTOMERS}/FR1")
    read_log_store.file_inbox()
    read_log_store.keep()  # (FR1's line moves into its month)
    api_as(*READER).get(f"{CUSTOMERS}/US1")  # (waits in the inbox)
    month = read_log_store.partition_name(
        CustomerView.objects.get(customer_number="FR1").keep_until.replace(day=1)
    )
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS, reason="the test"):
        assert CustomerView.objects.count() == 3  # (through the log: every line)
        for part in ("inbox", "filed", "filed_default"):
            table = f"customers_customerview_{part}"
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
                assert cursor.fetchone() == (0,), table
                cursor.execute(f"UPDATE {table} SET purpose = 'x'")  # noqa: S608
                assert cursor.rowcount == 0, table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {month}")  # noqa: S608
            assert cursor.fetchone() == (0,)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO customers_customerview_inbox (id, tenant_id, customer_number, "
                "viewed_at, actor_kind, actor_id, actor_name, channel, how, expanded, purpose, "
                "keep_until, filed) VALUES (-1, %s, 'DE1', now(), 'employee', '1', 'x', 'api', "
                "'get', '', '', current_date, false)",
                [world["DE1"].tenant_id],
            )
    assert CustomerView.objects.filter(purpose="x").count() == 0


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_upkeeps_at_once_make_each_month_once(world, api_as, drop_months):
    api_as(*READER).get(CUSTOMERS)
    results = at_once(read_log_store.keep, read_log_store.keep)
    made = [name for kept in results for name in kept.made]
    assert sorted(made) == months()  # (every month made, each by one of the two)
    assert sum(kept.rehomed for kept in results) == 4  # (each line moved once, by either)
    assert CustomerView.objects.count() == 4


def test_each_line_is_kept_for_its_own_tenants_retention(world, client, tenant, other_tenant):
    """A platform superuser's customer list serves several tenants at once."""
    from tests.factories import EmployeeFactory

    tenant.read_log_days = 40
    tenant.save()
    other_tenant.read_log_days = 400
    other_tenant.save()
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True, username="root"))
    assert client.get("/admin/customers/customer/").status_code == 200
    kept = {
        line.tenant_id: (line.keep_until - line.viewed_at.date()).days
        for line in CustomerView.objects.all()
    }
    assert kept == {tenant.pk: 40, other_tenant.pk: 400}


def test_a_read_looks_its_tenants_settings_up_once_a_minute(world, api_as, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    def settings_read(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert http.get(path).status_code == 200
        return sum("read_log_days" in query["sql"] for query in captured)

    http = api_as(*READER)
    assert settings_read(f"{CUSTOMERS}/DE1") == 1
    assert settings_read(CUSTOMERS) == 0
    clock = read_log.time.monotonic() + read_log._SETTINGS_SECONDS
    monkeypatch.setattr(read_log.time, "monotonic", lambda: clock)
    assert settings_read(CUSTOMERS) == 1


def test_a_number_made_before_numbers_were_checked_is_logged_whole(world, api_as, tenant):
    """The log writes a page's numbers as one string split at spaces; a number with a space
    (never valid, but rows older than the check may have one) is written line by line."""
    from tests.factories import CustomerFactory

    CustomerFactory(tenant=tenant, customer_number="OLD 7")
    assert api_as(*READER).get(CUSTOMERS).status_code == 200
    assert {number for number, _ in lines()} == {"DE1", "FR1", "US1", "NULL1", "OLD 7"}
