"""A throwaway scale-out stack on loopback: a PostgreSQL primary, a streaming replica of it
(``pg_basebackup -R``) and PgBouncer in transaction mode in front of the primary, each on a free
port, all under one directory.

    python tools/pg_stack.py start DIR [--pool-size 2] [--users postgres,...]
    python tools/pg_stack.py stop DIR

``start`` prints (and writes to ``DIR/stack.env``) the three URLs as shell assignments:
``STACK_PRIMARY_URL``, ``STACK_REPLICA_URL`` and ``STACK_POOLER_URL`` (database ``postgres``,
user ``postgres``, trust authentication on 127.0.0.1 only). ``stop`` stops whatever of the three
is running. The tests of the scale-out path (``tests/test_scale_out.py``) use it when
``STACK_PRIMARY_URL`` is set; ``.ci/run`` starts and stops it around the PostgreSQL stage.

PostgreSQL and PgBouncer refuse to run as root: run as root, the servers run as the
``postgres`` user (``runuser``), which then owns ``DIR``. Needs the PostgreSQL server binaries
(``initdb``, ``pg_ctl``, ``pg_basebackup``) and Debian's ``pgbouncer``.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

# The roles PgBouncer lets in (trust authentication still needs the names): the superuser and
# the roles tests/test_scale_out.py makes.
DEFAULT_USERS = ("postgres", "stack_owner", "stack_service")


def bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise SystemExit("pg_stack: no initdb found (install PostgreSQL's server binaries)")
    return Path(initdb).resolve().parent


def _version(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in Path(path).parts[4].split(".") if part.isdigit())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    """``command`` as the ``postgres`` user when this runs as root."""
    argv = [str(part) for part in command]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, check=True, **kwargs)  # noqa: S603 - fixed programs, our arguments


def url(port: int) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/postgres"


def wait_for(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"pg_stack: {what} did not start on port {port}")


def start(directory: Path, pool_size: int, users: list[str]) -> dict[str, str]:
    binaries = bindir()
    if shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists():
        raise SystemExit("pg_stack: pgbouncer is not installed (apt-get install pgbouncer)")
    directory.mkdir(parents=True, exist_ok=True)
    sockets = directory / "sockets"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
        shutil.chown(sockets, "postgres")
    primary, replica = directory / "primary", directory / "replica"
    primary_port, replica_port, pooler_port = free_port(), free_port(), free_port()
    common = f"-k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"

    quiet = {"stdout": subprocess.DEVNULL}
    run(binaries / "initdb", "-D", primary, "-A", "trust", "-U", "postgres", **quiet)
    run(
        binaries / "pg_ctl", "-D", primary, "-l", directory / "primary.log", "-w", "-o",
        f"-p {primary_port} {common} -c wal_level=replica -c max_wal_senders=4 "
        "-c max_replication_slots=4",
        "start",
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    run(
        binaries / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
        "-D", replica, "-R", "-X", "stream", "-C", "-S", "stack_replica",
    )  # fmt: skip
    run(
        binaries / "pg_ctl", "-D", replica, "-l", directory / "replica.log", "-w", "-o",
        f"-p {replica_port} {common} -c hot_standby=on -c hot_standby_feedback=on",
        "start",
        stdout=subprocess.DEVNULL,
    )  # fmt: skip

    # The web tier's statement time limit, on every server connection (a session setting made
    # by the application would stay on one of them).
    start_pooler(
        directory, primary_port, pooler_port, pool_size, users,
        connect_query="SET statement_timeout = 5000",
    )  # fmt: skip
    urls = {
        "STACK_PRIMARY_URL": url(primary_port),
        "STACK_REPLICA_URL": url(replica_port),
        "STACK_POOLER_URL": url(pooler_port),
    }
    (directory / "stack.env").write_text("".join(f"{k}={v}\n" for k, v in urls.items()))
    return urls


def start_pooler(
    directory: Path,
    server_port: int,
    port: int,
    pool_size: int,
    users: list[str],
    connect_query: str = "",
) -> None:
    """PgBouncer in transaction mode on ``port`` in front of the server on ``server_port``
    (every database, trust authentication for ``users``), its files under ``directory``."""
    if shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists():
        raise SystemExit("pg_stack: pgbouncer is not installed (apt-get install pgbouncer)")
    userlist = directory / "userlist.txt"
    userlist.write_text("".join(f'"{name}" ""\n' for name in users))
    config = directory / "pgbouncer.ini"
    connect = f" connect_query='{connect_query}'" if connect_query else ""
    config.write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={server_port}{connect}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {userlist}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\n"
        "max_client_conn = 500\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
        f"pidfile = {directory / 'pgbouncer.pid'}\n"
    )
    if os.geteuid() == 0:
        for path in (directory, userlist, config):
            shutil.chown(path, "postgres")
    run("pgbouncer", "-d", "-q", config)
    wait_for(port, "PgBouncer")


def stop_pooler(directory: Path) -> None:
    pidfile = directory / "pgbouncer.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), 15)


def stop(directory: Path) -> None:
    binaries = bindir()
    stop_pooler(directory)
    for cluster in ("replica", "primary"):
        if (directory / cluster / "postmaster.pid").exists():
            run(
                binaries / "pg_ctl", "-D", directory / cluster, "-m", "immediate", "stop",
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--pool-size", type=int, default=2, help="server connections (2)")
    parser.add_argument("--users", default=",".join(DEFAULT_USERS))
    args = parser.parse_args(argv)
    directory = args.directory.resolve()
    if args.action == "stop":
        stop(directory)
        return 0
    try:
        urls = start(directory, args.pool_size, args.users.split(","))
    except (subprocess.CalledProcessError, SystemExit):
        stop(directory)
        raise
    for key, value in urls.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
