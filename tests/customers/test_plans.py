"""Query plans on PostgreSQL: every list shape the API runs is an index range within the
caller's tenant. The SQL is taken from real requests; the planner is told to avoid sequential
scans (and, where an index should give the order, sorts), so what is asserted is that a
fitting index exists and is chosen, whatever the size of this test's tables.

One planner choice is allowed: the first page of a tenant that holds a large share of the
table may be read by walking the primary key and skipping other tenants' rows, when the planner
estimates that cheaper (it stops after one page of matches; the read-path benchmark measures
it). Counts, deep pages, cursors and small tenants never walk it."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.roles import as_database_owner
from customers.api import paging
from customers.models import Customer
from tests.conftest import DE_FR_READER, DE_READER, READER
from tests.factories import CustomerFactory, TenantFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="query plans are PostgreSQL's (EXPLAIN)"
    ),
]
BASE = "/customer/acme/customers"
MAIN_TABLE = re.compile(r'FROM "(\w+)"')  # a statement's first FROM: the table it reads ...
# (... after the default address each row looks up in a subquery of its own)
DEFAULT_ADDRESS = re.compile(r'\(SELECT jsonb_build_object.*?\) AS "default_address"', re.S)
INDEXED_SORTS = {
    "lastName": "customer_last_name_idx",
    "firstName": "customer_first_name_idx",
    "contactEmail": "customer_email_idx",
    "metadataCreatedAt": "customer_created_idx",
    "metadata.modifiedAt": "customer_modified_idx",
    "id": "customer_unique_number_per_tenant",
}
BY_ID = {"customers_customer_pkey", "customer_tenant_id_idx"}
OTHER_SORTS = ["title", "middleName", "company", "type", "active", "metadata.version"]


@pytest.fixture
def tenants(tenant):
    """acme's 400 customers (300 DE, 100 FR) interleaved with a larger neighbour's 4,000, and a
    small tenant of 5 at the end: walking the primary key would cross other tenants' rows."""
    big = TenantFactory(code="big")
    rows = []
    for i in range(4400):
        if i % 11:
            rows.append(CustomerFactory.build(tenant=big, restriction="DE"))
        else:
            restriction = "FR" if i % 4 == 0 else "DE"
            rows.append(CustomerFactory.build(tenant=tenant, restriction=restriction))
    Customer.objects.bulk_create(rows)
    small = TenantFactory(code="small")
    CustomerFactory.create_batch(5, tenant=small)
    with as_database_owner(), connection.cursor() as cursor:  # the owner may vacuum
        cursor.execute(f"VACUUM ANALYZE {Customer._meta.db_table}")
    return small


def nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def own_nodes(plan):
    """The plan without its subplans (the policies' checks on related tables)."""
    yield plan
    for child in plan.get("Plans", []):
        if child.get("Parent Relationship") not in {"SubPlan", "InitPlan"}:
            yield from own_nodes(child)


def customer_plans(http, url, params=None, headers=None, *, avoid_sort=False):
    """The plans of every statement on the customer table that the request ran."""
    with CaptureQueriesContext(connection) as captured:
        response = http.get(url, params or {}, **(headers or {}))
    assert response.status_code == 200, response.content
    statements = [
        q["sql"]
        for q in captured.captured_queries
        if (main := MAIN_TABLE.search(DEFAULT_ADDRESS.sub("", q["sql"])))
        and main[1] == "customers_customer"
    ]
    assert statements
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        if avoid_sort:
            cursor.execute("SET enable_sort = off")
        try:
            for sql in statements:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
                raw = cursor.fetchone()[0]
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                plans.append((sql, list(nodes(plan))))
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_sort")
    return plans


def assert_tenant_index_ranges(plans, *, first_page=False):
    """No sequential scan, and no walk of the primary key (through other tenants' rows) except,
    with ``first_page``, for the page query (see the module's docstring). (The default address
    each row looks up is checked against its customer, by primary key, in a subplan: a lookup,
    not a walk.)"""
    for index, (sql, steps) in enumerate(plans):
        assert not any(s["Node Type"] == "Seq Scan" for s in steps), sql
        if first_page and index == 0:
            continue
        scans = [s for s in own_nodes(steps[0]) if "Scan" in s["Node Type"]]
        assert scans, sql
        for scan in scans:
            assert scan.get("Index Name") != "customers_customer_pkey", sql


