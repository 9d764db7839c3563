"""A throwaway Citus cluster on loopback: a coordinator and two workers (PostgreSQL with the
Citus extension, ``tools/citus_build.sh``), each on a free port, all under one directory.

    python tools/citus_stack.py start DIR [--databases postgres,test_postgres] [--workers 2]
    python tools/citus_stack.py stop DIR

``start`` prints (and writes to ``DIR/citus.env``) shell assignments: ``CITUS_COORDINATOR_URL``
(database ``postgres``, user ``postgres``, trust authentication on 127.0.0.1 only) and
``CITUS_WORKER_URLS`` (comma-separated, database ``postgres``). Each database of
``--databases`` is made on every node with the extension, and its workers are registered with
the coordinator, so that ``manage.py distribute_tenants`` can distribute into it; roles made on
the coordinator reach the workers. ``stop`` stops whatever of the three is running.
``.ci/run`` starts and stops it around the Citus stage (``tests/test_citus.py`` and the modules
it runs on the distributed schema).

PostgreSQL refuses to run as root: run as root, the servers run as the ``postgres`` user
(``runuser``), which then owns ``DIR``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_stack import bindir, free_port, run  # the sibling tool's helpers

SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
    "-c synchronous_commit=off -c shared_preload_libraries=citus -c max_connections=300 "
    "-c max_prepared_transactions=100 -c citus.shard_count=8"
)


def nodes(workers: int) -> tuple[str, ...]:
    return ("coordinator", *(f"worker{n}" for n in range(1, workers + 1)))


def psql(port: int, database: str, *statements: str) -> None:
    for statement in statements:
        run(
            bindir() / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
            "-p", str(port), "-U", "postgres", "-d", database, "-c", statement,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip


def start(directory: Path, databases: list[str], workers: int = 2) -> dict[str, str]:
    binaries = bindir()
    if not (binaries.parent / "lib" / "citus.so").exists():
        raise SystemExit("citus_stack: Citus is not installed (bash tools/citus_build.sh)")
    directory.mkdir(parents=True, exist_ok=True)
    sockets = directory / "sockets"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
        shutil.chown(sockets, "postgres")
    ports = {node: free_port() for node in nodes(workers)}
    quiet = {"stdout": subprocess.DEVNULL}
    for node, port in ports.items():
        run(binaries / "initdb", "-D", directory / node, "-A", "trust", "-U", "postgres", **quiet)
        run(
            binaries / "pg_ctl", "-D", directory / node, "-l", directory / f"{node}.log", "-w",
            "-o", f"-p {port} -k {sockets} {SETTINGS}", "start",
            **quiet,
        )  # fmt: skip
    for database in databases:
        prepare(ports, database)
    coordinator = ports["coordinator"]
    urls = {
        "CITUS_COORDINATOR_URL": f"postgres://postgres@127.0.0.1:{coordinator}/postgres",
        "CITUS_WORKER_URLS": ",".join(
            f"postgres://postgres@127.0.0.1:{ports[node]}/postgres" for node in list(ports)[1:]
        ),
    }
    (directory / "citus.env").write_text("".join(f"{k}={v}\n" for k, v in urls.items()))
    return urls


def prepare(ports: dict[str, int], database: str) -> None:
    """``database`` on every node, with the extension, its workers known to the coordinator."""
    for port in ports.values():
        if database != "postgres":
            psql(port, "postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            psql(port, "postgres", f'CREATE DATABASE "{database}"')
        psql(port, database, "CREATE EXTENSION IF NOT EXISTS citus")
    coordinator = ports["coordinator"]
    psql(coordinator, database, f"SELECT citus_set_coordinator_host('127.0.0.1', {coordinator})")
    for node in list(ports)[1:]:
        psql(coordinator, database, f"SELECT citus_add_node('127.0.0.1', {ports[node]})")


def stop(directory: Path) -> None:
    binaries = bindir()
    found = sorted(path.name for path in directory.glob("worker*") if path.is_dir())
    for node in [*reversed(found), "coordinator"]:
        if (directory / node / "postmaster.pid").exists():
            run(
                binaries / "pg_ctl", "-D", directory / node, "-m", "immediate", "stop",
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--databases", default="postgres")
    parser.add_argument("--workers", type=int, default=2, help="worker nodes (2)")
    args = parser.parse_args(argv)
    directory = args.directory.resolve()
    if args.action == "stop":
        stop(directory)
        return 0
    try:
        urls = start(directory, args.databases.split(","), args.workers)
    except (subprocess.CalledProcessError, SystemExit):
        stop(directory)
        raise
    for key, value in urls.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
