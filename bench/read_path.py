"""Read-path benchmark on PostgreSQL: the project's list and detail endpoints against a stock
DRF baseline on the same rows, in the same process, interleaved (not part of the test run).

    python bench/read_path.py [--customers 20000 100000 1000000] [--rounds 150] [--write-docs]

Data, per size N (generated once with COPY into its own database ``bench_read_N``, reused while
it matches): one tenant of N customers (restrictions DE, FR, US and none, a quarter each; three
in five with a default address, one in five with a second one) and 1,000 small tenants of 100
customers, their rows interleaved with the big tenant's (as customers arrive over time); one
small tenant is also loaded alone into a second database for the "alone" comparison. Each size
is measured in a process of its own.

As production runs it: the project's side connects as a service role (neither superuser nor
``BYPASSRLS``) under the row-level security policies, with the search role owning the search
and count functions; the stock side connects as the superuser (no policies) on a second
connection of the same process. Both sides are called through DRF's request factory and
rendered to bytes, without the middleware: the project's views with a bearer token
(authentication, scope check, restriction filter, documents), the baseline as
``ListAPIView``/``RetrieveAPIView`` + ``ModelSerializer`` of every field, no authentication,
the same filter written by hand. p50 and p95 in milliseconds; queries per request from one
extra call. The project's requests write the read-access log through its journal
(``READ_LOG_JOURNAL``, as production runs it, shipped by the process's own thread). The rows
"read log written by the read" repeat list page 1 and the get with the log's lines written by
the request into the database instead, and the rows "read log off" with the log switched off,
against the same baselines: what row security and the rest cost apart from the log.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bulk_assign import ROOT, ensure_database, machine, setup_django, write_docs_section

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_read"
ALONE_URL_SUFFIX = "_alone"
STOCK = "stock"  # the baseline's connection: the superuser, whom the policies do not bind
SERVICE, SEARCH = "bench_service", "bench_search"
SIZES = (20_000, 100_000, 1_000_000)
BIG = "bench"
SMALL_TENANTS = 1000
SMALL_SIZE = 100
PAGE = 60
DEEP_OFFSET = 500_000
RESTRICTIONS = ("DE", "FR", "US", None)
SEARCHED = "Customer12345"  # a few rows: the trigram index finds them
BROAD = "Customer1"  # about a ninth of the rows: found in index order with a filter
LOG_OFF = "read log off"
BY_THE_READ = "read log written by the read (no journal)"


# -- data ---------------------------------------------------------------------------------------


def load(customers: int, small_tenants: int) -> None:
    """(Re)build the data set unless the database already holds exactly it."""
    from django.core.management import call_command
    from django.db import connection

    from customers.models import Customer
    from tenancy.models import Tenant
    from tenancy.services import tenant_create

    call_command("migrate", verbosity=0)
    big = Tenant.objects.filter(code=BIG).first()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM customers_address")
        if not cursor.fetchone()[0]:
            big = None  # (a data set of before the addresses)
    expected = customers + small_tenants * SMALL_SIZE
    if big is not None and Customer.objects.count() == expected:
        print(f"reusing {expected:,} customers")
        return
    print(f"loading {expected:,} customers ...", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE customers_customer CASCADE")
    Tenant.objects.all().delete()
    restrictions = ["DE", "FR", "US"]
    big = tenant_create(code=BIG, name="Big", restrictions=restrictions, sites=restrictions)
    small = [
        tenant_create(code=f"s{i:04d}", name="Small", restrictions=restrictions, sites=[])
        for i in range(small_tenants)
    ]
    rows = _interleaved(big.pk, [t.pk for t in small], customers)
    _copy(connection, rows)
    with connection.cursor() as cursor:
        # three in five customers with a default address, one in five with a second address
        cursor.execute(
            """
            INSERT INTO customers_address (tenant_id, customer_id, customer_restriction,
              address_id, contact_name, street, zip_code, city, country, tags, is_default,
              version, created_at, modified_at, mixins, metadata_mixins)
            SELECT c.tenant_id, c.id, c.restriction_key, 'a' || c.id || '-' || k,
              'Contact ' || c.id, 'Main St',
              '10115', 'Berlin', 'DE', '["home"]', k = 1, 1, now(), now(), '{}', '{}'
            FROM customers_customer c, generate_series(1, 2) AS k
            WHERE c.id % 5 < 3 AND k = 1 OR c.id % 5 = 0 AND k = 2
            """
        )
        cursor.execute("VACUUM ANALYZE customers_customer")
        cursor.execute("VACUUM ANALYZE customers_address")
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)


def _interleaved(big_id: int, small_ids: list[int], customers: int):
    """Rows in arrival order: every 11th row (while they last) belongs to a small tenant."""
    small_rows = [(tenant_id, n) for n in range(SMALL_SIZE) for tenant_id in small_ids]
    big_done = 0
    for position in range(customers + len(small_rows)):
        if position % 11 == 10 and small_rows:
            tenant_id, n = small_rows.pop()
            yield tenant_id, f"S{n:05d}", RESTRICTIONS[n % 4], n
        elif big_done < customers:
            yield big_id, f"B{big_done:09d}", RESTRICTIONS[big_done % 4], big_done
            big_done += 1
        else:
            tenant_id, n = small_rows.pop()
            yield tenant_id, f"S{n:05d}", RESTRICTIONS[n % 4], n


def _copy(connection, rows) -> None:
    from customers.models import Customer

    columns = (
        "tenant_id, customer_number, restriction, first_name, last_name, contact_email, "
        "preferred_language, preferred_currency, preferred_site, type, active, on_hold, "
        "version, created_at, modified_at, mixins, metadata_mixins, b2b_legal_entities"
    )
    now = datetime.now(UTC)
    table = Customer._meta.db_table
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for tenant_id, number, restriction, n in rows:
            copy.write_row(
                (
                    tenant_id,
                    number,
                    restriction,
                    "Bench",
                    f"Customer{n}",
                    f"c{n}@example.com",
                    "en_US",
                    "EUR",
                    "main",
                    "CUSTOMER",
                    True,
                    False,
                    1,
                    now,
                    now,
                    '{"loyalty": {"tier": "gold"}}',
                    "{}",
                    "[]",
                )
            )


# -- the two connections -------------------------------------------------------------------------


def prepare_roles(url: str) -> str:
    """(Re)make the two roles of production in the (migrated) database: ``bench_service`` (login,
    neither superuser nor BYPASSRLS, row privileges only) and ``bench_search`` (no login,
    BYPASSRLS), which owns the search and count functions. Returns the service role's URL."""
    import psycopg

    password = secrets.token_hex(16)
    with psycopg.connect(url, autocommit=True) as connection:
        for role, attributes in (
            (SERVICE, f"LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{password}'"),
            (SEARCH, "NOLOGIN NOSUPERUSER BYPASSRLS"),
        ):
            exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            verb = "ALTER" if exists.fetchone() else "CREATE"
            connection.execute(f"{verb} ROLE {role} {attributes}")
        for statement in (
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {SERVICE}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {SERVICE}",
            f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {SERVICE}",
            f"GRANT SELECT ON customers_customer TO {SEARCH}",
            f"ALTER FUNCTION customers_matching_ids(text, text, text) OWNER TO {SEARCH}",
            f"ALTER FUNCTION customers_visible_count(text) OWNER TO {SEARCH}",
        ):
            connection.execute(statement)
    user_and_host = url.split("://", 1)[1].split("@", 1)[1]
    return f"postgres://{SERVICE}:{password}@{user_and_host}"


