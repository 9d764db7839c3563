"""The read-access log's journal (READ_LOG_JOURNAL): a read's lines are on the server's disk
before the answer leaves, and in the log once shipped, each exactly once, whatever interrupts
the shipping; a process gone leaves its file to another; an erasure or a tenant's deletion
before shipping still applies; a journal that cannot be written answers 503 and nothing."""

import datetime
import json
import os

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from customers import read_log_journal
from customers.models import CustomerView, JournalMark
from tests.conftest import MANAGER, READER

pytestmark = pytest.mark.django_db
CUSTOMERS = "/customer/acme/customers"


@pytest.fixture
def journal(settings, tmp_path, monkeypatch):
    """The journal on, in a fresh directory; shipped by the test, not by a thread."""
    folder = tmp_path / "journal"
    settings.READ_LOG_JOURNAL = str(folder)
    monkeypatch.setattr(read_log_journal, "SHIP_IN_BACKGROUND", False)
    read_log_journal.close()
    yield folder
    read_log_journal.close()


TODAY = datetime.date.today()
LINE = {
    "actor_kind": "api_client",
    "actor_id": "cl_task",
    "actor_name": "A task",
    "channel": "api",
    "how": "get",
    "expanded": "",
    "purpose": "",
}


def logged() -> list[tuple[str, str, str]]:
    rows = CustomerView.objects.order_by("customer_number", "how")
    return list(rows.values_list("customer_number", "how", "channel"))


def waiting(folder) -> int:
    """Bytes of lines waiting in the journal's files."""
    return sum(path.stat().st_size for path in folder.iterdir())


def write_orphan(folder, entries: list[dict], tail: bytes = b"") -> os.PathLike:
    """A journal file left by a process that is gone (no one holds its lock)."""
    folder.mkdir(exist_ok=True)
    path = folder / f"elsewhere.4242.{datetime.datetime.now().timestamp():.0f}.journal"
    lines = b"".join(json.dumps(entry).encode() + b"\n" for entry in entries)
    path.write_bytes(lines + tail)
    return path


def entry(tenant_id: int, *numbers: str, purpose: str = "", at: str | None = None) -> dict:
    kept = (datetime.date.today() + datetime.timedelta(days=90)).isoformat()
    return {
        "at": at or timezone.now().isoformat(),
        "line": ["api_client", "cl_gone", "Gone client", "api", "get", "", purpose],
        "served": [[tenant_id, number, kept] for number in numbers],
    }


def test_each_read_is_on_the_disk_before_the_answer_and_in_the_log_once_shipped(
    world, api_as, client, journal, tenant
):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    http = api_as(*READER, *MANAGER)
    group = AccessGroupFactory(
        tenant=tenant, scopes=["customer.customer_read"], restrictions=["DE", "FR"]
    )
    client.force_login(EmployeeFactory(tenant=tenant, username="agent", access_groups=[group]))
    reads = [
        ("list", lambda: http.get(CUSTOMERS), ["DE1", "FR1", "NULL1", "US1"], "api"),
        (
            "search",
            lambda: http.post(f"{CUSTOMERS}/search", {"q": "restriction:(DE,FR)"}, format="json"),
            ["DE1", "FR1"],
            "api",
        ),
        ("get", lambda: http.get(f"{CUSTOMERS}/DE1?expand=addresses"), ["DE1"], "api"),
        ("addresses", lambda: http.get(f"{CUSTOMERS}/US1/addresses"), ["US1"], "api"),
        ("admin_list", lambda: client.get("/admin/customers/customer/"), ["DE1", "FR1"], "admin"),
        (
            "admin_page",
            lambda: client.get(f"/admin/customers/customer/{world['FR1'].pk}/change/"),
            ["FR1"],
            "admin",
        ),
    ]
    for how, read, expected, channel in reads:
        before = waiting(journal) if journal.exists() else 0
        assert read().status_code == 200, how
        assert waiting(journal) > before, how  # on the disk when the answer came
        assert logged() == [], how  # (not in the database yet)
        assert read_log_journal.ship_all() == len(expected), how
        assert logged() == [(number, how, channel) for number in expected], how
        assert read_log_journal.ship_all() == 0  # shipped once
        CustomerView.objects.all().delete()
    # Shipped files are gone, and their marks: what is left is the current, empty file.
    assert waiting(journal) == 0 and len(list(journal.iterdir())) == 1
    assert not JournalMark.objects.exists()


