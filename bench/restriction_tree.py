"""What a restriction tree costs a reader, on PostgreSQL (not part of the test run).

    python bench/restriction_tree.py [--customers 1000000] [--rounds 150] [--write-docs]

The read benchmark's data (bench/read_path.py: one tenant of N customers, DE, FR, US and none
a quarter each, among 1,000 small tenants), with EU placed over DE and FR in the big tenant.
A reader holding ``customer.customer_read--EU`` is measured against the same reader with
``--DE --FR`` spelled out (what --EU expands to, plus EU itself, which no customer carries):
page 1 and page 1 with ``X-Total-Count``, interleaved in one process through the project's
views. The ratio is the tree's cost; the flat figures are bench/read_path.py's.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets

from bulk_assign import ensure_database, machine, setup_django, write_docs_section
from read_path import BIG, DEFAULT_URL, SMALL_TENANTS, bearer, call, load, measure, project_views


def plant_tree() -> None:
    """EU over DE and FR in the big tenant (once; the data set is reused)."""
    from tenancy.models import Restriction, Tenant
    from tenancy.services import tree_changed

    tenant = Tenant.objects.get(code=BIG)
    top, _ = Restriction.objects.get_or_create(tenant=tenant, code="EU")
    below = Restriction.objects.filter(tenant=tenant, code__in=["DE", "FR"])
    if below.exclude(parent=top).exists():
        below.update(parent=top)
        tree_changed(tenant.pk)


def scenarios():
    list_view, _ = project_views()
    path = f"/customer/{BIG}/customers"
    tree = {"HTTP_AUTHORIZATION": bearer(BIG, ["customer.customer_read--EU"])}
    spelled = {
        "HTTP_AUTHORIZATION": bearer(
            BIG, ["customer.customer_read--DE", "customer.customer_read--FR"]
        )
    }
    count = {"HTTP_X_TOTAL_COUNT": "true"}

    def side(headers):
        return lambda: call(list_view, path, {}, headers, tenant=BIG)

    return [
        ("list page 1, `--EU` vs `--DE --FR`", side(tree), side(spelled)),
        (
            "list page 1 with `X-Total-Count` (half the rows), `--EU` vs `--DE --FR`",
            side({**tree, **count}),
            side({**spelled, **count}),
        ),
    ]


IDENTITIES = 2000  # for "who may see it?": half employees (in 10 groups), half API clients


def plant_identities() -> None:
    """1,000 employees in ten access groups and 1,000 API clients in the big tenant (once)."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import AccessGroup, ApiClient, Employee, hash_client_secret
    from tenancy.models import Tenant

    tenant = Tenant.objects.get(code=BIG)
    if Employee.objects.filter(tenant=tenant).count() >= IDENTITIES // 2:
        return
    values = ["EU", "DE", "FR", "US"]
    groups = [
        AccessGroup.objects.create(
            tenant=tenant,
            name=f"bench-{n}",
            scopes=["customer.customer_read", "customer.customer_manage"][: 1 + n % 2],
            restrictions=[values[n % 4]],
        )
        for n in range(10)
    ]
    unusable = make_password(None)  # nobody logs in as them
    employees = Employee.objects.bulk_create(
        Employee(tenant=tenant, username=f"bench-{n}", password=unusable, is_staff=True)
        for n in range(IDENTITIES // 2)
    )
    through = Employee.access_groups.through
    through.objects.bulk_create(
        through(employee_id=e.pk, accessgroup_id=groups[n % 10].pk) for n, e in enumerate(employees)
    )
    ApiClient.objects.bulk_create(
        ApiClient(
            tenant=tenant,
            name=f"bench-{n}",
            client_id=f"cl_bench_{n}",
            secret_hash=hash_client_secret(secrets.token_urlsafe(32)),
            scopes=[f"customer.customer_read--{values[n % 4]}"],
        )
        for n in range(IDENTITIES // 2)
    )


def who_may_see_ms(rounds: int = 7) -> tuple[float, int]:
    """Median milliseconds and queries of "who may see a DE customer?" for the big tenant."""
    import statistics

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from read_path import timed

    from customers.access import who_has_access
    from tenancy.models import Tenant

    tenant = Tenant.objects.get(code=BIG)
    run = lambda: who_has_access(tenant=tenant, restriction="DE")  # noqa: E731
    run()
    with CaptureQueriesContext(connection) as captured:
        answers = run()
    if len(answers) < IDENTITIES:
        raise SystemExit(f"expected {IDENTITIES} identities, found {len(answers)}")
    return statistics.median(timed(run) for _ in range(rounds)), len(captured)


def report(results: list[dict], customers: int, who: tuple[float, int]) -> str:
    lines = [
        "| request | tree `--EU` p50 / p95 (ms) | queries | spelled out p50 / p95 (ms) | "
        "queries | p50 ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['label']} | {r['p50']:.1f} / {r['p95']:.1f} | {r['queries']} | "
            f"{r['base_p50']:.1f} / {r['base_p95']:.1f} | {r['base_queries']} | "
            f"{r['p50'] / r['base_p50']:.2f}x |"
        )
    lines += [
        "",
        f"- who may see a DE customer, for {IDENTITIES:,} identities (1,000 employees in ten "
        f"groups, 1,000 API clients): {who[0]:.0f} ms, {who[1]} queries",
        f"- {customers:,} customers in the big tenant, EU over DE and FR",
        f"- machine: {machine()}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--url", default=os.environ.get("BENCH_READ_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    os.environ.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(40))
    os.environ["JWT_SIGNING_KEY"] = secrets.token_urlsafe(40)
    ensure_database(args.url)
    setup_django(args.url)
    load(args.customers, SMALL_TENANTS)
    plant_tree()
    plant_identities()
    gc.collect()
    results = measure(scenarios(), args.rounds)
    text = report(results, args.customers, who_may_see_ms())
    print(text)
    if args.write_docs:
        write_docs_section("tree-bench", text)


if __name__ == "__main__":
    main()
