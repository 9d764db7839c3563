"""The statements a request runs by a unique key (the token's principal, a customer by its
number) keep their plans per database session (core/plans.py): prepared once, executed after,
and never a way past the restriction filter or the row-security context of the request."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import rowsecurity
from core import plans
from customers.models import Customer
from tests.conftest import DE_READER, READER

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
    ),
]
BASE = "/customer/acme/customers"


@pytest.fixture(autouse=True)
def _fresh_plans(db):
    """Each test starts as a new session would: nothing prepared (the session's statements go
    with its next query)."""
    connection.ensure_connection()
    plans.forget(connection)


def sent(captured) -> list[str]:
    return [" ".join(q["sql"].split()) for q in captured.captured_queries]


def prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_a_get_prepares_its_lookup_and_its_customer_once_and_executes_them_after(world, api_as):
    reader = api_as(*READER)
    with CaptureQueriesContext(connection) as first:
        assert reader.get(f"{BASE}/DE1").json()["id"] == "DE1"
    with CaptureQueriesContext(connection) as second:
        answer = reader.get(f"{BASE}/FR1")
    assert answer.status_code == 200 and answer.json()["id"] == "FR1"
    assert answer.json()["defaultAddress"]["contactName"] == "ContactFR1"
    assert [sql for sql in sent(first) if "PREPARE plan_" in sql]
    executed = [sql for sql in sent(second) if "EXECUTE plan_" in sql]
    # the principal lookup, the customer with its address, its line in the read-access log
    assert len(executed) == 3
    assert "INSERT INTO customers_customerview" in " ".join(sent(first))
    assert not [sql for sql in sent(second) if "PREPARE" in sql]


def test_a_plan_kept_for_one_principal_serves_another_only_what_it_covers(world, api_as):
    """The same statement text, prepared by an unrestricted reader: a DE reader's token gets
    FR1 as a 404 and DE1 as its own, and another tenant's reader nothing of acme."""
    reader, de_reader = api_as(*READER), api_as(*DE_READER)
    for _ in range(3):
        assert reader.get(f"{BASE}/FR1").status_code == 200
    assert de_reader.get(f"{BASE}/FR1").status_code == 404
    assert de_reader.get(f"{BASE}/DE1").json()["id"] == "DE1"
    assert reader.get(f"{BASE}/FR1").status_code == 200
    stranger = api_as(*READER, on_tenant=world["OT-DE1"].tenant)
    assert stranger.get("/customer/globex/customers/OT-DE1").status_code == 200
    assert stranger.get(f"{BASE}/FR1").status_code == 403  # (its token is for globex)


def test_a_kept_plan_reads_under_the_context_bound_when_it_runs(world, database_roles):
    """The second lock holds for a reused plan, a generic one included: the policies read the
    context at execution, so a statement prepared and planned under a context that sees FR1
    finds nothing under one that covers DE only."""
    if database_roles is None:
        pytest.skip("the suite runs as a superuser, whom row-level security does not bind")
    tenant_id = world["FR1"].tenant_id
    fr1 = Customer.objects.filter(tenant_id=tenant_id, customer_number="FR1")

    def numbers(context: rowsecurity.RowContext) -> tuple[list[str], list[str]]:
        with rowsecurity.row_context(context), CaptureQueriesContext(connection) as captured:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            with plans.reused():
                found = list(fr1.values_list("customer_number", flat=True))
        return found, sent(captured)

    everything = rowsecurity.RowContext(tenant_id, tenant_id, "*", "", "")
    for _ in range(3):
        assert numbers(everything)[0] == ["FR1"]
    found, statements = numbers(rowsecurity.RowContext(tenant_id, tenant_id, "DE", "", ""))
    assert found == []
    assert [sql for sql in statements if sql.startswith("EXECUTE plan_")]


@pytest.mark.django_db(transaction=True)
def test_a_new_database_session_prepares_again(world, api_as):
    reader = api_as(*READER)
    assert reader.get(f"{BASE}/DE1").status_code == 200
    connection.close()
    with CaptureQueriesContext(connection) as captured:
        assert reader.get(f"{BASE}/DE1").json()["id"] == "DE1"
    statements = sent(captured)
    # (the principal lookup, the customer, its line in the read-access log)
    assert len([sql for sql in statements if "PREPARE plan_" in sql]) == 3
    assert not [sql for sql in statements if "DEALLOCATE" in sql]


