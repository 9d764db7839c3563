"""The list page's plan under row-level security at real tenant sizes (PostgreSQL, as the
service role): the page's default addresses are looked up by customer for the page's rows only,
whatever the statistics say. (With a join, the planner once estimated a few hundred default
addresses behind the address table's policy where there were 60,000, materialised all of them
and rescanned them for every customer of the page: 488 ms for page 1 of 100,000 customers.)

The statements are the ones the request ran, explained with ``ANALYZE`` under the request's own
row-security context; the tables are analysed first, as autovacuum would have them."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import rowsecurity
from accounts.principal import Principal
from accounts.scopes import Grants
from core.roles import as_database_owner
from tests.conftest import DE_READER, READER

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="query plans are PostgreSQL's (EXPLAIN)"
    ),
]
BASE = "/customer/acme/customers"
PAGE = 60
FROM_CUSTOMERS = re.compile(r'^SELECT .* FROM "customers_customer"', re.S)


def fill(tenant, neighbour, customers: int) -> None:
    """``customers`` customers of ``tenant`` (DE, FR, US and none in turn) among as many of
    ``neighbour``'s and a further 20,000 (rows interleaved, as customers arrive), three in five
    with a default address and one in five with a second address; then the statistics."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO customers_customer (tenant_id, customer_number, restriction, first_name,
              last_name, contact_email, preferred_language, preferred_currency, preferred_site,
              type, active, on_hold, version, created_at, modified_at, mixins, metadata_mixins,
              b2b_legal_entities)
            SELECT CASE WHEN n %% 2 = 0 AND n / 2 <= %s THEN %s ELSE %s END, 'C' || n,
              (ARRAY['DE', 'FR', 'US', NULL])[n / 2 %% 4 + 1], 'First', 'Last' || n,
              'c' || n || '@example.com', 'en_US', 'EUR', 'main', 'CUSTOMER', true, false, 1,
              now(), now(), '{}', '{}', '[]'
            FROM generate_series(1, %s) AS n
            """,
            [customers, tenant.pk, neighbour.pk, 2 * customers + 20_000],
        )
        cursor.execute(
            """
            INSERT INTO customers_address (tenant_id, customer_id, customer_restriction,
              address_id, contact_name, tags, is_default, version, created_at, modified_at,
              mixins, metadata_mixins)
            SELECT c.tenant_id, c.id, c.restriction_key, 'a' || c.id || '-' || k, 'Contact',
              '[]', k = 1, 1, now(), now(), '{}', '{}'
            FROM customers_customer c, generate_series(1, 2) AS k
            WHERE c.id % 5 < 3 AND k = 1 OR c.id % 5 = 0 AND k = 2
            """
        )
    with as_database_owner(), connection.cursor() as cursor:  # (the owner may analyse)
        cursor.execute("ANALYZE customers_customer")
        cursor.execute("ANALYZE customers_address")


def nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def page_plan(http, url: str, tenant, scopes) -> tuple[str, list[dict], str]:
    """The page statement of ``url`` explained (``ANALYZE``) under the request's own context;
    its steps, and the next page's URL."""
    with CaptureQueriesContext(connection) as captured:
        response = http.get(url)
    assert response.status_code == 200, response.content
    assert len(response.json()) == PAGE
    [sql] = [q["sql"] for q in captured.captured_queries if FROM_CUSTOMERS.match(q["sql"])]
    principal = Principal(tenant.pk, tenant.code, Grants.from_strings(scopes), "client", "x", "x")
    context = rowsecurity.RowContext.of(principal)
    with rowsecurity.row_context(context), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        raw = cursor.fetchone()[0]
    link = response.headers["Link"]
    following = link[1 : link.index(">")].removeprefix("http://testserver")
    return (
        sql,
        list(nodes((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])),
        following,
    )


def assert_reads_its_page_only(
    sql: str, steps: list[dict], customers: int, *, deep: bool = False
) -> None:
    """Addresses read by customer through an index, no more than the page's rows; customers by
    index, the page's rows only (the address policy's check of its customer too: a lookup per
    address, never a hash of the tenant's customers), except the ids of a deep page by number,
    which the planner may collect from the tenant's index range and sort; nothing materialised
    or hashed, no join filter."""
    reads = [s for s in steps if s.get("Relation Name") == "customers_address"]
    assert reads, sql
    for step in reads:
        assert step["Node Type"] == "Index Scan", (sql, step)
        assert step["Actual Rows"] * step["Actual Loops"] <= PAGE, (sql, step)
    by_index = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan"}
    for step in (s for s in steps if "Scan" in s["Node Type"]):
        assert step["Node Type"] in by_index, (sql, step)
        read = step["Actual Rows"] * step["Actual Loops"]
        if deep and step.get("Parent Relationship") != "SubPlan":
            assert read <= customers, (sql, step)
        else:
            assert step["Node Type"] in {"Index Scan", "Index Only Scan"}, (sql, step)
            assert read <= PAGE + 1, (sql, step)
    assert not any(s["Node Type"] in {"Materialize", "Hash"} for s in steps), sql
    assert not any("hashed SubPlan" in json.dumps(s.get("Filter", "")) for s in steps), sql
    assert deep or not any(s["Node Type"] == "Sort" and s["Actual Rows"] > PAGE for s in steps)
    assert not any("Join Filter" in s for s in steps), sql


@pytest.mark.parametrize("customers", [1_000, 20_000, 100_000])
def test_a_list_page_and_the_next_by_cursor_read_their_own_rows_only(
    tenant, other_tenant, api_as, customers
):
    fill(tenant, other_tenant, customers)
    for scopes, visible in ((READER, customers), (DE_READER, customers // 4)):
        http = api_as(*scopes)
        sql, steps, following = page_plan(http, BASE, tenant, scopes)
        assert_reads_its_page_only(sql, steps, customers)
        # the cursor's next page, and a page a third of the way through the tenant by number
        sql, steps, _ = page_plan(http, following, tenant, scopes)
        assert_reads_its_page_only(sql, steps, customers)
        number = visible // PAGE // 3 + 2
        sql, steps, _ = page_plan(http, f"{BASE}?pageNumber={number}", tenant, scopes)
        assert_reads_its_page_only(sql, steps, customers, deep=True)