def index_names(plans):
    """The customer table's indexes the plans read their rows with (the default address join
    has its own, and the address's policy checks its customer in a subplan)."""
    return {
        s.get("Index Name")
        for _, steps in plans
        for s in own_nodes(steps[0])
        if s.get("Relation Name") == Customer._meta.db_table
    } - {None}


@pytest.mark.parametrize("scopes", [READER, DE_READER, DE_FR_READER], ids=str)
def test_list_and_count(tenants, api_as, scopes):
    plans = customer_plans(api_as(*scopes), BASE, headers={"HTTP_X_TOTAL_COUNT": "true"})
    assert_tenant_index_ranges(plans, first_page=True)
    [page] = plans  # the count is no statement on the table: the count function's
    assert not any(s["Node Type"] == "Sort" for s in page[1])


@pytest.mark.parametrize("scopes", [READER, DE_READER], ids=str)
def test_a_search_counts_within_the_tenant_range(tenants, api_as, scopes):
    plans = customer_plans(
        api_as(*scopes), BASE, {"q": "lastName:~Last"}, headers={"HTTP_X_TOTAL_COUNT": "true"}
    )
    assert_tenant_index_ranges(plans, first_page=True)
    _, count = plans
    assert "count(*)" in count[0].lower()


@pytest.mark.parametrize("scopes", [READER, DE_READER, DE_FR_READER], ids=str)
def test_a_deep_page_reads_its_ids_from_the_index_alone(tenants, api_as, scopes, monkeypatch):
    monkeypatch.setattr(paging, "DEFERRED_JOIN_OFFSET", 0)  # this table is too small otherwise
    [page] = customer_plans(api_as(*scopes), BASE, {"pageSize": 10, "pageNumber": 20})
    assert_ids_first(page)


def assert_ids_first(page):
    """One statement: the page's ids (under its LIMIT) from the caller's index range alone, in
    index order; then the page's rows by primary key."""
    sql, steps = page
    assert not any(s["Node Type"] == "Seq Scan" for s in steps), sql
    limit = next(s for s in steps if s["Node Type"] == "Limit")
    ids = list(nodes(limit))
    assert [s["Node Type"] for s in ids if "Scan" in s["Node Type"]] == ["Index Only Scan"], sql
    assert ids[-1].get("Index Name") != "customers_customer_pkey", sql
    assert not any(s["Node Type"] == "Sort" for s in ids), sql
    rows = [
        s
        for s in own_nodes(steps[0])
        if s not in ids
        and "Scan" in s["Node Type"]
        and s.get("Relation Name") == "customers_customer"
    ]
    # by id: the primary key, or (under the row-security policy's tenant condition) the
    # (tenant_id, id) index
    assert {s.get("Index Name") for s in rows} <= BY_ID, sql
    assert rows, sql


@pytest.mark.parametrize("field", list(INDEXED_SORTS))
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_an_indexed_sort_reads_in_index_order(tenants, api_as, field, direction):
    plans = customer_plans(
        api_as(*DE_READER), BASE, {"sort": f"{field}:{direction}"}, avoid_sort=True
    )
    assert_tenant_index_ranges(plans)
    assert INDEXED_SORTS[field] in index_names(plans[:1])
    assert not any(s["Node Type"] == "Sort" for _, steps in plans for s in steps)


@pytest.mark.parametrize("field", OTHER_SORTS)
def test_other_sorts_still_stay_within_the_tenant(tenants, api_as, field):
    assert_tenant_index_ranges(customer_plans(api_as(*READER), BASE, {"sort": field}))


def test_a_small_tenant_among_large_ones_reads_only_its_own_rows(tenants, api_as):
    http = api_as(*READER, on_tenant=tenants)
    plans = customer_plans(
        http, "/customer/small/customers", headers={"HTTP_X_TOTAL_COUNT": "true"}
    )
    assert_tenant_index_ranges(plans)
    assert index_names(plans[:1]) == {"customer_tenant_id_idx"}


