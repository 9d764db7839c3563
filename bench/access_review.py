"""What an access review costs at size, on PostgreSQL (not part of the test run).

    python bench/access_review.py [--identities 2000] [--write-docs]

One tenant of N identities: N/2 employees in ten access groups each and N/2 API clients with ten
scopes each, so 10 x N review lines. Measured through the project's services and the back
office's own pages (Django's test client, signed in as a tenant administrator): starting the
review (the snapshot), the first page of its lines and a filtered page, "select all" + Keep of
one reviewer's lines, and the CSV report.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from bulk_assign import ensure_database, machine, setup_django, write_docs_section

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_reviews"
TENANT = "revbench"
SCOPES = ["customer.customer_read", "customer.customer_manage"]


def seed(identities: int):
    from django.contrib.auth.hashers import make_password

    from accounts.models import AccessGroup, ApiClient, Employee
    from tenancy.models import Restriction, Tenant

    tenant, _ = Tenant.objects.get_or_create(code=TENANT, defaults={"name": "bench"})
    codes = [f"R{n}" for n in range(10)]
    for code in codes:
        Restriction.objects.get_or_create(tenant=tenant, code=code)
    admins, _ = AccessGroup.objects.get_or_create(
        tenant=tenant, name="admins", defaults={"scopes": [*SCOPES, "tenant.tenant_manage"]}
    )
    groups = [
        AccessGroup.objects.get_or_create(
            tenant=tenant, name=f"group-{code}", defaults={"scopes": SCOPES, "restrictions": [code]}
        )[0]
        for code in codes
    ]
    reviewers = []
    for name in ("reviewer1", "reviewer2"):
        employee, _ = Employee.objects.get_or_create(
            username=name, defaults={"tenant": tenant, "is_staff": True}
        )
        employee.set_password("bench-password")
        employee.save()
        employee.access_groups.set([admins])
        reviewers.append(employee)
    half = identities // 2
    if Employee.objects.filter(tenant=tenant).count() < half + 2:
        password = make_password(None)
        Employee.objects.bulk_create(
            Employee(tenant=tenant, username=f"bench-{n}", password=password, is_staff=True)
            for n in range(half)
        )
        through = Employee.access_groups.through
        staff = Employee.objects.filter(tenant=tenant, username__startswith="bench-")
        through.objects.bulk_create(
            through(employee_id=pk, accessgroup_id=group.pk)
            for pk in staff.values_list("pk", flat=True)
            for group in groups
        )
        scopes = [f"{base}--{code}" for base in SCOPES for code in codes[:5]]
        ApiClient.objects.bulk_create(
            ApiClient(tenant=tenant, name=f"client-{n}", client_id=f"cl_bench{n}", scopes=scopes)
            for n in range(half)
        )
    return tenant, reviewers


def timed(function):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        start = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - start
    return result, seconds, len(captured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=2000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--write-docs", action="store_true")
    options = parser.parse_args()
    ensure_database(options.database_url)
    setup_django(options.database_url)

    from django.core.management import call_command
    from django.test import Client

    from accounts import rowsecurity
    from accounts.models import AccessReview, AccessReviewLine
    from accounts.principal import Principal
    from accounts.services.reviews import access_review_start
    from core.channels import Channel

    call_command("migrate", verbosity=0)
    rowsecurity.stand(rowsecurity.ALL_TENANTS)
    tenant, reviewers = seed(options.identities)
    AccessReview.objects.filter(tenant=tenant).delete()
    actor = Principal.for_employee(reviewers[0], tenant)
    review, start_seconds, start_queries = timed(
        lambda: access_review_start(
            actor=actor, channel=Channel.ADMIN, tenant=tenant, reviewers=reviewers
        )
    )
    lines = AccessReviewLine.objects.filter(review=review).count()
    browser = Client()
    browser.force_login(reviewers[0])
    base = f"/admin/accounts/accessreviewline/?review__id__exact={review.pk}"
    rows = []

    def page(url, label):
        browser.get(url)  # (warm)
        response, seconds, queries = timed(lambda: browser.get(url))
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        rows.append((label, seconds * 1000, queries))

    page(base, "lines, page 1 (100 of all)")
    page(f"{base}&restriction=R3&decision=undecided", "lines filtered by restriction and decision")
    page(f"{base}&p=50", "lines, page 50")
    mine = AccessReviewLine.objects.filter(review=review, reviewer=reviewers[0])
    first = mine.values_list("pk", flat=True).first()
    response, keep_seconds, keep_queries = timed(
        lambda: browser.post(
            f"{base}&reviewer__id__exact={reviewers[0].pk}",
            {"action": "keep", "select_across": "1", "_selected_action": [first]},
        )
    )
    kept = AccessReviewLine.objects.filter(review=review, decision="keep").count()
    tracemalloc.start()
    response, csv_seconds, csv_queries = timed(
        lambda: browser.get(f"/admin/accounts/accessreview/{review.pk}/report.csv")
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report = "\n".join(
        [
            "| step | ms | queries |",
            "| --- | ---: | ---: |",
            f"| start the review: snapshot of {lines:,} lines | {start_seconds * 1000:,.0f} | "
            f"{start_queries} |",
            *(f"| {label} | {ms:,.1f} | {queries} |" for label, ms, queries in rows),
            f"| select all + Keep: {kept:,} lines of one reviewer | {keep_seconds * 1000:,.0f} | "
            f"{keep_queries} |",
            f"| CSV report of {lines:,} lines ({len(response.content) / 1e6:.1f} MB, peak "
            f"{peak / 1e6:.0f} MB traced) | {csv_seconds * 1000:,.0f} | {csv_queries} |",
            "",
            f"- {options.identities:,} identities: {options.identities // 2:,} employees in ten "
            f"groups, {options.identities // 2:,} API clients with ten scopes; two reviewers",
            f"- machine: {machine()}",
        ]
    )
    print(report)
    if options.write_docs:
        write_docs_section("review-bench", report)


if __name__ == "__main__":
    main()