def serve_as_service_role(url: str) -> None:
    """From here on the process's default connection is the service role's, under the
    policies, as production's; the superuser's stays open as ``stock`` for the baseline and
    the set-up's own reads."""
    import dj_database_url
    from django.db import connections

    service = dj_database_url.parse(prepare_roles(url))
    default = connections.settings["default"]
    connections.settings[STOCK] = dict(default)
    connections["default"].close()
    default.update(USER=service["USER"], PASSWORD=service["PASSWORD"])


# -- the two sides ------------------------------------------------------------------------------


def baseline_views():
    from rest_framework import generics, pagination, serializers
    from rest_framework.permissions import AllowAny
    from rest_framework.renderers import JSONRenderer

    from customers.models import Customer
    from tenancy.models import Tenant

    class CustomerModelSerializer(serializers.ModelSerializer):
        class Meta:
            model = Customer
            fields = "__all__"

    class Base:
        serializer_class = CustomerModelSerializer
        authentication_classes: list = []
        permission_classes = [AllowAny]
        renderer_classes = [JSONRenderer]  # (stock: DRF's, not the project's orjson one)

        def get_queryset(self):
            tenant = Tenant.objects.using(STOCK).get(code=self.kwargs["tenant"])
            queryset = Customer.objects.using(STOCK).filter(tenant=tenant).order_by("pk")
            restriction = self.request.query_params.get("restriction")
            if restriction:
                queryset = queryset.filter(restriction=restriction)
            last_name = self.request.query_params.get("last_name_regex")
            if last_name:
                queryset = queryset.filter(last_name__regex=last_name)
            return queryset

    class Slice(Base, generics.ListAPIView):
        """No count: the page by offset and limit."""

        def get_queryset(self):
            offset = int(self.request.query_params.get("offset", 0))
            return super().get_queryset()[offset : offset + PAGE]

    class Paged(Base, generics.ListAPIView):
        """DRF's page-number pagination, which always counts."""

        pagination_class = type("Sixty", (pagination.PageNumberPagination,), {"page_size": PAGE})

    class Detail(Base, generics.RetrieveAPIView):
        lookup_field = "customer_number"

    return Slice.as_view(), Paged.as_view(), Detail.as_view()


