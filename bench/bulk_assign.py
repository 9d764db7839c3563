"""Benchmark of bulk restriction assignment on PostgreSQL (not part of the test run).

    python bench/bulk_assign.py --customers 1000000 [--write-docs]

Generates N customers with COPY in a dedicated database, then times, each in a fresh process so
peak memory (RSS) is its own:
  * ``assign_restriction --all`` (batches, one UPDATE + one audit insert per batch),
  * the floor: one raw SQL ``UPDATE`` of the same rows (no audit),
  * a naive loop of ``save()`` per customer (with an audit row each) on 10 000 rows,
    extrapolated to N.
``assign_restriction`` also runs on 100 000 rows to show that its memory is flat in N.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_customers"
TENANT = "bench"
NAIVE_ROWS = 10_000


def setup_django(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def generate(count: int) -> int:
    """A fresh tenant with ``count`` customers (restriction null), loaded with COPY."""
    from django.core.management import call_command
    from django.db import connection

    from customers.models import Customer, RestrictionChange
    from tenancy.models import Tenant
    from tenancy.services import tenant_create

    call_command("migrate", verbosity=0)
    Tenant.objects.filter(code=TENANT).delete()
    tenant = tenant_create(
        code=TENANT, name="Benchmark", restrictions=["DE", "FR", "US"], sites=["DE", "FR", "US"]
    )
    columns = [
        "tenant_id",
        "customer_number",
        "first_name",
        "last_name",
        "contact_email",
        "preferred_language",
        "preferred_currency",
        "preferred_site",
        "type",
        "active",
        "on_hold",
        "version",
        "created_at",
        "modified_at",
        "mixins",
        "metadata_mixins",
        "b2b_legal_entities",
    ]
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {Customer._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(count):
                copy.write_row(
                    (
                        tenant.pk,
                        f"B{i:09d}",
                        "Bench",
                        f"Customer{i}",
                        f"b{i}@example.com",
                        "en_US",
                        "EUR",
                        "main",
                        "CUSTOMER",
                        True,
                        False,
                        1,
                        now,
                        now,
                        "{}",
                        "{}",
                        "[]",
                    )
                )
        cursor.execute("ANALYZE customers_customer")
    RestrictionChange.objects.filter(tenant=tenant).delete()
    return tenant.pk


def reset(tenant_id: int) -> None:
    from django.db import connection

    from accounts import rowsecurity

    # The row-security trigger holds even a superuser's updates to the bound context.
    context = rowsecurity.RowContext.whole_tenant(tenant_id)
    with rowsecurity.session_context(context, reason="bench reset"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM customers_restrictionchange WHERE tenant_id = %s", [tenant_id])
        cursor.execute(
            "UPDATE customers_customer SET restriction = NULL WHERE tenant_id = %s", [tenant_id]
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE customers_customer")
        cursor.execute("VACUUM ANALYZE customers_restrictionchange")


def run_one(mode: str, rows: int, batch_size: int) -> dict:
    """Runs in its own process; returns seconds, rows and peak RSS."""
    from io import StringIO

    from django.core.management import call_command
    from django.db import connection

    from tenancy.models import Tenant

    tenant = Tenant.objects.get(code=TENANT)
    started = time.perf_counter()
    if mode == "command":
        out = StringIO()
        call_command(
            "assign_restriction",
            "--tenant",
            TENANT,
            "--restriction",
            "DE",
            "--all",
            "--batch-size",
            str(batch_size),
            stdout=out,
        )
        summary = out.getvalue().strip()
        rows = int(summary.split("changed=")[1].split()[0])
    elif mode == "raw":
        from accounts import rowsecurity

        # (the row-security trigger holds even a superuser's update to the bound context)
        context = rowsecurity.RowContext.whole_tenant(tenant.pk)
        with (
            rowsecurity.session_context(context, reason="bench raw"),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "UPDATE customers_customer SET restriction = 'DE', version = version + 1, "
                "modified_at = now() WHERE tenant_id = %s",
                [tenant.pk],
            )
            rows = cursor.rowcount
    elif mode == "naive":
        from accounts import rowsecurity

        context = rowsecurity.RowContext.whole_tenant(tenant.pk)
        with rowsecurity.session_context(context, reason="bench naive"):
            _naive(tenant, rows)
    seconds = time.perf_counter() - started
    return {"mode": mode, "rows": rows, "seconds": seconds, "peak_rss_mib": peak_rss_kib() / 1024}


def _naive(tenant, rows: int) -> None:
    from customers.models import Customer, RestrictionChange

    customers = Customer.objects.filter(tenant=tenant).order_by("pk")[:rows]
    for customer in customers:
        old = customer.restriction
        customer.restriction = "DE"
        customer.version += 1
        customer.save()
        RestrictionChange.objects.create(
            tenant=tenant,
            customer=customer,
            customer_number=customer.customer_number,
            old_value=old,
            new_value="DE",
            actor_kind="operator",
            actor_id="bench",
            channel="command",
        )


def peak_rss_kib() -> int:
    # VmHWM is this process image's own high-water mark (getrusage's ru_maxrss would include the
    # parent's memory inherited across fork).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(url: str, mode: str, rows: int, batch_size: int) -> dict:
    output = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [
            sys.executable,
            __file__,
            "--url",
            url,
            "--run",
            mode,
            "--rows",
            str(rows),
            "--batch-size",
            str(batch_size),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB RAM, "
        f"PostgreSQL {server} on the same machine, Python {platform.python_version()}"
    )


def table(results: list[dict], n: int) -> str:
    lines = [
        "| run | rows | wall time (s) | rows/s | peak RSS (MiB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0
        lines.append(
            f"| {r['label']} | {r['rows']:,} | {r['seconds']:.2f} | {rate:,.0f} | "
            f"{r['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def write_docs_section(marker: str, report: str) -> None:
    """Replace what stands between ``<!-- MARKER:start -->`` and ``<!-- MARKER:end -->`` in
    docs/benchmarks.md (every benchmark writes its own section this way)."""
    docs = ROOT / "docs" / "benchmarks.md"
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    before, _, rest = docs.read_text().partition(start)
    _, _, after = rest.partition(end)
    docs.write_text(f"{before}{start}\n{report}\n{end}{after}")
    print(f"wrote {docs}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument(
        "--write-docs", action="store_true", help="Write the table into docs/benchmarks.md."
    )
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:
        setup_django(args.url)
        print(json.dumps(run_one(args.run, args.rows, args.batch_size)))
        return

    ensure_database(args.url)
    setup_django(args.url)
    results = []
    small = min(100_000, args.customers)
    for n in sorted({small, args.customers}):
        print(f"generating {n:,} customers ...", flush=True)
        tenant_id = generate(n)
        reset(tenant_id)
        result = measure(args.url, "command", n, args.batch_size)
        results.append({**result, "label": f"assign_restriction --all ({n:,})"})
        print(results[-1], flush=True)
    reset(tenant_id)
    result = measure(args.url, "raw", args.customers, args.batch_size)
    results.append({**result, "label": f"raw SQL UPDATE, the floor ({args.customers:,})"})
    print(results[-1], flush=True)
    reset(tenant_id)
    naive = measure(args.url, "naive", NAIVE_ROWS, args.batch_size)
    results.append({**naive, "label": f"naive save() loop ({NAIVE_ROWS:,})"})
    print(results[-1], flush=True)
    extrapolated = naive["seconds"] * args.customers / naive["rows"]

    command = next(
        r
        for r in results
        if r["label"].endswith(f"({args.customers:,})") and r["mode"] == "command"
    )
    raw = next(r for r in results if r["mode"] == "raw")
    report = "\n".join(
        [
            table(results, args.customers),
            "",
            f"- naive loop extrapolated to {args.customers:,} rows: {extrapolated:,.0f} s",
            f"- assign_restriction vs raw UPDATE: {command['seconds'] / raw['seconds']:.2f}x "
            "(it also writes one audit row per change)",
            f"- assign_restriction vs naive loop: {extrapolated / command['seconds']:.0f}x faster",
            f"- machine: {machine()}",
            f"- batch size {args.batch_size}; measured {datetime.now(UTC):%Y-%m-%d}",
        ]
    )
    print(report)
    if args.write_docs:
        write_docs_section("bench", report)


if __name__ == "__main__":
    main()
