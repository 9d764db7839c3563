"""Hostile regular expressions against 50 000 visible customers (not part of the test run).

    python bench/hostile_regex.py --url sqlite:////tmp/regex.sqlite3 [--write-docs]
    python bench/hostile_regex.py --url postgres://postgres@127.0.0.1/bench_regex [--write-docs]

Seeds a tenant with N demo customers (once per database), then, in-process as an unrestricted
reader with the web process's statement time limit on:
  * times the backreference pattern that used to hold PostgreSQL for minutes, and the costliest
    kind of pattern the checks still allow (alternation under a star, several wildcards);
  * times a normal list request alone, then while three threads send the allowed costly
    search over and over, and reports the slowdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bulk_assign import write_docs_section  # noqa: E402 - the sibling benchmark's helper

TENANT = "regexbench"
BACKREFERENCE = r"contactEmail:~(.*)(.*)(.*)(.*)(.*)\5\4\3\2\1$"
ALLOWED_COSTLY = "contactEmail:~(a|a)*.*.*.*x@y"


def setup(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from core.database import serve_requests

    serve_requests()  # as config/wsgi.py does in a web process


def ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def seed(count: int):
    from django.core.management import call_command

    from customers.demo import seed_customers
    from customers.models import Customer
    from tenancy.services import tenant_create

    call_command("migrate", verbosity=0)
    from tenancy.models import Tenant

    tenant = Tenant.objects.filter(code=TENANT).first() or tenant_create(
        code=TENANT, name="Regex bench", restrictions=["DE", "FR", "US"], sites=["DE", "FR", "US"]
    )
    missing = count - Customer.objects.filter(tenant=tenant).count()
    if missing > 0:
        seed_customers(tenant, missing)
    return tenant


def reader_token(tenant) -> str:
    from accounts.principal import Principal
    from accounts.services.identities import api_client_create
    from accounts.tokens import CLIENT_SUBJECT_PREFIX, issue_token
    from core.channels import Channel

    created = api_client_create(
        actor=Principal.operator(tenant, "bench"),
        channel=Channel.COMMAND,
        tenant=tenant,
        name=f"reader-{time.time_ns()}",
        scopes=["customer.customer_read"],
    ).client
    return issue_token(
        subject=f"{CLIENT_SUBJECT_PREFIX}{created.client_id}",
        tenant_code=tenant.code,
        scopes=["customer.customer_read"],
        generation=created.token_generation,
    ).access_token


def timed_get(client, params: dict) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(f"/customer/{TENANT}/customers", params)
    return (time.perf_counter() - started) * 1000, response.status_code


def median_of(client, params: dict, repeat: int) -> tuple[float, int]:
    runs = [timed_get(client, params) for _ in range(repeat)]
    return statistics.median(ms for ms, _ in runs), runs[-1][1]


def list_while_attacked(client, main_client, normal: dict, q: str | None) -> float:
    """The median list time while three other clients send ``q`` (or plain list requests)
    without pause."""
    stop = threading.Event()

    def attacker() -> None:
        from django.db import connection as thread_connection

        http = client()
        while not stop.is_set():
            timed_get(http, {"q": q} if q else normal)
        thread_connection.close()

    threads = [threading.Thread(target=attacker) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    during, _ = median_of(main_client, normal, 10)
    stop.set()
    for thread in threads:
        thread.join()
    return during


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    ensure_database(args.url)
    setup(args.url)
    from django.db import connection
    from rest_framework.test import APIClient

    tenant = seed(args.customers)
    token = reader_token(tenant)

    def client() -> APIClient:
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return http

    main_client = client()
    rows = []
    searches = (("backreference pattern", BACKREFERENCE), ("allowed costly", ALLOWED_COSTLY))
    for label, q in searches:
        ms, status = median_of(main_client, {"q": q}, 3)
        shown = q.replace("|", "\\|")  # a literal bar inside a Markdown table cell
        rows.append(f"| `{shown}` ({label}) | {status} | {ms:.1f} ms |")
    normal = {"pageSize": "60"}
    alone, _ = median_of(main_client, normal, 10)
    slowdowns = []
    for label, q in (
        ("plain list requests (no search), for comparison", None),
        ("the backreference pattern search", BACKREFERENCE),
        ("the allowed costly search", ALLOWED_COSTLY),
    ):
        during = list_while_attacked(client, main_client, normal, q)
        slowdowns.append(
            f"| while 3 clients send {label} | {during:.1f} ms ({during / alone:.2f}x) |"
        )

    if connection.vendor == "sqlite":
        engine = f"SQLite {connection.Database.sqlite_version}"
    else:
        engine = f"PostgreSQL {connection.pg_version // 10000}"
    report = "\n".join(
        [
            f"{engine}, {args.customers:,} visible customers, measured "
            f"{datetime.now(UTC):%Y-%m-%d}:",
            "",
            "| search | status | median time |",
            "| --- | ---: | ---: |",
            *rows,
            "",
            "| list page (60) | median time |",
            "| --- | ---: |",
            f"| alone | {alone:.1f} ms |",
            *slowdowns,
        ]
    )
    print(report)
    if args.write_docs:
        write_docs_section(f"regex-{connection.vendor}", report)


if __name__ == "__main__":
    main()