def test_a_line_keeps_who_when_how_and_the_purpose(world, api_as, journal):
    http = api_as(*READER)
    before = timezone.now()
    http.get(f"{CUSTOMERS}/DE1?expand=addresses", HTTP_X_PURPOSE="Ticket 4711")
    after = timezone.now()
    read_log_journal.ship_all()
    line = CustomerView.objects.get()
    assert (line.actor_kind, line.actor_id, line.purpose, line.expanded) == (
        "api_client",
        http.api_client.client_id,
        "Ticket 4711",
        "addresses",
    )
    assert before <= line.viewed_at <= after  # when it was read, not when it was shipped
    assert line.tenant_id == world["DE1"].tenant_id
    assert line.keep_until == timezone.localdate() + datetime.timedelta(
        days=world["DE1"].tenant.read_log_days
    )


def test_an_answer_leaves_only_once_its_lines_are_flushed(world, api_as, journal, monkeypatch):
    """Inside a request the flush runs beside the rest of the answer (the flusher thread), and
    the answer waits for it."""
    import threading
    import time

    flushed, fdatasync = [], os.fdatasync

    def slow_fdatasync(fd):
        time.sleep(0.3)
        fdatasync(fd)
        flushed.append(threading.current_thread().name)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    answer = api_as(*READER).get(f"{CUSTOMERS}/DE1")
    assert answer.status_code == 200
    assert flushed == ["read-log-flush"]  # done when the answer came, and not by the request


def test_outside_a_request_the_lines_are_flushed_before_the_call_returns(
    world, journal, monkeypatch
):
    """(A task or a command that serves customers: no request to finish meanwhile.)"""
    import threading

    flushed, fdatasync = [], os.fdatasync

    def noted_fdatasync(fd):
        fdatasync(fd)
        flushed.append(threading.current_thread().name)

    monkeypatch.setattr(os, "fdatasync", noted_fdatasync)
    read_log_journal.append(timezone.now(), LINE, [(world["DE1"].tenant_id, "DE1", TODAY)])
    assert flushed == [threading.current_thread().name]


@pytest.mark.server_error
def test_an_answer_whose_lines_cannot_be_flushed_is_refused(world, api_as, journal, monkeypatch):
    import errno

    fdatasync = os.fdatasync

    def failing_fdatasync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    http = api_as(*READER)
    refused = http.get(f"{CUSTOMERS}/DE1")
    assert refused.status_code == 503
    assert refused.json()["message"] == read_log_journal.UNAVAILABLE
    assert "FirstDE1" not in refused.content.decode()
    monkeypatch.setattr(os, "fdatasync", fdatasync)  # the disk is back
    assert http.get(f"{CUSTOMERS}/DE1").status_code == 200


def test_a_live_process_keeps_its_file_and_a_gone_one_leaves_it_to_another(world, api_as, journal):
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    assert read_log_journal.ship_orphans() == 0  # this process still writes it
    assert logged() == []
    read_log_journal.close()  # the process is gone; its file stays, unlocked
    (left,) = journal.iterdir()
    assert read_log_journal.ship_orphans() == 1
    assert logged() == [("DE1", "get", "api")]
    assert not left.exists() and not JournalMark.objects.exists()


def test_a_line_cut_short_was_never_answered_and_is_not_shipped(world, journal):
    tenant_id = world["DE1"].tenant_id
    path = write_orphan(journal, [entry(tenant_id, "DE1"), entry(tenant_id, "FR1")], b'{"at":')
    assert read_log_journal.ship_orphans() == 2
    assert [number for number, _, _ in logged()] == ["DE1", "FR1"]
    assert not path.exists()


def test_shipping_cut_off_halfway_ships_no_line_twice(world, journal, monkeypatch):
    tenant_id = world["DE1"].tenant_id
    numbers = [f"N{index}" for index in range(12)]
    path = write_orphan(journal, [entry(tenant_id, number) for number in numbers])
    monkeypatch.setattr(read_log_journal, "CHUNK_BYTES", 500)  # a few lines a transaction
    insert, calls = read_log_journal._insert, []

    def fails_the_third_time(rows):
        calls.append(len(rows))
        if len(calls) == 3:
            raise OSError("the database went away")
        insert(rows)

    monkeypatch.setattr(read_log_journal, "_insert", fails_the_third_time)
    with pytest.raises(OSError, match="went away"):
        read_log_journal.ship_orphans()
    shipped_before = CustomerView.objects.count()
    assert shipped_before == sum(calls[:2]) > 0
    assert path.exists() and JournalMark.objects.get().shipped > 0
    assert read_log_journal.ship_orphans() == len(numbers) - shipped_before
    assert sorted(n for n, _, _ in logged()) == sorted(numbers)  # each once
    assert not path.exists()


