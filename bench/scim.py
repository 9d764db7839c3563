"""What SCIM provisioning costs at size, on PostgreSQL (not part of the test run).

    python bench/scim.py [--employees 20000] [--write-docs]

One tenant of N employees, each in two of ten access groups, and one provisioning client with a
provisioning token. Measured through the real endpoints (Django's test client, the token in the
Authorization header, as an identity provider calls them): a page of 100 users with their
groups, a user found by userName, a group with and without its members, a new user, and a
patch that adds 100 members to a group.
"""

from __future__ import annotations

import argparse
import json
import time

from bulk_assign import ensure_database, machine, setup_django, write_docs_section

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_scim"
TENANT = "scimbench"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def seed(employees: int):
    from django.contrib.auth.hashers import make_password

    from accounts.models import AccessGroup, ApiClient, Employee
    from tenancy.models import Tenant

    tenant, _ = Tenant.objects.get_or_create(code=TENANT, defaults={"name": "bench"})
    groups = [
        AccessGroup.objects.get_or_create(
            tenant=tenant, name=f"team-{n}", defaults={"scopes": ["customer.customer_read"]}
        )[0]
        for n in range(10)
    ]
    if Employee.objects.filter(tenant=tenant).count() < employees:
        Employee.objects.filter(tenant=tenant).delete()
        password = make_password(None)
        Employee.objects.bulk_create(
            (
                Employee(
                    tenant=tenant,
                    username=f"person-{n}@bench.example",
                    email=f"person-{n}@bench.example",
                    password=password,
                    is_staff=True,
                )
                for n in range(employees)
            ),
            batch_size=5000,
        )
        through = Employee.access_groups.through
        pks = list(Employee.objects.filter(tenant=tenant).values_list("pk", flat=True))
        through.objects.bulk_create(
            (
                through(employee_id=pk, accessgroup_id=groups[(index + k) % 10].pk)
                for index, pk in enumerate(pks)
                for k in (0, 1)
            ),
            batch_size=10000,
        )
    client = ApiClient.objects.filter(tenant=tenant, name="provider").first()
    if client is None:
        client = ApiClient(tenant=tenant, name="provider", client_id="cl_scimbench")
        client.scopes = ["iam.scim_manage", "customer.customer_read"]
        client.rotate_secret()
        client.save()
    return tenant, client, groups


def timed(function, rounds: int = 5):
    """The median of ``rounds`` calls (after one to warm up), and the queries of one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    function()
    seconds = []
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = function()
            seconds.append(time.perf_counter() - start)
        if response.status_code >= 400:
            raise SystemExit(f"answered {response.status_code}: {response.content[:300]!r}")
    return sorted(seconds)[len(seconds) // 2] * 1000, len(captured), response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=20000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--write-docs", action="store_true")
    options = parser.parse_args()
    ensure_database(options.database_url)
    setup_django(options.database_url)

    from django.core.management import call_command
    from django.test import Client

    from accounts import rowsecurity
    from accounts.models import Employee
    from accounts.principal import Principal
    from accounts.services.identities import api_client_provisioning_token
    from core.channels import Channel

    call_command("migrate", verbosity=0)
    rowsecurity.stand(rowsecurity.ALL_TENANTS)
    tenant, client, groups = seed(options.employees)
    token = api_client_provisioning_token(
        actor=Principal.operator(tenant), channel=Channel.COMMAND, client_pk=client.pk
    ).access_token
    http = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    base = f"/scim/v2/{TENANT}"
    scim = "application/scim+json"
    rows = []

    def measure(label, function, rounds=5):
        ms, queries, response = timed(function, rounds)
        rows.append((label, ms, queries, len(response.content)))

    measure("list: a page of 100 users with their groups", lambda: http.get(f"{base}/Users"))
    measure(
        "list: page 150 (users 14,901 to 15,000)",
        lambda: http.get(f"{base}/Users", {"startIndex": 14901}),
    )
    measure(
        "filter: userName eq (one user)",
        lambda: http.get(f"{base}/Users", {"filter": 'userName eq "person-12345@bench.example"'}),
    )
    group = groups[3]
    members = group.employees.count()
    measure(
        f"get a group with its {members:,} members", lambda: http.get(f"{base}/Groups/{group.pk}")
    )
    measure(
        "get a group, excludedAttributes=members",
        lambda: http.get(f"{base}/Groups/{group.pk}", {"excludedAttributes": "members"}),
    )
    counter = iter(range(10**9))
    run = int(time.time())

    def create():
        body = {"schemas": [USER], "userName": f"new-{run}-{next(counter)}@bench.example"}
        return http.post(f"{base}/Users", json.dumps(body), content_type=scim)

    measure("create a user", create)
    outsiders = list(
        Employee.objects.filter(tenant=tenant)
        .exclude(access_groups=groups[9])
        .values_list("pk", flat=True)[:500]
    )
    batches = iter(outsiders[i : i + 100] for i in range(0, 500, 100))

    def add_members():
        value = [{"value": str(pk)} for pk in next(batches)]
        body = {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": value}],
        }
        return http.patch(
            f"{base}/Groups/{groups[9].pk}?excludedAttributes=members",
            json.dumps(body),
            content_type=scim,
        )

    measure("patch: add 100 members to a group", add_members, rounds=3)
    report = "\n".join(
        [
            "| request | ms (median) | queries | bytes |",
            "| --- | ---: | ---: | ---: |",
            *(f"| {label} | {ms:,.1f} | {q} | {size:,} |" for label, ms, q, size in rows),
            "",
            f"- {options.employees:,} employees, each in two of ten access groups; a "
            "provisioning client's token; Django's test client in one process",
            f"- machine: {machine()}",
        ]
    )
    print(report)
    if options.write_docs:
        write_docs_section("scim-bench", report)


if __name__ == "__main__":
    main()
