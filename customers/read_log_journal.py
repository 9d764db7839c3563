"""The read-access log's journal: where the lines of a read wait, on the server's own disk,
until they are shipped into the log.

With ``READ_LOG_JOURNAL`` set (a directory on the server's local disk), :func:`append` writes
an answer's lines to this process's journal file and flushes them to the disk (``fdatasync``)
before the answer leaves: a read that was answered is on disk, whatever happens to the process
afterwards. A thread of the same process ships them into the log every second, a batch per
statement. A read then costs its request one local write and one flush instead of a database
round trip, a row per customer served and the flush of the database's write-ahead log.

Each process writes one file at a time and starts a new one every second; the file written
until then is shipped whole and deleted, so lines (their purposes are personal data) stay on
the disk for a second or two. A process holds a lock on its file for as long as it lives; a file
whose lock is free lost its process, and is shipped by another process of the server (within
``ADOPT_EVERY_SECONDS``), by ``manage.py ship_read_log`` and by the daily ``keep_read_log``.
How much of each file is in the log is kept in the database
(:class:`~customers.models.JournalMark`) and moved forward in the transaction that ships the
lines: a line is shipped once, however often shipping is interrupted.

While shipping, the lines of a customer erased since its read lose their purpose, and the lines
of a tenant deleted since are left out. An erasure and a shipment take the same lock
(:func:`hold_shipping`): whichever comes second sees what the first wrote.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime
from pathlib import Path

import orjson
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils.dateparse import parse_datetime

from accounts import rowsecurity
from core.errors import Unavailable
from customers.models import CustomerErasure, JournalMark
from tenancy.models import Tenant

logger = logging.getLogger(__name__)

SHIP_EVERY_SECONDS = 1.0
ADOPT_EVERY_SECONDS = 10.0
CHUNK_BYTES = 4 * 1024 * 1024  # read per shipping transaction (a larger line is read whole)
SUFFIX = ".journal"
MAKING = ".making"  # a file being made, before it is locked and named
MAKING_ABANDONED_SECONDS = 60
UNAVAILABLE = (
    "The read-access log cannot be written just now, so nothing was answered. Try again shortly."
)
# Taken by a shipment before it reads the erasures, and by an erasure before it blanks the
# log's purposes (PostgreSQL; SQLite runs one writer at a time).
_SHIPPING_LOCK = 7_265_616_476_108  # (any key no other lock of the service uses)

# Into the log's inbox on PostgreSQL, filed by the task worker as a read's own lines are
# (customers.read_log_store); SQLite's log is one table.
_INSERT = """
INSERT INTO customers_customerview (tenant_id, customer_number, viewed_at, actor_kind, actor_id,
  actor_name, channel, how, expanded, purpose, keep_until, filed)
SELECT lines.*, false FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[],
  %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::date[]) AS lines
