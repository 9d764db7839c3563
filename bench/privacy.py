"""Personal-data benchmark on PostgreSQL, as production runs it (the service role under the row
policies; not part of the test run):

1. **The read-access log's cost**: a list page of 60 and a get by number through the API views,
   with the log written and with it switched off, interleaved in the same process and rounds.
2. **"Who read this customer" at volume**: ``--log-rows`` generated lines in the log (100
   million by default; built once with ``generate_series``, indexes after, reused while the
   count matches), then one customer's page of reads and one identity's page, as an auditor.
3. **Bulk erasure**: ``--erase`` customers of a tenant of ``--customers`` erased in batches of
   ``BULK_JOB_BATCH_SIZE`` as the background job does it, with the process's peak memory.

    python bench/privacy.py [--customers 1000000] [--log-rows 100000000] [--erase 10000]
                            [--rounds 200] [--write-docs]

The data set of ``bench/read_path.py`` (its ``load``) is built in database ``bench_privacy``:
one tenant ``bench`` of ``--customers`` customers and 100 small tenants.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import secrets
import statistics
import time
from datetime import UTC, datetime

from bulk_assign import ensure_database, machine, setup_django, write_docs_section
from read_path import (
    BIG,
    bearer,
    call,
    load,
    p95,
    prepare_roles,
    timed,
    with_the_journal,
    without_the_read_log,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_privacy"
SMALL_TENANTS = 100
ACTORS = 1000  # the identities the generated reads are spread over


def superuser_sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


LOG_TABLES = (
    "customers_customerview",
    "customers_customererasure",
    "customers_privacyexport",
    "customers_massreadalert",
)


def clear_logs_for_a_reload(url: str, expected: int) -> None:
    """Before ``load`` rebuilds the customers (deleting the tenants through Django), empty the
    log tables at once: a cascade over 100 million lines would take hours."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        exists = connection.execute("SELECT to_regclass('customers_customer')").fetchone()[0]
        if exists is None:
            return
        have = connection.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
        if have != expected:
            connection.execute(f"TRUNCATE {', '.join(LOG_TABLES)}")


def build_log(url: str, rows: int, customers: int) -> float:
    """``rows`` lines in the read-access log of tenant ``bench`` (every customer read about
    rows/customers times, by ACTORS API clients, over the last 90 days); seconds taken."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        generated = "actor_id LIKE 'cl\\_bench%%'"
        have = connection.execute(
            f"SELECT count(*) FROM customers_customerview WHERE {generated}"
        ).fetchone()[0]
        if have == rows:
            # (what earlier runs' own requests added goes; the generated lines stay)
            connection.execute(f"DELETE FROM customers_customerview WHERE NOT {generated}")
            print(f"reusing {rows:,} log lines", flush=True)
            return 0.0
        tenant = connection.execute("SELECT id FROM tenancy_tenant WHERE code = %s", [BIG])
        tenant_id = tenant.fetchone()[0]
        started = time.perf_counter()
        print(f"writing {rows:,} log lines ...", flush=True)
        connection.execute("TRUNCATE customers_customerview")
        # The monthly partitions the lines are filed into (kept 730 days from their read, over
        # the span the generated reads cover); their indexes are built after the lines.
        from datetime import timedelta

        from customers import read_log_store

        today = datetime.now(UTC).date()
        span = timedelta(seconds=rows * 0.08) + timedelta(days=1)
        read_log_store.make_months(
            today + timedelta(days=730) - span, today + timedelta(days=730 + 1)
        )
        indexes = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [read_log_store.FILED],
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f"DROP INDEX {name}")
        step = 10_000_000
        for first in range(0, rows, step):
            last = min(rows, first + step) - 1
            connection.execute(
                """
                INSERT INTO customers_customerview (tenant_id, customer_number, viewed_at,
                  actor_kind, actor_id, actor_name, channel, how, expanded, purpose, keep_until,
                  filed)
                SELECT %s, 'B' || lpad((i %% %s)::text, 9, '0'), at, 'api_client',
                  'cl_bench' || (i %% %s), 'bench reader ' || (i %% %s), 'api',
                  CASE WHEN i %% 7 = 0 THEN 'get' ELSE 'list' END, '', '',
                  (at + interval '730 days')::date, true
                FROM generate_series(%s::bigint, %s::bigint) AS i,
                  LATERAL (SELECT now() - make_interval(secs => (%s - i) * 0.08) AS at) AS read
                """,
                [tenant_id, customers, ACTORS, ACTORS, first, last, rows],
            )
            print(f"  {last + 1:,}", flush=True)
        for _, definition in indexes:
            # (pg_indexes gives a partitioned table's index "ON ONLY" it: made so, the months
            # would get none)
            connection.execute(definition.replace(" ON ONLY ", " ON "))
        connection.execute("VACUUM ANALYZE customers_customerview")
        return time.perf_counter() - started


def measure(cases, rounds: int) -> dict[str, tuple[float, float]]:
    """Interleaved: each round calls every case once, the order turning; after a warm-up."""
    samples: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _, fn in cases:
        fn()
    for round_number in range(rounds):
        ordered = cases if round_number % 2 else list(reversed(cases))
        for label, fn in ordered:
            samples[label].append(timed(fn))
    return {label: (statistics.median(v), p95(v)) for label, v in samples.items()}


def tokens() -> dict[str, dict[str, str]]:
    """The bench's API clients and their bearer headers (made before the service role takes
    over the connection: creating a client is the operator's, for the whole tenant)."""
    scopes = {
        "reader": ["customer.customer_read"],
        "auditor": ["audit.audit_read"],
        "de_auditor": ["audit.audit_read--DE"],
    }
    return {name: {"HTTP_AUTHORIZATION": bearer(BIG, held)} for name, held in scopes.items()}


