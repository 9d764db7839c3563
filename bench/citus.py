"""The service on a Citus cluster against one plain PostgreSQL (not part of the test run).

    python bench/citus.py [--customers 100000] [--tenants 200] [--rounds 200]
                          [--users 20] [--seconds 30] [--write-docs]

Starts clusters of its own (``tools/citus_stack.py``; Citus built by ``tools/citus_build.sh``)
and, on each, loads the same rows: one big tenant of ``--customers`` customers and
``--tenants`` small tenants of 100 (three in five customers with a default address). The
customer tables are distributed by tenant (``manage.py distribute_tenants``). The servers are
gunicorn as ``make serve`` runs them, connected as the service role under row-level security.

1. **Tenant paths, coordinator vs plain PostgreSQL** (a coordinator and two workers; the plain
   database lives on the coordinator's own server, same settings, no extension): list page 1
   and get by id of the big tenant, one request at a time, the two servers interleaved,
   ``--rounds`` rounds, medians; then one bulk assignment of the big tenant's customers
   (``assign_restriction --all``) on each.
2. **Throughput, one worker vs two**: the same rows on a cluster with one worker and on one
   with two; locust drives a tenant-spread load (each request a random small tenant's list
   page 1 or a get by id) with ``--users`` users for ``--seconds`` seconds.

Every node, the servers and the load generator share this machine, so the workers compete for
the same cores: the second worker adds no processor here.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import free_port, machine, run_locust, start_server  # noqa: E402
from read_path import BIG, SMALL_SIZE  # noqa: E402

from tools import citus_stack  # noqa: E402

DATABASE = "bench_citus"
PLAIN = "bench_plain"
READ = ["customer.customer_read"]


def _prepare(url: str, customers: int, tenants: int, distribute: bool) -> None:
    """(A child process, as the superuser.) Migrate, distribute, load; print the tokens."""
    from bulk_assign import setup_django

    setup_django(url)
    from django.core.management import call_command
    from read_path import bearer, load

    call_command("migrate", verbosity=0)
    if distribute:
        call_command("distribute_tenants", verbosity=0)
    load(customers, tenants)
    small = [f"s{i:04d}" for i in range(tenants)]
    print(
        json.dumps(
            {
                "big": bearer(BIG, ["customer.customer_read", "customer.customer_manage"]),
                "small": {code: bearer(code, READ) for code in small},
            }
        )
    )


def _assign_here() -> None:
    """(A child process, the service's environment.) Print the seconds of
    ``assign_restriction --all`` on the big tenant, Django's start-up left out."""
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("assign_restriction", "--tenant", BIG, "--restriction", "DE", "--all")
    print(time.perf_counter() - started)


def _assign(service_env: dict) -> float:
    child = subprocess.run(  # noqa: S603 - this script
        [sys.executable, __file__, "--assign"],
        cwd=ROOT, env={**service_env, "DJANGO_SETTINGS_MODULE": "config.settings"}, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return float(child.stdout.strip().splitlines()[-1])


def prepared(url: str, args, distribute: bool, env: dict) -> tuple[dict, dict]:
    """The database at ``url`` loaded; its tokens and the service's environment."""
    from bulk_assign import ensure_database
    from read_path import SEARCH, prepare_roles

    ensure_database(url)
    extra = {"DATABASE_DISTRIBUTED": "1"} if distribute else {}
    child = subprocess.run(  # noqa: S603 - this script
        [sys.executable, __file__, "--prepare", url, "--customers", str(args.customers),
         "--tenants", str(args.tenants), *(["--distribute"] if distribute else [])],
        cwd=ROOT, env={**env, **extra, "DATABASE_URL": url}, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    tokens = json.loads(child.stdout.strip().splitlines()[-1])
    service = {
        **env,
        **extra,
        "DATABASE_URL": prepare_roles(url),
        "MIGRATION_DATABASE_URL": url,
        "DATABASE_SEARCH_ROLE": SEARCH,
    }
    return tokens, service


@contextmanager
def cluster(workers: int):
    directory = Path(tempfile.mkdtemp(prefix=f"citus-bench-{workers}-"))
    urls = citus_stack.start(directory, [DATABASE], workers)
    try:
        yield urls["CITUS_COORDINATOR_URL"].rsplit("/", 1)[0]
    finally:
        citus_stack.stop(directory)


@contextmanager
def serving(env: dict, name: str):
    env = {**env, "PORT": str(free_port()), "LOAD_LOG": f"/tmp/citus-bench-{name}.log"}  # noqa: S108
    server = start_server(env)
    try:
        yield int(env["PORT"])
    finally:
        server.terminate()
        server.wait(timeout=60)


def timed_get(connection: http.client.HTTPConnection, path: str, token: str) -> float:
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": token})
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {body[:200]!r}")
    return elapsed * 1000


def latencies(servers: dict[str, tuple[int, str]], customers: int, rounds: int) -> dict:
    """Median milliseconds per server (name -> port, token) and path, the servers
    interleaved."""
    connections = {
        name: (http.client.HTTPConnection("127.0.0.1", port), token)
        for name, (port, token) in servers.items()
    }
    base = f"/customer/{BIG}/customers"
    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(rounds + 10):
        number = f"B{random.randrange(customers):09d}"
        order = list(connections.items())
        if round_ % 2:
            order.reverse()
        for name, (connection, token) in order:
            for path, label in ((base, "list page 1"), (f"{base}/{number}", "get by id")):
                elapsed = timed_get(connection, path, token)
                if round_ >= 10:  # (warm-up)
                    times.setdefault((name, label), []).append(elapsed)
    return {key: statistics.median(values) for key, values in times.items()}


def spread_load(tokens: dict, customers_per_tenant: int):
    codes = sorted(tokens)

    def list_page(user):
        code = random.choice(codes)
        user.client.get(
            f"/customer/{code}/customers",
            headers={"Authorization": tokens[code]},
            name="list page 1",
        )

    def get_by_id(user):
        code = random.choice(codes)
        number = f"S{random.randrange(customers_per_tenant):05d}"
        user.client.get(
            f"/customer/{code}/customers/{number}",
            headers={"Authorization": tokens[code]},
            name="get by id",
        )

    return {list_page: 1, get_by_id: 2}


def report(figures: dict, args) -> str:
    lines = [
        "| tenant path | plain PostgreSQL (ms) | Citus coordinator (ms) | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label in ("list page 1", "get by id"):
        plain, citus = figures["latency"][("plain", label)], figures["latency"][("citus", label)]
        lines.append(f"| {label} | {plain:.1f} | {citus:.1f} | **{citus / plain:.2f}x** |")
    plain, citus = figures["assign"]["plain"], figures["assign"]["citus"]
    lines.append(
        f"| bulk assignment, {args.customers:,} customers (s) | {plain:.1f} | {citus:.1f} | "
        f"**{citus / plain:.2f}x** |"
    )
    one, two = figures["throughput"][1], figures["throughput"][2]
    lines += [
        "",
        "| tenant-spread load | requests | errors | req/s | p50 (ms) | p99 (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workers, s in ((1, one), (2, two)):
        lines.append(
            f"| {workers} worker{'s' if workers > 1 else ''} | {s['requests']:,} | "
            f"{s['errors']} | {s['rps']:.0f} | {s['p50']:.0f} | {s['p99']:.0f} |"
        )
    lines += [
        "",
        f"- two workers / one: **{two['rps'] / one['rps']:.2f}x** the throughput",
        f"- {args.customers:,} customers in the big tenant and {args.tenants} tenants of "
        f"{SMALL_SIZE}; Citus 13.2 on PostgreSQL 15, 8 shards per table; latencies are medians "
        f"of {args.rounds} rounds, one request at a time; the load is {args.users} users "
        f"without think time for {args.seconds} s, 1/3 list page 1 and 2/3 get by id of a "
        "random small tenant",
        "- gunicorn as `make serve` runs it (`DEBUG=0`), as the service role (row-level "
        "security on); the plain database is on the coordinator's own server",
        f"- machine: {machine()}; every node of the cluster too",
        f"- measured {datetime.now(UTC):%Y-%m-%d}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    parser.add_argument("--distribute", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--assign", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.assign:
        _assign_here()
        return
    if args.prepare:
        _prepare(args.prepare, args.customers, args.tenants, args.distribute)
        return
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(40),
        "STATIC_MANIFEST": "0",
        "LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    figures: dict = {"throughput": {}}
    for workers in (1, 2):
        with cluster(workers) as server:
            print(f"{workers} worker(s): loading ...", flush=True)
            tokens, citus_env = prepared(f"{server}/{DATABASE}", args, True, env)
            if workers == 2:
                plain_tokens, plain_env = prepared(f"{server}/{PLAIN}", args, False, env)
                with serving(citus_env, "citus") as citus, serving(plain_env, "plain") as plain:
                    print("latencies ...", flush=True)
                    servers = {
                        "citus": (citus, tokens["big"]),
                        "plain": (plain, plain_tokens["big"]),
                    }
                    figures["latency"] = latencies(servers, args.customers, args.rounds)
                print("bulk assignment ...", flush=True)
                figures["assign"] = {"citus": _assign(citus_env), "plain": _assign(plain_env)}
            with serving(citus_env, f"load-{workers}") as port:
                print(f"load on {workers} worker(s) ...", flush=True)
                result = run_locust(
                    f"http://127.0.0.1:{port}",
                    args.users,
                    args.seconds,
                    spread_load(tokens["small"], SMALL_SIZE),
                )
                figures["throughput"][workers] = result["total"]
    text = report(figures, args)
    print(text)
    if args.write_docs:
        from bulk_assign import write_docs_section

        write_docs_section("citus-bench", text)


if __name__ == "__main__":
    main()