"""
_INSERT_ONE = (
    "INSERT INTO customers_customerview (tenant_id, customer_number, viewed_at, actor_kind, "
    "actor_id, actor_name, channel, how, expanded, purpose, keep_until, filed) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)"
)
# The line's fields, in the order each entry lists them (customers.read_log's line).
LINE_FIELDS = ("actor_kind", "actor_id", "actor_name", "channel", "how", "expanded", "purpose")
_PURPOSE = 3 + LINE_FIELDS.index("purpose")  # its place in a row (tenant, number, at, line…)

# This process's file: written under the lock by every thread that answers reads.
_lock = threading.Lock()
_pid: int | None = None
_fd: int | None = None
_path: Path | None = None
_written = 0  # answers written by this process, in order (an answer's number: its ticket)
_shipper: threading.Thread | None = None
SHIP_IN_BACKGROUND = True  # (tests ship by hand)

# Flushing: inside a request (:func:`answer_waits_for_the_disk`) an answer's lines are flushed
# by this process's flusher thread while the request finishes its answer (rendering it,
# committing), and the answer waits for that flush before it leaves; anywhere else, at once.
_on_disk = threading.Condition()
_flushed = 0  # every answer up to this number is on the disk
_failed = 0  # every answer up to this number is refused: its flush failed
_wanted = 0  # the highest answer a request waits for
_flusher: threading.Thread | None = None
_request = threading.local()  # .waits: inside a request; .ticket: its last answer's number
FLUSH_WAIT_SECONDS = 10.0


def enabled() -> bool:
    return bool(settings.READ_LOG_JOURNAL)


def directory() -> Path:
    return Path(settings.READ_LOG_JOURNAL)


def append(viewed_at: datetime, line: dict, served: list[tuple[int, str, date]]) -> None:
    """Write one answer's lines (``served``: tenant, customer number, kept until) to this
    process's journal: on the disk when this returns, or, inside a request, before its answer
    leaves. :class:`Unavailable` when they cannot be."""
    global _written
    entry = {
        "at": viewed_at.isoformat(),
        "line": [line[name] for name in LINE_FIELDS],
        "served": [[tenant_id, number, kept.isoformat()] for tenant_id, number, kept in served],
    }
    data = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
    in_request = getattr(_request, "waits", False)
    try:
        with _lock:
            fd = _own_file()
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            _written += 1
            ticket = _written
            if not in_request:
                _flush(fd, ticket)
    except OSError as error:
        logger.error("the read log's journal cannot be written: %s", error)
        raise Unavailable(UNAVAILABLE, type="unavailable") from error
    if in_request:
        _request.ticket = ticket
        _flush_soon(ticket)
    if SHIP_IN_BACKGROUND and (_shipper is None or not _shipper.is_alive()):
        _start_shipping()


@contextmanager
def answer_waits_for_the_disk() -> Iterator[None]:
    """Around a request: the lines its answers wrote are flushed while it finishes, and this
    waits for the flush before the answer may leave (:class:`Unavailable` when it failed)."""
    _request.waits, _request.ticket = True, 0
    try:
        yield
    finally:
        ticket, _request.waits, _request.ticket = _request.ticket, False, 0
    if ticket:
        _wait_for_the_disk(ticket)


def _flushed_up_to(ticket: int) -> None:
    global _flushed
    with _on_disk:
        _flushed = max(_flushed, ticket)
        _on_disk.notify_all()


def _flush_soon(ticket: int) -> None:
    global _wanted, _flusher
    with _on_disk:
        _wanted = max(_wanted, ticket)
        _on_disk.notify_all()
        if _flusher is None or not _flusher.is_alive():
            _flusher = threading.Thread(target=_flush_forever, name="read-log-flush", daemon=True)
            _flusher.start()


def _flush_forever() -> None:
    while True:
        with _on_disk:
            while _wanted <= max(_flushed, _failed):
                _on_disk.wait()
        # (a copy of the descriptor: the file may be retired meanwhile, flushed as it goes)
        with _lock:
            ticket = _written
            if _fd is None:  # (closed, and flushed as it was: close)
                continue
            fd = os.dup(_fd)
        try:
            _flush(fd, ticket)
        except OSError:
            pass  # (its answers are refused)
        finally:
            os.close(fd)


def _flush(fd: int, ticket: int) -> None:
    """Flush ``fd``, which holds every answer up to ``ticket``: they may leave, or, when it
    fails, none of them may (a later flush does not make up for a failed one)."""
    global _failed
    try:
        os.fdatasync(fd)
    except OSError as error:
        logger.error("the read log's journal cannot be flushed: %s", error)
        with _on_disk:
            _failed = max(_failed, ticket)
            _on_disk.notify_all()
        raise
    _flushed_up_to(ticket)


def _wait_for_the_disk(ticket: int) -> None:
    deadline = time.monotonic() + FLUSH_WAIT_SECONDS
    with _on_disk:
        while ticket > _flushed and ticket > _failed:
            left = deadline - time.monotonic()
            if left <= 0:
                logger.error("the read log's journal was not flushed in time")
                raise Unavailable(UNAVAILABLE, type="unavailable")
            _on_disk.wait(left)
        if ticket <= _failed:  # (whatever was flushed after)
            raise Unavailable(UNAVAILABLE, type="unavailable")


def _own_file() -> int:
    """This process's open file (made at its first read; a forked child makes its own)."""
    global _pid, _fd, _path, _shipper, _flusher
    if _pid != os.getpid():
        if _fd is not None:
            os.close(_fd)  # (the parent's: its lock stays with the parent)
        _pid, _fd, _path, _shipper, _flusher = os.getpid(), None, None, None, None
    if _fd is None:
        _fd, _path = _make_file(directory())
    return _fd


def _make_file(folder: Path) -> tuple[int, Path]:
    """A new file, locked before it has its name: no one adopts it while it is being made."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{socket.gethostname()}.{os.getpid()}.{time.time_ns()}"
    making = folder / f"{name}{MAKING}"
    fd = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    path = folder / f"{name}{SUFFIX}"
    os.rename(making, path)
    return fd, path


def close() -> None:
    """Let this process's file go (unshipped lines stay in it, for whoever adopts it)."""
    global _fd, _path
    with _lock:
        if _fd is not None and _pid == os.getpid():
            with suppress(OSError):  # (its answers are refused)
                _flush(_fd, _written)
            os.close(_fd)
            _fd, _path = None, None


def _start_shipping() -> None:
    global _shipper
    with _lock:
        if _shipper is not None and _shipper.is_alive():
            return
        _shipper = threading.Thread(target=_ship_forever, name="read-log-shipper", daemon=True)
        _shipper.start()


def _ship_forever() -> None:
    adopted = time.monotonic()
    while True:
        time.sleep(SHIP_EVERY_SECONDS)
        close_old_connections()
        try:
            ship_own()
            if time.monotonic() - adopted >= ADOPT_EVERY_SECONDS:
                adopted = time.monotonic()
                ship_orphans()
        except Exception:  # (the lines wait on the disk; the next round tries again)
            logger.exception("shipping the read log's journal failed; trying again")
            connection.close()