def test_after_a_failed_query_the_session_lets_its_statements_go_and_prepares_again(world, api_as):
    reader = api_as(*READER)
    assert reader.get(f"{BASE}/DE1").status_code == 200
    assert len(prepared_names()) >= 2
    plans.forget(connection)  # (what a query that prepared and failed does)
    with CaptureQueriesContext(connection) as captured:
        assert reader.get(f"{BASE}/US1").json()["id"] == "US1"
    [first] = [sql for sql in sent(captured) if "DEALLOCATE ALL" in sql]
    assert "PREPARE plan_" in first
    assert reader.get(f"{BASE}/US1").status_code == 200


def test_a_session_keeps_a_bounded_number_of_statements(db, monkeypatch):
    monkeypatch.setattr(plans, "MAX_PER_SESSION", 2)
    answers, names = [], []
    for number in range(1, 6):
        sql = f"SELECT %s::text || '%%' || {number}"
        text, skipped = plans.prepared(connection, sql, ["x"])
        names.append(re.search(r"EXECUTE (plan_\d+)", text)[1])
        with connection.cursor() as cursor:
            cursor.execute(text, ["x"])
            for _ in range(skipped):
                cursor.nextset()
            answers.append(cursor.fetchone()[0])
    assert answers == [f"x%{number}" for number in range(1, 6)]
    held = {name for name in prepared_names() if name.startswith("plan_")}
    assert len(held) <= plans.MAX_PER_SESSION + 1  # (the oldest goes with the next query)
    assert names[0] not in held and names[-1] in held
    # A failed query leaves nothing known: everything goes at once, nothing by name.
    plans.forget(connection)
    text, skipped = plans.prepared(connection, "SELECT %s::text", ["y"])
    assert text.startswith("DEALLOCATE ALL; PREPARE plan_") and skipped == 2
    with connection.cursor() as cursor:
        cursor.execute(text, ["y"])
        cursor.nextset()
        cursor.nextset()
        assert cursor.fetchone() == ("y",)


def test_nothing_is_prepared_behind_a_pooler_in_transaction_mode(world, api_as, settings):
    settings.DATABASE_POOL_MODE = "transaction"
    reader = api_as(*READER)
    with CaptureQueriesContext(connection) as captured:
        for number in ("DE1", "FR1", "DE1"):
            assert reader.get(f"{BASE}/{number}").status_code == 200
    assert not [sql for sql in sent(captured) if "PREPARE" in sql or "EXECUTE" in sql]


def test_a_statement_the_server_cannot_prepare_runs_as_it_is_afterwards(db):
    """A parameter whose type the text leaves open cannot be prepared: the failure is the
    statement's once, and from then on it runs unprepared."""
    from django.db import DatabaseError, transaction

    sql = "SELECT %s IS NULL"
    text, _ = plans.prepared(connection, sql, [None])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        try:
            cursor.execute(text, [None])
        except DatabaseError as error:
            plans.forget(connection, sql, error)
            raise
    assert plans.prepared(connection, sql, [None]) == (sql, 0)
    with connection.cursor() as cursor:
        cursor.execute(*plans.prepared(connection, sql, [None])[:1], [None])
        assert cursor.fetchone() == (True,)


def test_a_kept_plan_run_by_a_command_carries_its_standing_context(world, database_roles):
    """A command's context stands on its connection and each statement brings it: a statement
    run through its prepared one brings it too (none would answer nothing)."""
    if database_roles is None:
        pytest.skip("the suite runs as a superuser, whom row-level security does not bind")
    fr1 = world["FR1"]
    other = world["OT-DE1"].tenant_id
    for tenant_id, expected in [(fr1.tenant_id, ["FR1"]), (other, []), (fr1.tenant_id, ["FR1"])]:
        context = rowsecurity.RowContext.whole_tenant(tenant_id)
        with rowsecurity.session_context(context, reason="a test"), plans.reused():
            rows = Customer.objects.filter(tenant_id=fr1.tenant_id, customer_number="FR1")
            assert list(rows.values_list("customer_number", flat=True)) == expected