def read_log_cost(rounds: int, customers: int, headers: dict) -> str:
    from customers.api.customers import CustomerCollectionApi, CustomerDetailApi

    list_view, detail_view = CustomerCollectionApi.as_view(), CustomerDetailApi.as_view()
    reader = headers["reader"]
    path = f"/customer/{BIG}/customers"
    number = f"B{customers // 3:09d}"

    def page():
        return call(list_view, path, {}, reader, tenant=BIG)

    def one():
        return call(detail_view, f"{path}/{number}", {}, reader, tenant=BIG, customerNumber=number)

    results = measure(
        [
            ("page, journal", with_the_journal(page)),
            ("page, logged", page),
            ("page, not logged", without_the_read_log(page)),
            ("get, journal", with_the_journal(one)),
            ("get, logged", one),
            ("get, not logged", without_the_read_log(one)),
        ],
        rounds,
    )
    lines = [
        "| request | journal p50 / p95 (ms) | written by the read p50 / p95 (ms) "
        "| not logged p50 / p95 (ms) | cost with the journal | cost written by the read |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for what, label in (("list page 1 (60 customers)", "page"), ("get by number", "get")):
        journal, on, off = (results[f"{label}, {way}"] for way in WAYS)
        lines.append(
            f"| {what} | {journal[0]:.2f} / {journal[1]:.2f} | {on[0]:.2f} / {on[1]:.2f} | "
            f"{off[0]:.2f} / {off[1]:.2f} | {(journal[0] / off[0] - 1) * 100:+.1f} % | "
            f"{(on[0] / off[0] - 1) * 100:+.1f} % |"
        )
    return "\n".join(lines)


WAYS = ("journal", "logged", "not logged")


def views_pages(rounds: int, customers: int, rows: int, headers: dict) -> str:
    from customers.api.audit import CustomerViewListApi, CustomerViewsOfCustomerApi

    auditor, de_auditor = headers["auditor"], headers["de_auditor"]
    number = f"B{customers // 2:09d}"  # (a DE customer: 500,000 % 4 == 0)
    of_customer, of_tenant = CustomerViewsOfCustomerApi.as_view(), CustomerViewListApi.as_view()
    customer_path = f"/customer/{BIG}/customers/{number}/views"

    def customer_page(headers):
        return lambda: call(
            of_customer, customer_path, {}, headers, tenant=BIG, customerNumber=number
        )

    def actor_page(params):
        return lambda: call(of_tenant, f"/iam/{BIG}/views", params, auditor, tenant=BIG)

    results = measure(
        [
            ("one customer's reads (page of 100)", customer_page(auditor)),
            ("the same, suffixed auditor (--DE)", customer_page(de_auditor)),
            ("one identity's reads, by id", actor_page({"actor": "cl_bench7"})),
            ("one identity's reads, by name", actor_page({"actor": "bench reader 7"})),
            ("the newest reads of the tenant", actor_page({})),
        ],
        rounds,
    )
    lines = [
        f"With {rows:,} lines in the log ({rows // customers:,} reads of each customer, "
        f"{rows // ACTORS:,} by each of {ACTORS:,} identities):",
        "",
        "| request | p50 (ms) | p95 (ms) |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {label} | {p50:.1f} | {p95_:.1f} |" for label, (p50, p95_) in results.items()]
    return "\n".join(lines)


def bulk_erasure(url: str, count: int, customers: int) -> str:
    from django.conf import settings

    from accounts.principal import Principal
    from core.channels import Channel
    from customers.models import Customer
    from customers.services import privacy, run_in_batches
    from tenancy.models import Tenant

    tenant = Tenant.objects.using("stock").get(code=BIG)
    officer = Principal.operator(tenant, "bench privacy officer")
    # The last ``count`` customers of the tenant (their numbers are not used above).
    ids = list(
        Customer.objects.using("stock")
        .filter(tenant=tenant)
        .order_by("-pk")
        .values_list("pk", flat=True)[:count]
    )
    if len(ids) < count:
        return "(not enough customers left to erase: rebuild the data set)"
    batch_size = settings.BULK_JOB_BATCH_SIZE
    # Kept aside as the superuser, put back afterwards: the next run finds the same data set.
    keep = ",".join(str(pk) for pk in ids)
    superuser_sql(
        url,
        "DROP TABLE IF EXISTS bench_erased_customers, bench_erased_addresses",
        f"CREATE TABLE bench_erased_customers AS SELECT * FROM customers_customer "
        f"WHERE id IN ({keep})",
        "ALTER TABLE bench_erased_customers DROP COLUMN restriction_key",  # (generated)
        f"CREATE TABLE bench_erased_addresses AS SELECT * FROM customers_address "
        f"WHERE customer_id IN ({keep})",
    )
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    ordered = sorted(ids)

    def step(last_pk: int):
        batch = [pk for pk in ordered if pk > last_pk][:batch_size]
        if not batch:
            return 0, 0, None
        erased = privacy.customers_erase(
            actor=officer,
            channel=Channel.COMMAND,
            customers=Customer.objects.filter(pk__in=batch),
            reason="bench",
        )
        return len(batch), erased, batch[-1]

    result = run_in_batches(step)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    superuser_sql(
        url,
        "INSERT INTO customers_customer SELECT * FROM bench_erased_customers",
        "INSERT INTO customers_address SELECT * FROM bench_erased_addresses",
        "DELETE FROM customers_customererasure WHERE reason = 'bench'",
        "DELETE FROM customers_deletedcustomernumber WHERE customer_number IN "
        "(SELECT customer_number FROM bench_erased_customers)",
        "DROP TABLE bench_erased_customers, bench_erased_addresses",
    )
    return (
        f"{result.changed:,} customers erased in {result.batches} batches of {batch_size:,} in "
        f"**{seconds:.1f} s** ({result.changed / seconds:,.0f} per second), in a tenant of "
        f"{customers:,}; the process's peak memory grew by {(peak - before) / 1024:.0f} MiB "
        f"(from {before / 1024:.0f} MiB)."
    )


PARTS = ("cost", "views", "erasure")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--log-rows", type=int, default=100_000_000)
    parser.add_argument("--erase", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--url", default=os.environ.get("BENCH_PRIVACY_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to measure (and write): the log's cost, the audit pages at --log-rows, "
        "bulk erasure",
    )
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    os.environ.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(40))
    os.environ["JWT_SIGNING_KEY"] = secrets.token_urlsafe(40)
    ensure_database(args.url)
    setup_django(args.url)
    clear_logs_for_a_reload(args.url, args.customers + SMALL_TENANTS * 100)
    load(args.customers, SMALL_TENANTS)
    built = build_log(args.url, args.log_rows, args.customers) if "views" in args.parts else 0
    headers = tokens()

    import dj_database_url
    from django.db import connections

    from accounts import rowsecurity

    service = dj_database_url.parse(prepare_roles(args.url))
    superuser_sql(args.url, "GRANT SELECT ON customers_customer TO bench_search")
    connections.settings["stock"] = dict(connections.settings["default"])
    connections["default"].close()
    connections.settings["default"].update(USER=service["USER"], PASSWORD=service["PASSWORD"])
    rowsecurity.stand(rowsecurity.ALL_TENANTS, using="stock")

    # The worker files the log's inbox within seconds; here nothing runs it, so the lines the
    # earlier requests left wait there: filed first, as in production.
    from customers import read_log_store

    read_log_store.file_inbox()
    superuser_sql(args.url, "ANALYZE customers_customerview")
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    measured = (
        f"Measured {when} on {machine()}, PostgreSQL as the service role under the row "
        f"policies, {args.rounds} interleaved rounds (`python bench/privacy.py"
    )
    report, cost = [], None
    if "views" in args.parts:
        views = views_pages(args.rounds, args.customers, args.log_rows, headers)
        print(views, flush=True)
        built_note = f"\n\n(The log was generated in {built / 60:.0f} min.)" if built else ""
        report += ["**Who read a customer** (the audit API's pages):", views + built_note]
    if "cost" in args.parts:  # (before the erasure, which changes the tenant's first page)
        cost = read_log_cost(args.rounds, args.customers, headers)
        print(cost, flush=True)
    if "erasure" in args.parts:
        erasure = bulk_erasure(args.url, args.erase, args.customers)
        print(erasure, flush=True)
        report += ["**Bulk erasure** (as the background job runs it):", erasure]
    if not args.write_docs:
        return
    if report:
        parts = " ".join(part for part in args.parts if part != "cost")
        write_docs_section(
            "privacy-bench", "\n\n".join([f"{measured} --parts {parts}`).", *report])
        )
    if cost is not None:
        write_docs_section(
            "read-log-cost-bench",
            f"{measured} --parts cost`), tenant of {args.customers:,} customers; the same "
            f"requests with the log switched off:\n\n{cost}",
        )


if __name__ == "__main__":
    main()