def ship_own() -> int:
    """Start a new file for this process and ship the one written until now, whole; returns the
    lines shipped."""
    global _fd, _path
    with _lock:
        if _pid != os.getpid() or _fd is None or os.fstat(_fd).st_size == 0:
            return 0
        retired_fd, retired = _fd, _path
        _flush(retired_fd, _written)  # (its answers may be waiting for it)
        _fd, _path = _make_file(retired.parent)
    try:
        return _ship_whole(retired)
    finally:
        os.close(retired_fd)  # (shipped and gone; or adopted later, its lock now free)


def ship_orphans() -> int:
    """Ship every file in the directory whose process is gone; returns the lines shipped."""
    if not enabled() or not directory().is_dir():
        return 0
    shipped = 0
    for path in sorted(directory().iterdir()):
        if path.suffix not in (SUFFIX, MAKING):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # (shipped by another process meanwhile)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive and writes it
            if not path.exists():
                continue  # (shipped by the process that held it before us)
            if path.suffix == MAKING:
                # (empty: its process died while making it; a young one may be locked yet)
                if time.time() - os.fstat(fd).st_mtime > MAKING_ABANDONED_SECONDS:
                    path.unlink()
            else:
                shipped += _ship_whole(path)
        finally:
            os.close(fd)
    _forget_marks_of_missing_files()
    return shipped


def ship_all() -> int:
    """This process's lines and every orphan's (``ship_read_log``, ``keep_read_log``)."""
    if not enabled():
        return 0
    return ship_own() + ship_orphans()


def hold_shipping() -> None:
    """Inside a transaction: shipments wait for it to end (PostgreSQL; an erasure)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SHIPPING_LOCK])


def _ship_whole(path: Path) -> int:
    """Ship what is left of a file no one writes any more, then delete it. A last line without
    its end was cut short while being written: its read was never answered."""
    JournalMark.objects.get_or_create(file=path.name)
    shipped = 0
    while True:
        count, finished = _ship_chunk(path)
        shipped += count
        if finished:
            break
    path.unlink(missing_ok=True)
    JournalMark.objects.filter(file=path.name).delete()
    return shipped


def _ship_chunk(path: Path) -> tuple[int, bool]:
    """One transaction: the next complete lines of ``path`` into the log, and its mark past
    them. Returns (lines shipped, whether the file's end was reached)."""
    with (
        transaction.atomic(using="default"),
        rowsecurity.row_context(
            rowsecurity.ALL_TENANTS, reason="shipping the read log's journal", using="default"
        ),
    ):
        # (the first statement writes: the mark's row is locked, on SQLite the database)
        JournalMark.objects.filter(file=path.name).update(shipped=F("shipped"))
        start = JournalMark.objects.values_list("shipped", flat=True).get(file=path.name)
        with path.open("rb") as file:
            file.seek(start)
            data = file.read(CHUNK_BYTES)
            if len(data) == CHUNK_BYTES and b"\n" not in data:
                data += file.read()  # (one line longer than a chunk)
            at_end = not file.read(1)
        end = data.rfind(b"\n") + 1
        if not end:
            return 0, at_end
        hold_shipping()
        rows = _rows(data[:end])
        if rows:
            _insert(rows)
            from customers.read_log import file_soon  # (which imports this module)

            file_soon()
        JournalMark.objects.filter(file=path.name).update(shipped=start + end)
    return len(rows), at_end and end == len(data)


def _rows(data: bytes) -> list[list]:
    """The log's rows of the entries in ``data``: without the tenants deleted since, and
    without the purpose of the customers erased since."""
    rows = []
    for text in data.splitlines():
        entry = json.loads(text)
        at = entry["at"]
        for tenant_id, number, kept in entry["served"]:
            rows.append([tenant_id, number, at, *entry["line"], kept])
    tenants = {row[0] for row in rows}
    living = set(Tenant.objects.filter(pk__in=tenants).values_list("pk", flat=True))
    rows = [row for row in rows if row[0] in living]
    purposed = [row for row in rows if row[_PURPOSE]]
    if purposed:
        erased = set(
            CustomerErasure.objects.filter(
                tenant_id__in={row[0] for row in purposed},
                customer_number__in={row[1] for row in purposed},
            ).values_list("tenant_id", "customer_number")
        )
        for row in purposed:
            if (row[0], row[1]) in erased:
                row[_PURPOSE] = ""
    return rows


def _insert(rows: list[list]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_INSERT, [list(column) for column in zip(*rows, strict=True)])
        else:
            cursor.executemany(
                _INSERT_ONE,
                [
                    [*row[:2], parse_datetime(row[2]), *row[3:-1], date.fromisoformat(row[-1])]
                    for row in rows
                ],
            )


def _forget_marks_of_missing_files() -> None:
    """Marks of this server's files that are gone (a process died between deleting a shipped
    file and its mark). Only marks read before the directory was: a file named later may
    have a mark by now, and its shipment goes on."""
    mine = JournalMark.objects.filter(file__startswith=f"{socket.gethostname()}.")
    marks = dict(mine.values_list("file", "pk"))
    folder = directory()
    present = {path.name for path in folder.iterdir()} if folder.is_dir() else set()
    gone = [pk for file, pk in marks.items() if file not in present]
    if gone:
        JournalMark.objects.filter(pk__in=gone).delete()
