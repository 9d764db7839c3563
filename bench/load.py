"""Load figures for the production server on PostgreSQL (not part of the test run).

    python bench/load.py [--customers 100000] [--users 50] [--seconds 45] [--write-docs]

Loads N customers into its own database (reused while it matches; the read-access log and the
task queue emptied), starts gunicorn and the task worker as `make serve` does
(``config/gunicorn.py``, ``DEBUG=0``, the read log through its journal in a fresh directory; the
worker files the read log) on a free loopback port, and
drives it with locust (headless, in this process, bounded by time) five times, the same number
of users each time:

1. the framework floor: ``GET /healthz`` (a trivial Django view through the same middleware);
2. a stock DRF get by number (``bench/stock_wsgi.py``: ``RetrieveAPIView`` + ``ModelSerializer``,
   no authentication, as the superuser in autocommit) served by the same server and middleware:
   what a get costs the framework itself on this machine;
3. get by id only (random customers), and the same with the read-access log switched off;
4. the mixed workload: 1/3 list with ``X-Total-Count`` and a random page and sort, 2/3 get by
   id, and a few writes (1 in 50 requests a ``PATCH`` of a random customer).

``--scale-out`` instead starts a stack of its own (tools/pg_stack.py: a primary, a streaming
replica, PgBouncer in transaction mode), loads the same data into it, and compares the mixed
workload through PgBouncer with the same directly, and a read workload with one replica with the
primary alone (``scale-bench`` in docs/benchmarks.md).

It reports throughput, p50/p95/p99 and errors, and the ratio of get-by-id throughput to the
floor's. The server connects as the service role, under row-level security (``--superuser``:
as the superuser, which the policies do not bind). The load generator runs on the same machine
as the server and the database.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_load"
SORTS = ["", "lastName", "lastName:desc", "metadataCreatedAt:desc", "firstName"]


def prepare(url: str, customers: int) -> dict:
    """In a child process (Django, no gevent): the data and a token for the load."""
    sys.path.insert(0, str(ROOT / "bench"))
    from read_path import BIG, bearer, load

    load(customers, 0)
    fresh_start()
    return {
        "tenant": BIG,
        "authorization": bearer(BIG, ["customer.customer_read", "customer.customer_manage"]),
    }


def fresh_start() -> None:
    """Every run starts from the same state: the read-access log, its alerts and the task
    queue empty (what earlier runs left would otherwise be filed, or mailed, during this one)."""
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from customers.models import CustomerView, JournalMark, MassReadAlert

    models = (CustomerView, JournalMark, MassReadAlert, DBTaskResult)
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")


LOCAL_REDIS = "redis://127.0.0.1:6379/15"


def shared_cache(url: str) -> str:
    """``url`` when a Redis answers there (the workers then share one cache, as in production:
    the mass-read counts, sign-in throttles), else "" (each worker its own local memory)."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except (redis.RedisError, ValueError):
        return ""
    return url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict) -> subprocess.Popen:
    """gunicorn as ``make serve`` starts it; with ``STOCK_DATABASE_URL`` in ``env``, the same
    application with the stock get beside it (bench/stock_wsgi.py)."""
    log = open(Path(env["LOAD_LOG"]), "wb")  # noqa: SIM115 - lives as long as the server
    application = (
        ["--pythonpath", "bench", "stock_wsgi:application"]
        if env.get("STOCK_DATABASE_URL")
        else ["config.wsgi"]
    )
    server = subprocess.Popen(  # noqa: S603 - the virtualenv's gunicorn
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", *application],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{env['PORT']}/readyz", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("the server did not become ready; see " + env["LOAD_LOG"])


def start_worker(env: dict) -> subprocess.Popen:
    """The task worker, as ``make serve`` runs it beside the server: it files the read log's
    inbox every few seconds and sends the mass-read alerts (into memory here)."""
    log = open(Path(env["LOAD_LOG"]).with_suffix(".worker.log"), "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload"],
        cwd=ROOT,
        env={**env, "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def run_locust(host: str, users: int, seconds: int, tasks) -> dict:
    import gevent
    from locust import FastHttpUser, constant
    from locust.env import Environment

    # The class is made with its tasks (locust turns a weighted dict into its schedule then).
    client = type(
        "Client", (FastHttpUser,), {"tasks": tasks, "wait_time": constant(0), "host": host}
    )
    environment = Environment(user_classes=[client])
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(seconds)
    runner.quit()
    stats = environment.stats
    result = {"total": _summary(stats.total, seconds)}
    for (name, method), entry in sorted(stats.entries.items()):
        result[f"{method} {name}"] = _summary(entry, seconds)
    return result


def _summary(entry, seconds: int) -> dict:
    return {
        "requests": entry.num_requests,
        "errors": entry.num_failures,
        "rps": entry.num_requests / seconds,
        "p50": entry.get_response_time_percentile(0.5),
        "p95": entry.get_response_time_percentile(0.95),
        "p99": entry.get_response_time_percentile(0.99),
    }


def workloads(tenant: str, authorization: str, customers: int):
    import random

    headers = {"Authorization": authorization}
    base = f"/customer/{tenant}/customers"

    def number() -> str:
        return f"B{random.randrange(customers):09d}"

    def floor(user):
        user.client.get("/healthz", name="/healthz")

    def get_by_id(user):
        user.client.get(f"{base}/{number()}", headers=headers, name="customer by id")

    def stock_get(user):
        user.client.get(f"/stock/{tenant}/customers/{number()}", name="stock customer by id")

    def unlogged_get(user):
        user.client.get(
            f"/unlogged{base}/{number()}", headers=headers, name="customer by id, unlogged"
        )

    def list_page(user):
        params = {"pageNumber": random.randint(1, 50), "sort": random.choice(SORTS)}
        user.client.get(
            base,
            params={k: v for k, v in params.items() if v},
            headers={**headers, "X-Total-Count": "true"},
            name="list with count",
        )

    def patch(user):
        user.client.patch(
            f"{base}/{number()}",
            json={"title": random.choice(["Dr", "Mx", None])},
            headers=headers,
            name="customer",
        )

    return {
        "floor": [floor],
        "stock get": [stock_get],
        "get by id": [get_by_id],
        "get by id, read log off": [unlogged_get],
        "mixed": {list_page: 16, get_by_id: 33, patch: 1},
    }


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return f"{os.cpu_count()} cores ({cpu}), server, database and load generator on one machine"


def report(results: dict, args, workers: int, redis: bool) -> str:
    lines = [
        "| run | requests | errors | req/s | p50 (ms) | p95 (ms) | p99 (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run, result in results.items():
        for name, s in result.items():
            label = f"{run}: {name}" if name != "total" else f"**{run}** (all)"
            lines.append(
                f"| {label} | {s['requests']:,} | {s['errors']} | {s['rps']:.0f} | "
                f"{s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} |"
            )
    rps = {run: result["total"]["rps"] for run, result in results.items()}
    lines += [
        "",
        f"- get by id throughput / framework floor: **{rps['get by id'] / rps['floor']:.0%}**",
        f"- stock DRF get throughput / framework floor: {rps['stock get'] / rps['floor']:.0%}; "
        f"get by id / stock get: {rps['get by id'] / rps['stock get']:.0%}; with the read log "
        f"off: {rps['get by id, read log off'] / rps['stock get']:.0%}",
        "- p99 / p50: "
        + ", ".join(
            f"{run if len(result) == 2 else f'{run}: {name}'} {s['p99'] / s['p50']:.1f}x"
            for run, result in results.items()
            if run != "floor"
            for name, s in result.items()
            if name != "total" and s["p50"]
        ),
        f"- {args.users} users without think time, {args.seconds} s per run, "
        f"{args.customers:,} customers, gunicorn with {workers} sync workers, `DEBUG=0`, "
        f"JSON request log, {'Redis' if redis else 'local-memory'} "
        "cache, "
        + (
            "as the database superuser (row-level security bypassed)"
            if args.superuser
            else "as the service role (row-level security on)"
        ),
        f"- machine: {machine()}",
        f"- measured {datetime.now(UTC):%Y-%m-%d}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--url", default=os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument(
        "--superuser",
        action="store_true",
        help="serve as the database superuser (row-level security bypassed), not the service role",
    )
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="PgBouncer and a streaming replica of their own (tools/pg_stack.py): the mixed "
        "workload through the pooler vs directly, reads with a replica vs the primary alone",
    )
    parser.add_argument("--pool-size", type=int, default=4, help="PgBouncer server connections")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("LOAD_SECRET_KEY", secrets.token_urlsafe(40)),
        "JWT_SIGNING_KEY": os.environ.get("LOAD_JWT_KEY", secrets.token_urlsafe(40)),
        "DATABASE_URL": args.url,
        "STATIC_MANIFEST": "0",
        "LOG_FORMAT": "json",
        "REDIS_URL": shared_cache(os.environ.get("REDIS_URL", LOCAL_REDIS)),
        # (as `make serve` runs it: the read log through its journal, in a fresh directory)
        "READ_LOG_JOURNAL": os.environ.get(
            "READ_LOG_JOURNAL", tempfile.mkdtemp(prefix="load-read-log-journal-")
        ),
    }
    if args.prepare:
        sys.path.insert(0, str(ROOT / "bench"))
        from bulk_assign import ensure_database, setup_django

        ensure_database(args.url)
        setup_django(args.url)
        print(json.dumps(prepare(args.url, args.customers)))
        return
    env["LOAD_SECRET_KEY"], env["LOAD_JWT_KEY"] = env["SECRET_KEY"], env["JWT_SIGNING_KEY"]
    if args.scale_out:
        scale_out(args, env)
        return
    data = prepared_data(args.url, args.customers, env)
    if not args.superuser:
        env.update(service_role(args.url))
    env["STOCK_DATABASE_URL"] = args.url
    workers = int(env.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)
    results = measure(env, workloads(data["tenant"], data["authorization"], args.customers), args)
    text = report(results, args, workers, bool(env["REDIS_URL"]))
    print(text)
    if args.write_docs:
        write_docs("load-bench", text)


def prepared_data(url: str, customers: int, env: dict) -> dict:
    """The data (loaded by a child process as the superuser) and a token for the load."""
    prepared = subprocess.run(  # noqa: S603 - this script
        [sys.executable, __file__, "--prepare", "--url", url, "--customers", str(customers)],
        env={**env, "DATABASE_URL": url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(prepared.stdout.strip().splitlines()[-1])


def service_role(url: str) -> dict:
    """As in production: the service role under row-level security, the tables' owner for
    migrations, the search role owning the functions that apply the context by hand."""
    sys.path.insert(0, str(ROOT / "bench"))
    from read_path import SEARCH
    from row_security import prepare as prepare_roles

    return {
        "DATABASE_URL": prepare_roles(url),
        "MIGRATION_DATABASE_URL": url,
        "DATABASE_SEARCH_ROLE": SEARCH,
    }


def measure(env: dict, runs: dict, args) -> dict:
    """One server for ``runs`` (name -> locust tasks), each run in turn."""
    env = {**env, "PORT": str(free_port()), "LOAD_LOG": "/tmp/load-server.log"}  # noqa: S108
    server, worker = start_server(env), start_worker(env)
    try:
        host = f"http://127.0.0.1:{env['PORT']}"
        results = {}
        for name, tasks in runs.items():
            print(f"running {name} ...", flush=True)
            results[name] = run_locust(host, args.users, args.seconds, tasks)
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            process.wait(timeout=60)
    return results


def write_docs(section: str, text: str) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from bulk_assign import write_docs_section

    write_docs_section(section, text)


def scale_out(args, env: dict) -> None:
    """The mixed workload through PgBouncer (transaction mode, ``--pool-size`` server
    connections, more client connections than that) against the same PostgreSQL directly, and
    the read workload with one streaming replica against the primary alone: a stack of its own
    (tools/pg_stack.py), the same data, the service role."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tools.pg_stack import start, stop

    directory = Path(tempfile.mkdtemp(prefix="load-stack-"))
    urls = start(directory, args.pool_size, ["postgres", "bench_service"])
    try:
        primary = urls["STACK_PRIMARY_URL"].rsplit("/", 1)[0] + "/bench_load"
        sys.path.insert(0, str(ROOT / "bench"))
        from bulk_assign import ensure_database

        ensure_database(primary)
        data = prepared_data(primary, args.customers, env)
        roles = service_role(primary)
        service = roles["DATABASE_URL"]
        credentials = service.split("://", 1)[1].split("@", 1)[0]
        pooled = f"postgres://{credentials}@{urls['STACK_POOLER_URL'].split('@', 1)[1]}"
        replica = f"postgres://{credentials}@{urls['STACK_REPLICA_URL'].split('@', 1)[1]}"
        pooled, replica = (url.rsplit("/", 1)[0] + "/bench_load" for url in (pooled, replica))
        _wait_for_replica(
            urls["STACK_REPLICA_URL"].rsplit("/", 1)[0] + "/bench_load", args.customers
        )
        threads = {"GUNICORN_THREADS": "4"}  # 5 workers x 4 threads: 20 client connections
        every = workloads(data["tenant"], data["authorization"], args.customers)
        list_page, get_by_id, _ = every["mixed"]
        reads = {"reads": {list_page: 1, get_by_id: 2}}
        base = {**env, **roles, **threads}
        results = {
            "mixed, directly": measure(base, {"mixed": every["mixed"]}, args)["mixed"],
            "mixed, through PgBouncer": measure(
                {**base, "DATABASE_URL": pooled, "DATABASE_POOL_MODE": "transaction"},
                {"mixed": every["mixed"]},
                args,
            )["mixed"],
            "reads, primary only": measure(base, reads, args)["reads"],
            "reads, with one replica": measure(
                {**base, "DATABASE_REPLICA_URLS": replica}, reads, args
            )["reads"],
        }
    finally:
        stop(directory)
    text = scale_report(results, args)
    print(text)
    if args.write_docs:
        write_docs("scale-bench", text)


def _wait_for_replica(url: str, customers: int) -> None:
    """(As the superuser, whom row-level security does not bind.)"""
    import psycopg

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with psycopg.connect(url) as connection:
            found = connection.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
        if found >= customers:
            return
        time.sleep(1)
    raise SystemExit("the replica did not catch up")


def scale_report(results: dict, args) -> str:
    lines = [
        "| run | requests | errors | req/s | p50 (ms) | p95 (ms) | p99 (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run, result in results.items():
        s = result["total"]
        lines.append(
            f"| {run} | {s['requests']:,} | {s['errors']} | {s['rps']:.0f} | {s['p50']:.0f} | "
            f"{s['p95']:.0f} | {s['p99']:.0f} |"
        )
    pooled = results["mixed, through PgBouncer"]["total"]["rps"]
    direct = results["mixed, directly"]["total"]["rps"]
    replica = results["reads, with one replica"]["total"]["rps"]
    primary = results["reads, primary only"]["total"]["rps"]
    lines += [
        "",
        f"- through PgBouncer / directly: **{pooled / direct:.0%}** of the throughput, with 20 "
        f"client connections on {args.pool_size} server connections",
        f"- with one replica / primary only: **{replica / primary:.0%}** of the throughput",
        f"- {args.users} users without think time, {args.seconds} s per run, "
        f"{args.customers:,} customers, gunicorn with 5 workers x 4 threads, as the service "
        "role (row-level security on); reads: 1/3 list with `X-Total-Count`, 2/3 get by id",
        f"- machine: {machine()}; primary, replica, PgBouncer, server and load generator all on it",
        f"- measured {datetime.now(UTC):%Y-%m-%d}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