def test_a_file_shipped_whole_but_not_yet_deleted_is_not_shipped_again(world, journal):
    path = write_orphan(journal, [entry(world["DE1"].tenant_id, "DE1", "FR1")])
    JournalMark.objects.create(file=path.name)
    assert read_log_journal._ship_chunk(path) == (2, True)  # then the process died
    assert read_log_journal.ship_orphans() == 0
    assert len(logged()) == 2 and not path.exists()


def test_a_customer_erased_before_its_read_is_shipped_loses_the_purpose(world, api_as, journal):
    api_as(*READER).get(f"{CUSTOMERS}/DE1", HTTP_X_PURPOSE="Complaint by Quirinalis")
    api_as(*READER).get(f"{CUSTOMERS}/FR1", HTTP_X_PURPOSE="Complaint by Quirinalis")
    erased = api_as("customer.privacy_manage").post(
        f"{CUSTOMERS}/DE1/erasure", {"reason": "Art. 17"}, format="json"
    )
    assert erased.status_code == 200, erased.content
    read_log_journal.ship_all()
    purposes = dict(CustomerView.objects.values_list("customer_number", "purpose"))
    assert purposes == {"DE1": "", "FR1": "Complaint by Quirinalis"}
    assert waiting(journal) == 0  # and the files that held it are gone


def test_the_lines_of_a_tenant_deleted_before_shipping_are_left_out(
    world, api_as, journal, other_tenant
):
    api_as(*READER, on_tenant=other_tenant).get("/customer/globex/customers")
    api_as(*READER).get(f"{CUSTOMERS}/DE1")
    other_tenant.delete()
    read_log_journal.ship_all()
    assert logged() == [("DE1", "get", "api")]


@pytest.mark.server_error
def test_a_journal_that_cannot_be_written_answers_503_and_serves_nothing(
    world, api_as, settings, tmp_path
):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    settings.READ_LOG_JOURNAL = str(blocked / "journal")
    read_log_journal.close()
    try:
        answer = api_as(*READER).get(f"{CUSTOMERS}/DE1")
    finally:
        read_log_journal.close()
    assert answer.status_code == 503
    assert answer.json()["message"] == read_log_journal.UNAVAILABLE
    assert "DE1" not in answer.content.decode()


def test_the_command_ships_what_processes_gone_left(world, journal, capsys, settings):
    write_orphan(journal, [entry(world["DE1"].tenant_id, "DE1", "FR1")])
    call_command("ship_read_log")
    assert capsys.readouterr().out.strip() == "shipped=2"
    assert len(logged()) == 2
    settings.READ_LOG_JOURNAL = ""
    with pytest.raises(Exception, match="READ_LOG_JOURNAL is not set") as refused:
        call_command("ship_read_log")
    assert refused.value.returncode == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's advisory lock")
@pytest.mark.django_db(transaction=True)
def test_a_shipment_waits_for_an_erasure_in_progress(world, journal):
    """An erasure holds shipments off until it commits; the shipment then sees it."""
    import threading

    from django.db import connections, transaction

    write_orphan(journal, [entry(world["DE1"].tenant_id, "DE1", purpose="Quirinalis")])
    shipped = threading.Event()

    def ship():
        try:
            read_log_journal.ship_orphans()
            shipped.set()
        finally:
            connections.close_all()

    with transaction.atomic():
        read_log_journal.hold_shipping()  # (as the erasure's blanking does)
        from customers.models import CustomerErasure

        CustomerErasure.objects.create(
            tenant_id=world["DE1"].tenant_id,
            customer_number="DE1",
            actor_kind="employee",
            actor_id="1",
            channel="api",
            reason="Art. 17",
        )
        shipper = threading.Thread(target=ship)
        shipper.start()
        assert not shipped.wait(1.0)  # held off
    shipper.join(10)
    assert shipped.is_set()
    assert CustomerView.objects.get().purpose == ""


def test_a_file_abandoned_while_being_made_is_cleared_and_a_young_one_left(journal):
    """(A process locks its new file a moment after making it: not cleared in that moment.)"""
    import time

    journal.mkdir()
    young, old = journal / "elsewhere.1.1.making", journal / "elsewhere.2.2.making"
    young.touch()
    old.touch()
    long_ago = time.time() - read_log_journal.MAKING_ABANDONED_SECONDS - 1
    os.utime(old, (long_ago, long_ago))
    assert read_log_journal.ship_orphans() == 0
    assert young.exists() and not old.exists()