def project_views():
    from customers.api.customers import CustomerCollectionApi, CustomerDetailApi

    return CustomerCollectionApi.as_view(), CustomerDetailApi.as_view()


def bearer(tenant_code: str, scopes: list[str]) -> str:
    from accounts import rowsecurity
    from accounts.models import ApiClient
    from accounts.principal import Principal
    from accounts.services.identities import api_client_create
    from accounts.tokens import CLIENT_SUBJECT_PREFIX, issue_token
    from core.channels import Channel
    from tenancy.models import Tenant

    tenant = Tenant.objects.get(code=tenant_code)
    name = f"bench-{'-'.join(scopes)}"
    operator = Principal.operator(tenant, "bench")
    # (as the service role, identities are behind row-level security: the tenant's operator)
    with rowsecurity.row_context(rowsecurity.RowContext.of(operator), using="default"):
        client = ApiClient.objects.filter(tenant=tenant, name=name).first()
        if client is None:
            client = api_client_create(
                actor=operator, channel=Channel.COMMAND, tenant=tenant, name=name, scopes=scopes
            ).client
    token = issue_token(
        subject=f"{CLIENT_SUBJECT_PREFIX}{client.client_id}",
        tenant_code=tenant.code,
        scopes=scopes,
        generation=client.token_generation,
    )
    return f"Bearer {token.access_token}"


def call(view, path: str, params: dict, headers: dict, **kwargs) -> bytes:
    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().get(path, params, **headers)
    response = view(request, **kwargs)
    response.render()
    if response.status_code != 200:
        raise RuntimeError(f"{path} {params}: {response.status_code} {response.content[:300]!r}")
    return response.content


JOURNAL = Path(tempfile.gettempdir()) / "bench-read-log-journal"


def with_the_journal(fn):
    """The same request with the read log's journal on (``READ_LOG_JOURNAL``, as production
    runs it): its lines flushed to this machine's disk before the answer is complete, and
    shipped into the log's inbox every second by the process's own thread, as in a server."""
    from django.conf import settings

    from customers import read_log_journal

    def run():
        settings.READ_LOG_JOURNAL = str(JOURNAL)
        try:
            # (as its middleware does around every request: the flush beside the rest)
            with read_log_journal.answer_waits_for_the_disk():
                return fn()
        finally:
            settings.READ_LOG_JOURNAL = ""

    return run


def without_the_read_log(fn):
    """The same request with the read-access log switched off: what row security and the
    rest cost, apart from the log's durable write (docs/benchmarks.md, "Personal data")."""
    from customers.api import common

    record = common.record

    def run():
        common.record = lambda *args, **kwargs: 0
        try:
            return fn()
        finally:
            common.record = record

    return run