def test_a_cursor_page_is_an_index_range_too(tenants, api_as):
    http = api_as(*DE_READER)
    link = http.get(BASE, {"pageSize": 10}).headers["Link"]
    url = link[1 : link.index(">")].removeprefix("http://testserver")
    # The caller's index range after the last id (never a walk of the primary key through other
    # tenants' rows), in index order, as for the first page.
    plans = customer_plans(http, url, avoid_sort=True)
    assert_tenant_index_ranges(plans)
    assert index_names(plans) == {"customer_restriction_idx"}
    assert not any(s["Node Type"] == "Sort" for _, steps in plans for s in steps)


# The index each child table's key to its customer is checked by: PostgreSQL looks up the rows
# that still name a customer's old restriction when the customer's restriction moves, once per
# customer, at commit.
KEY_CHECKS = {
    "customers_address": "address_unique_id_per_customer",
    "customers_account": "account_customer_idx",
    "customers_restrictionchange": "restriction_change_idx",
}

# (as the owner, which is under the policies too: the rows are of every tenant's customers)
_EVERY = " FROM customers_customer"
ROWS_OF_EVERY_CUSTOMER = {
    "customers_address": "INSERT INTO customers_address (tenant_id, customer_id, "
    "customer_restriction, address_id, contact_name, tags, is_default, version, created_at, "
    "modified_at, mixins, metadata_mixins) SELECT tenant_id, id, restriction_key, 'a', 'plans', "
    "'[]', false, 1, now(), now(), '{}', '{}'" + _EVERY,
    "customers_account": "INSERT INTO customers_account (tenant_id, customer_id, "
    "customer_restriction, email, password, created_at) SELECT tenant_id, id, restriction_key, "
    "'p' || id || '@example.com', '', now()" + _EVERY,
    "customers_restrictionchange": "INSERT INTO customers_restrictionchange (tenant_id, "
    "customer_id, customer_restriction, customer_number, new_value, actor_kind, actor_id, "
    "actor_name, channel, changed_at) SELECT tenant_id, id, restriction_key, customer_number, "
    "restriction, 'operator', 'plans', 'plans', 'command', now()" + _EVERY,
}


@pytest.mark.parametrize("table", sorted(KEY_CHECKS))
def test_the_check_of_a_moved_customers_rows_is_one_index_range(tenants, table):
    """As a first bulk assignment meets it: statistics that say the table is empty (analyzed
    before the history was written), thousands of rows in it. Each look-up is one range of the
    tenant-and-customer index, never the tenant's whole index combined with the customer's
    (which made each batch of a bulk assignment slower than the one before)."""
    check = (
        f"SELECT 1 FROM ONLY {table} x WHERE $1 = tenant_id AND $2 = customer_id "  # noqa: S608
        "AND $3 = customer_restriction FOR KEY SHARE OF x"
    )
    with as_database_owner(), connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(ROWS_OF_EVERY_CUSTOMER[table])
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE key_check (int, int, text) AS {check}")
        try:
            cursor.execute("EXPLAIN EXECUTE key_check (1, 1, 'DE')")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE key_check")
            cursor.execute("RESET plan_cache_mode")
    assert f"Index Scan using {KEY_CHECKS[table]}" in plan or (
        f"Index Only Scan using {KEY_CHECKS[table]}" in plan
    ), plan
    assert "BitmapAnd" not in plan and "Seq Scan" not in plan, plan


@pytest.mark.parametrize("table", sorted(KEY_CHECKS))
def test_no_index_of_a_child_table_holds_the_tenant_alone(table):
    """Every index of an address, account or history table that starts with the tenant goes on
    with the customer or another key, so that the check of a moved customer's rows cannot be
    answered by all of the tenant's rows (a tenant-only index once slowed each batch of a bulk
    assignment down by the size of the history written before it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, array_agg(a.attname ORDER BY k.n) "
            "FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = %s::regclass GROUP BY 1",
            [table],
        )
        indexes = dict(cursor.fetchall())
    assert [name for name, columns in indexes.items() if columns == ["tenant_id"]] == []
    assert [name for name, columns in indexes.items() if columns[0] == "customer_id"] == []
    assert any(columns[:2] == ["tenant_id", "customer_id"] for columns in indexes.values())
