"""Where a request reads from (core.replicas), without real replicas: the routing rules. The
real engines (a streaming replica, PgBouncer) are exercised by tests/test_scale_out.py."""

import time

import pytest
from django.db import connection, transaction

from accounts import rowsecurity
from accounts.tokens import writer_of, writer_of_token
from core import replicas
from customers.models import Customer
from tests.conftest import token_for
from tests.factories import ApiClientFactory


@pytest.fixture
def one_replica(monkeypatch):
    """``replica1`` configured, usable unless a test says otherwise."""
    monkeypatch.setattr(replicas, "replica_aliases", lambda: ["replica1"])
    state = {"lag": 0.0}
    monkeypatch.setattr(
        replicas,
        "state_of",
        lambda alias: replicas.ReplicaState(alias, state["lag"], time.monotonic()),
    )
    return state


def test_the_router_reads_where_the_request_reads_and_writes_the_primary():
    router = replicas.ReplicaRouter()
    assert router.db_for_read(Customer) is None  # the primary
    with replicas.reading_from("replica1"):
        assert router.db_for_read(Customer) == "replica1"
        assert router.db_for_write(Customer) == "default"
    with replicas.reading_from("default"):
        assert router.db_for_read(Customer) is None
    assert router.db_for_read(Customer) is None
    assert router.allow_migrate("default", "customers")
    assert not router.allow_migrate("replica1", "customers")


def test_without_replicas_every_read_is_the_primarys():
    assert replicas.replica_aliases() == []
    assert replicas.read_alias("acme:client:x") == "default"


def test_a_usable_replica_serves_reads(one_replica):
    assert replicas.read_alias(None) == "replica1"
    assert replicas.read_alias("acme:client:x") == "replica1"


def test_a_principal_that_wrote_reads_from_the_primary_for_the_window(one_replica, settings):
    settings.READ_YOUR_WRITES_SECONDS = 0.3
    replicas.remember_write("acme:client:writer")
    assert replicas.read_alias("acme:client:writer") == "default"
    assert replicas.read_alias("acme:client:other") == "replica1"  # only the writer
    time.sleep(0.4)
    assert replicas.read_alias("acme:client:writer") == "replica1"


def test_a_lagging_or_unreachable_replica_is_skipped(one_replica, settings):
    settings.REPLICA_MAX_LAG_SECONDS = 2
    one_replica["lag"] = 2.5
    assert replicas.read_alias(None) == "default"
    one_replica["lag"] = None  # down, or cut off from the primary
    assert replicas.read_alias(None) == "default"
    one_replica["lag"] = 1.5
    assert replicas.read_alias(None) == "replica1"


def test_the_writer_is_named_alike_from_verified_claims_and_from_the_header(tenant):
    from accounts.tokens import verify_token

    raw = token_for(ApiClientFactory(tenant=tenant, scopes=["customer.customer_read"]))
    assert writer_of_token(f"Bearer {raw}".encode()) == writer_of(verify_token(raw))
    assert writer_of_token(b"Bearer not-a-token") is None
    assert writer_of_token(b"Basic abc") is None
    assert writer_of_token(b"") is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row security is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_commands_context_holds_behind_a_transaction_pooler_and_stays_off_the_session(
    settings, tenant, other_tenant
):
    """A command's context for its whole run is carried by each statement into its own
    transaction: it binds behind a pooler in transaction mode (any server connection) and is
    never left on the database session for the next client."""
    from customers.models import Customer
    from tests.factories import CustomerFactory

    CustomerFactory(tenant=tenant)
    CustomerFactory(tenant=other_tenant)
    settings.DATABASE_POOL_MODE = "transaction"

    def on_the_session():  # (the DB-API connection: past the statements' own binding)
        with connection.connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('customers.tenant_low', true)")
            return cursor.fetchone()[0]

    whole = rowsecurity.RowContext.whole_tenant(tenant.pk)
    with rowsecurity.session_context(whole, reason="test"):
        assert set(Customer.objects.values_list("tenant_id", flat=True)) == {tenant.pk}
        with transaction.atomic():  # (a batch's transaction)
            assert Customer.objects.filter(tenant=other_tenant).update(first_name="x") == 0
        assert on_the_session() in (None, "")
        assert rowsecurity.current() == whole
    assert rowsecurity.current() == rowsecurity.ALL_TENANTS  # (the test process's own again)
    assert on_the_session() in (None, "")


def test_a_context_opened_inside_a_request_binds_where_the_request_reads(monkeypatch):
    """The explainer's whole-tenant context, opened inside a back-office page served from a
    replica, must bind on the replica, where its queries go, not on the primary."""
    opened = []
    monkeypatch.setattr(rowsecurity, "_uses_policies", lambda using: opened.append(using))
    with rowsecurity.row_context(rowsecurity.NOTHING):
        pass
    with replicas.reading_from("replica1"), rowsecurity.row_context(rowsecurity.NOTHING):
        pass
    with (
        replicas.reading_from("replica1"),
        rowsecurity.row_context(rowsecurity.NOTHING, using="default"),
    ):
        pass
    assert opened == ["default", "replica1", "default"]