def scenarios(customers: int, deep: int):
    """(label, project call, baseline call or None) — each call returns the body."""
    from customers.api.paging import make_cursor
    from customers.models import Customer

    list_view, detail_view = project_views()
    slice_view, paged_view, detail_baseline = baseline_views()
    everyone = {"HTTP_AUTHORIZATION": bearer(BIG, ["customer.customer_read"])}
    de_reader = {"HTTP_AUTHORIZATION": bearer(BIG, ["customer.customer_read--DE"])}
    count_header = {"HTTP_X_TOTAL_COUNT": "true"}
    counted = {**de_reader, **count_header}
    small_code = f"s{SMALL_TENANTS // 2:04d}"
    small_reader = {"HTTP_AUTHORIZATION": bearer(small_code, ["customer.customer_read"])}
    big_path = f"/customer/{BIG}/customers"
    deep_page = deep // PAGE + 1
    big_pks = Customer.objects.using(STOCK).filter(tenant__code=BIG).order_by("pk")
    deep_pk = big_pks.values_list("pk", flat=True)[deep - 1]
    deep_cursor = make_cursor(big_pks.values_list("tenant_id", flat=True)[0], deep_pk)
    some_number = f"B{customers // 2:09d}"

    def project(view, path, params, headers, **kwargs):
        """As production runs it: the read log's journal on."""
        return with_the_journal(lambda: call(view, path, params, headers, **kwargs))

    def by_the_read(view, path, params, headers, **kwargs):
        return lambda: call(view, path, params, headers, **kwargs)

    def baseline(view, params, **kwargs):
        return lambda: call(view, "/baseline", params, {}, **kwargs)

    get_by_id, get_by_id_by_the_read = (
        way(
            detail_view,
            f"{big_path}/{some_number}",
            {},
            everyone,
            tenant=BIG,
            customer_number=some_number,
        )
        for way in (project, by_the_read)
    )
    get_baseline = baseline(detail_baseline, {}, tenant=BIG, customer_number=some_number)

    return [
        (
            "list page 1 (60), unrestricted reader",
            project(list_view, big_path, {}, everyone, tenant=BIG),
            baseline(slice_view, {}, tenant=BIG),
        ),
        (
            "list page 1, reader `--DE` (25 % of rows)",
            project(list_view, big_path, {}, de_reader, tenant=BIG),
            baseline(slice_view, {"restriction": "DE"}, tenant=BIG),
        ),
        (
            "list page 1, `--DE`, with `X-Total-Count` (baseline: DRF's counting pagination)",
            project(list_view, big_path, {}, counted, tenant=BIG),
            baseline(paged_view, {"restriction": "DE"}, tenant=BIG),
        ),
        (
            f"list page 1, unrestricted, with `X-Total-Count` ({customers:,} visible)",
            project(list_view, big_path, {}, {**everyone, **count_header}, tenant=BIG),
            baseline(paged_view, {}, tenant=BIG),
        ),
        (
            f"page at offset {deep:,} by `pageNumber`, unrestricted",
            project(list_view, big_path, {"pageNumber": deep_page}, everyone, tenant=BIG),
            baseline(slice_view, {"offset": deep}, tenant=BIG),
        ),
        (
            f"cursor page at depth {deep:,}, unrestricted",
            project(list_view, big_path, {"cursor": deep_cursor}, everyone, tenant=BIG),
            baseline(slice_view, {}, tenant=BIG),
        ),
        (
            f"small tenant ({SMALL_SIZE}) among {customers + SMALL_TENANTS * SMALL_SIZE:,} rows",
            project(
                list_view, f"/customer/{small_code}/customers", {}, small_reader, tenant=small_code
            ),
            None,
        ),
        (
            "search `lastName:~Customer12345` (trigram index), reader `--DE`",
            project(list_view, big_path, {"q": f"lastName:~{SEARCHED}"}, de_reader, tenant=BIG),
            baseline(slice_view, {"restriction": "DE", "last_name_regex": SEARCHED}, tenant=BIG),
        ),
        (
            "search `lastName:~^Customer1` (11 % of rows match), unrestricted reader",
            project(list_view, big_path, {"q": f"lastName:~^{BROAD}"}, everyone, tenant=BIG),
            baseline(slice_view, {"last_name_regex": f"^{BROAD}"}, tenant=BIG),
        ),
        ("GET by id", get_by_id, get_baseline),
        (
            f"{BY_THE_READ}: list page 1, unrestricted reader",
            by_the_read(list_view, big_path, {}, everyone, tenant=BIG),
            baseline(slice_view, {}, tenant=BIG),
        ),
        (f"{BY_THE_READ}: GET by id", get_by_id_by_the_read, get_baseline),
        (
            f"{LOG_OFF}: list page 1, unrestricted reader",
            without_the_read_log(by_the_read(list_view, big_path, {}, everyone, tenant=BIG)),
            baseline(slice_view, {}, tenant=BIG),
        ),
        (f"{LOG_OFF}: GET by id", without_the_read_log(get_by_id_by_the_read), get_baseline),
    ]


# -- measuring ----------------------------------------------------------------------------------


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def queries(fn, alias: str = "default") -> int:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections[alias]) as captured:
        fn()
    return len(captured)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def measure(cases, rounds: int) -> list[dict]:
    """Interleaved: every round calls every case's project and baseline side once (the order
    of the two alternating), after a warm-up round. The cases take a new order each round
    (shuffled, the same every run): a case that always followed the deep page by number found
    the caches it needs emptied by it, every round, and a case after a cheap one never did."""
    samples = {label: ([], []) for label, _, _ in cases}
    for fn in (f for _, p, b in cases for f in (p, b) if f is not None):
        fn()
    shuffler = random.Random(0)  # (an order, not a secret)
    for round_number in range(rounds):
        order = list(cases)
        shuffler.shuffle(order)
        for label, project, baseline in order:
            sides = (
                [(0, project), (1, baseline)] if round_number % 2 else [(1, baseline), (0, project)]
            )
            for index, fn in sides:
                if fn is not None:
                    samples[label][index].append(timed(fn))
    results = []
    for label, project, baseline in cases:
        mine, theirs = samples[label]
        results.append(
            {
                "label": label,
                "p50": statistics.median(mine),
                "p95": p95(mine),
                "queries": queries(project),
                "base_p50": statistics.median(theirs) if theirs else None,
                "base_p95": p95(theirs) if theirs else None,
                "base_queries": queries(baseline, STOCK) if baseline else None,
            }
        )
    return results


def project_only(customers: int, rounds: int, path: str) -> None:
    """The project's side of every scenario (data already loaded), as JSON. Connected as a role
    under row-level security, the set-up's own reads need a context: all tenants, for the
    whole process (each request binds its own inside its transaction, as in production)."""
    from django.db import connections

    from accounts import rowsecurity

    connections.settings[STOCK] = dict(connections.settings["default"])  # (the set-up's reads)
    for alias in ("default", STOCK):
        rowsecurity.stand(rowsecurity.ALL_TENANTS, using=alias)
    deep = min(DEEP_OFFSET, customers // 2)
    cases = [(label, project, None) for label, project, _ in scenarios(customers, deep)]
    results = measure(cases, rounds)
    Path(path).write_text(json.dumps(results))


def alone(url: str, rounds: int) -> dict:
    """The small tenant's list in a database that holds nothing else (its own process)."""
    out = subprocess.run(  # noqa: S603 - this script, with our own arguments
        [sys.executable, __file__, "--alone", "--url", url, "--rounds", str(rounds)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    p50, p95_, count = out.stdout.strip().splitlines()[-1].split()
    return {"p50": float(p50), "p95": float(p95_), "queries": int(count)}


def run_alone(url: str, rounds: int) -> None:
    load(0, 1)
    serve_as_service_role(url)
    from tenancy.models import Tenant

    list_view, _ = project_views()
    code = Tenant.objects.using(STOCK).exclude(code=BIG).get().code
    headers = {"HTTP_AUTHORIZATION": bearer(code, ["customer.customer_read"])}
    fn = lambda: call(list_view, f"/customer/{code}/customers", {}, headers, tenant=code)  # noqa: E731
    fn()
    values = [timed(fn) for _ in range(rounds)]
    print(f"{statistics.median(values):.3f} {p95(values):.3f} {queries(fn)}")


def report(results: list[dict], alone_result: dict, customers: int, deep: int) -> str:
    lines = [
        "| request | project p50 / p95 (ms) | queries | stock DRF p50 / p95 (ms) | queries | "
        "p50 ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    page_one = results[0]
    for r in results:
        if r["base_p50"] is None:
            base, ratio = "—", "—"
        else:
            base = f"{r['base_p50']:.1f} / {r['base_p95']:.1f} | {r['base_queries']}"
            ratio = f"{r['p50'] / r['base_p50']:.2f}x"
        base = base if r["base_p50"] is not None else "— | —"
        lines.append(
            f"| {r['label']} | {r['p50']:.1f} / {r['p95']:.1f} | {r['queries']} | {base} | "
            f"{ratio} |"
        )
    lines.append(
        f"| the same small tenant alone in its database | {alone_result['p50']:.1f} / "
        f"{alone_result['p95']:.1f} | {alone_result['queries']} | — | — | — |"
    )
    small = next(r for r in results if r["label"].startswith("small tenant"))
    counted = next(r for r in results if "unrestricted, with `X-Total-Count`" in r["label"])
    per_million = (counted["p50"] - page_one["p50"]) / customers * 1_000_000
    cursor = next(r for r in results if r["label"].startswith("cursor page"))

    def p50(label: str) -> float:
        return next(r["p50"] for r in results if r["label"] == label)

    def cost(logged: str, what: str) -> str:
        return f"{(p50(logged) / p50(f'{LOG_OFF}: {what}') - 1) * 100:+.1f} %"

    page, get = "list page 1, unrestricted reader", "GET by id"
    lines += [
        "",
        "- the read log's cost (p50 against the same request with the log off): list page 1 "
        f"{cost(page_one['label'], page)} with the journal, {cost(f'{BY_THE_READ}: {page}', page)} "
        f"written by the read; GET by id {cost(get, get)} with the journal, "
        f"{cost(f'{BY_THE_READ}: {get}', get)} written by the read",
        f"- cursor page at depth {deep:,} vs page 1: {cursor['p50'] / page_one['p50']:.2f}x",
        f"- small tenant among {customers + SMALL_TENANTS * SMALL_SIZE:,} rows vs alone: "
        f"{small['p50'] / alone_result['p50']:.2f}x",
        f"- `X-Total-Count` costs about {per_million:.0f} ms per million visible customers "
        "(the unrestricted count minus page 1)",
        "- p95 / p50 of the project's lists: "
        + ", ".join(
            f"{r['p95'] / r['p50']:.2f}"
            for r in results
            if "GET by id" not in r["label"]
            and not r["label"].startswith(("search", LOG_OFF, BY_THE_READ))
        ),
        f"- machine: {machine()}",
        f"- measured {datetime.now(UTC):%Y-%m-%d}",
    ]
    return "\n".join(lines)


def size_url(base: str, customers: int) -> str:
    """Each size's own database: ``bench_read_20000`` for 20,000 customers."""
    return f"{base}_{customers}"


def measure_size(url: str, customers: int, rounds: int) -> str:
    """One size, in this process: the data, the two connections, the interleaved run."""
    ensure_database(url)
    setup_django(url)
    load(customers, SMALL_TENANTS)
    alone_url = url + ALONE_URL_SUFFIX
    ensure_database(alone_url)
    alone_result = alone(alone_url, rounds)
    serve_as_service_role(url)
    gc.collect()
    deep = min(DEEP_OFFSET, customers // 2)
    results = measure(scenarios(customers, deep), rounds)
    return report(results, alone_result, customers, deep)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--url", default=os.environ.get("BENCH_READ_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size-report", help=argparse.SUPPRESS)
    parser.add_argument(
        "--json",
        help="Only the project's side, its results as JSON to this file (bench/row_security.py: "
        "the same requests with the row-level security policies on and off).",
    )
    args = parser.parse_args()
    # As in production: DEBUG off (no query log), hence real-looking secrets for this process.
    os.environ.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(40))
    os.environ["JWT_SIGNING_KEY"] = secrets.token_urlsafe(40)
    if args.alone:
        ensure_database(args.url)
        setup_django(args.url)
        run_alone(args.url, args.rounds)
        return
    if args.json:
        [customers] = args.customers
        setup_django(args.url)
        project_only(customers, args.rounds, args.json)
        return
    if args.size_report:
        [customers] = args.customers
        text = measure_size(args.url, customers, args.rounds)
        Path(args.size_report).write_text(text)
        return
    sections = []
    for customers in args.customers:
        with tempfile.NamedTemporaryFile(suffix=".md") as out:
            subprocess.run(  # noqa: S603 - this script, with our own arguments
                [
                    sys.executable,
                    __file__,
                    "--customers",
                    str(customers),
                    "--rounds",
                    str(args.rounds),
                    "--url",
                    size_url(args.url, customers),
                    "--size-report",
                    out.name,
                ],
                cwd=ROOT,
                check=True,
            )
            table = Path(out.name).read_text()
        sections.append(f"**A tenant of {customers:,} customers**\n\n{table}")
        print(sections[-1], flush=True)
    if args.write_docs:
        write_docs_section("read-bench", "\n\n".join(sections))


if __name__ == "__main__":
    main()
