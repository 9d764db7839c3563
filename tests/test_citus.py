"""On a Citus cluster (``.ci/run``'s Citus stage: ``tools/citus_stack.py``, the test database
distributed by ``manage.py distribute_tenants``): every tenant path reads and writes one shard,
the row-security context reaches the workers, and a worker itself lets no one past it."""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import rowsecurity
from accounts.principal import Principal
from accounts.scopes import Grants
from core import plans
from customers.models import Channel, Customer
from customers.services import assignment
from tests import citus
from tests.conftest import DE_MANAGER, DE_READER, MANAGER, READER, token_for
from tests.customers.test_api_addresses import ADDRESS
from tests.processes import environment, free_port, gunicorn
from tools import pg_stack

pytestmark = [
    pytest.mark.skipif(not citus.on_citus(), reason="no Citus cluster (CITUS_WORKER_URLS unset)"),
    pytest.mark.django_db,
]
BASE = "/customer/acme/customers"
DISTRIBUTED = (
    "customers_customer",
    "customers_address",
    "customers_account",
    "customers_restrictionchange",
)
ROWS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


def tasks(sql: str) -> list[int]:
    """The task counts of the Citus scans in ``sql``'s plan (one per distributed part)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        lines = [row[0] for row in cursor.fetchall()]
    return [int(line.split(":")[1]) for line in lines if "Task Count:" in line]


def distributed_statements(captured) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(ROWS)
        and any(table in q["sql"] for table in DISTRIBUTED)
    ]


def test_the_suite_runs_distributed():
    assert settings.DATABASE_DISTRIBUTED
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT logicalrelid::regclass::text FROM pg_dist_partition WHERE colocationid = "
            "(SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = "
            "'customers_customer'::regclass)"
        )
        colocated = {row[0] for row in cursor.fetchall()}
    assert set(DISTRIBUTED) | {"customers_restrictionchange", "customers_job"} <= colocated


def test_tenants_and_sites_are_on_every_node_and_the_tenant_is_referred_to():
    """Reference tables: a shard joins them where it is, and every distributed table refers to
    the tenant by foreign key (the identities and the restrictions, which refer to the tenant,
    Citus keeps on the coordinator as local tables it knows)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT logicalrelid::regclass::text, partmethod, repmodel FROM pg_dist_partition"
        )
        kinds = {table: (method, model) for table, method, model in cursor.fetchall()}
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND confrelid = 'tenancy_tenant'::regclass"
        )
        referring = {row[0] for row in cursor.fetchall()}
    reference = {table for table, kind in kinds.items() if kind == ("n", "t")}
    distributed = {table for table, (method, _) in kinds.items() if method == "h"}
    assert reference == {"tenancy_tenant", "tenancy_site"}
    assert distributed and distributed <= referring
    assert kinds["accounts_employee"] == kinds["tenancy_restriction"] == ("n", "s")  # (local)


@pytest.mark.django_db(transaction=True)
def test_distributing_again_changes_nothing():
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("distribute_tenants", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 12
    assert all(
        line.endswith(("already distributed", "already a reference table")) for line in lines
    )


def test_an_employee_who_started_a_job_can_be_deleted(tenant):
    """The delete unlinks the employee's jobs on every shard, then deletes the employee (a
    Citus local table): one connection per node (the database's setting) lets it."""
    from accounts.models import Employee
    from customers.models import Job, JobKind
    from tests.factories import EmployeeFactory

    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        employee = EmployeeFactory(tenant=tenant)
        job = Job.objects.create(
            tenant=tenant,
            kind=JobKind.DELETE_CUSTOMERS,
            requested_by=employee,
            requested_by_name=employee.username,
            selection={},
            selection_label="none",
        )
        Employee.objects.filter(pk=employee.pk).delete()
        job.refresh_from_db()
        assert job.requested_by_id is None
        assert job.requested_by_name == employee.username


@pytest.mark.django_db(transaction=True)
def test_a_customer_of_no_tenant_is_refused_by_the_database(tenant):
    """At commit, on the shard (the key is deferred, as Django's are). Citus reports the
    refusal as a failed commit on the shard's node, not as an integrity error."""
    from django.db import DatabaseError

    with (
        pytest.raises(DatabaseError, match="could not commit transaction for shard"),
        rowsecurity.row_context(rowsecurity.ALL_TENANTS),
    ):
        Customer.objects.create(tenant_id=tenant.pk + 1000, customer_number="ORPHAN")
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert not Customer.objects.filter(customer_number="ORPHAN").exists()


def test_a_customer_with_its_tenant_is_read_on_one_shard(world):
    """(A join with a reference table stays on the tenant's shard.)"""
    tenant = world["DE1"].tenant
    with (
        CaptureQueriesContext(connection) as captured,
        rowsecurity.row_context(rowsecurity.RowContext.whole_tenant(tenant.pk)),
    ):
        found = Customer.objects.select_related("tenant").get(tenant=tenant, customer_number="DE1")
        assert found.tenant.code == tenant.code
    [sql] = distributed_statements(captured)
    assert "tenancy_tenant" in sql
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert tasks(sql) == [1]


@pytest.mark.django_db(transaction=True)
def test_a_cycle_in_a_restriction_tree_is_refused(tenant):
    """(The tree's check, a trigger run at commit, reads and locks other rows: the restrictions
    stay on the coordinator, where it runs once.)"""
    from django.db import IntegrityError

    from tenancy.models import Restriction

    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        eu = Restriction.objects.create(tenant=tenant, code="EU")
        below = Restriction.objects.create(tenant=tenant, code="XD", parent=eu)
    with (
        pytest.raises(IntegrityError, match="form a cycle"),
        rowsecurity.row_context(rowsecurity.ALL_TENANTS),
    ):
        Restriction.objects.filter(pk=eu.pk).update(parent=below)
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert Restriction.objects.get(pk=eu.pk).parent_id is None


def api_statements(world, api_as) -> dict[str, list[int]]:
    """List, count, search, get, create, update and delete through the API; each statement on
    a distributed table with the task counts of its plan."""
    reader, manager = api_as(*DE_READER), api_as(*MANAGER)
    with CaptureQueriesContext(connection) as captured:
        assert reader.get(BASE, HTTP_X_TOTAL_COUNT="true").status_code == 200
        assert reader.get(BASE, {"pageNumber": 2, "pageSize": 1}).status_code == 200
        assert reader.get(BASE, {"q": "lastName:~Last"}).status_code == 200
        assert reader.get(BASE, {"q": "email:de1@example.com"}).status_code == 200
        assert reader.get(f"{BASE}/DE1", {"expand": "addresses,accounts"}).status_code == 200
        created = manager.post(BASE, {"firstName": "Ada", "restriction": "DE"}, format="json")
        assert created.status_code == 201
        number = created.json()["id"]
        addresses = f"{BASE}/{number}/addresses"
        address = manager.post(addresses, ADDRESS, format="json")
        assert address.status_code == 201, address.json()
        assert manager.delete(f"{addresses}/{address.json()['id']}").status_code in (202, 204)
        changed = manager.patch(f"{BASE}/{number}", {"restriction": "FR"}, format="json")
        assert changed.status_code in (200, 204)
        assert manager.delete(f"{BASE}/{number}").status_code in (202, 204)
    statements = distributed_statements(captured)
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        spread = {sql: tasks(sql) for sql in statements}
    # (a statement without a Citus scan is the coordinator's own: the read-access log's insert)
    return {sql: counts for sql, counts in spread.items() if counts}


def test_every_tenant_statement_of_the_api_is_single_shard(world, api_as):
    spread = api_statements(world, api_as)
    kinds = {sql.split()[0] for sql in spread}
    assert {"SELECT", "INSERT", "UPDATE", "DELETE"} <= kinds
    assert any('AS "default_address"' in sql for sql in spread)  # (a page, a get)
    assert {sql: n for sql, n in spread.items() if set(n) != {1}} == {}


def test_a_bulk_assignment_batch_is_single_shard(world):
    tenant = world["DE1"].tenant
    actor = Principal(tenant.pk, tenant.code, Grants.from_strings(MANAGER), "client", "c", "c")
    with CaptureQueriesContext(connection) as captured:
        result = assignment.restriction_assign(
            actor=actor,
            customers=Customer.objects.filter(tenant=tenant),
            value="FR",
            channel=Channel.COMMAND,
        )
    assert result.changed == 3
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        spread = [tasks(sql) for sql in distributed_statements(captured)]
    assert spread and all(set(counts) == {1} for counts in spread), spread


def test_no_binding_shares_a_query_with_another_statement(world, api_as):
    """Citus sends a ``SET LOCAL``'s whole query text to the workers: a binding is a query of
    its own, or the statement with it would run there too."""
    with CaptureQueriesContext(connection) as captured:
        assert api_as(*DE_READER).get(BASE).json()
    bindings = [q["sql"] for q in captured.captured_queries if "SET LOCAL" in q["sql"]]
    assert bindings
    for sql in bindings:
        assert all(part.startswith("SET LOCAL ") for part in sql.split("; ")), sql


def test_a_get_binds_its_principal_in_two_round_trips(world, api_as):
    """The token's principal is looked up in the query that binds the sign-in context on the
    coordinator alone (the identities live there); the principal's context is then bound by a
    ``SET LOCAL`` of its own, which the workers receive; then the row. The lookup and the row
    are prepared by the session's first get and executed by the next (core.plans)."""
    reader = api_as(*DE_READER)
    connection.ensure_connection()
    plans.forget(connection)  # (as a new session: nothing prepared yet)

    def sent_by(path: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert reader.get(path).json()["id"] == "DE1"
        sent = [q["sql"] for q in captured.captured_queries if q["sql"].strip()]
        return [sql for sql in sent if "SAVEPOINT" not in sql][:3]  # (the test's transaction)

    first, second = sent_by(f"{BASE}/DE1"), sent_by(f"{BASE}/DE1")
    for lookup, bound, _ in (first, second):
        assert lookup.startswith("SELECT set_config('customers.tenant_low'")
        assert "SET LOCAL" not in lookup
        assert bound.startswith("SET LOCAL customers.tenant_low = '") and "SELECT" not in bound
    (lookup, _, row), (again, _, row_again) = first, second
    assert "PREPARE plan_" in lookup and "c.client_id = " in lookup  # (the token's API client)
    assert "PREPARE plan_" in row and '"default_address"' in row
    assert "; EXECUTE plan_" in again and "c.client_id" not in again
    assert row_again.startswith("EXECUTE plan_")


def _placements(*tables: str) -> dict[int, list[str]]:
    """Each worker's port -> the shards of ``tables`` it holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nodeport, shard_name(s.logicalrelid, s.shardid) FROM pg_dist_shard s "
            "JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid) "
            "WHERE s.logicalrelid::regclass::text = ANY(%s)",
            [list(tables)],
        )
        placements: dict[int, list[str]] = {}
        for port, shard in cursor.fetchall():
            placements.setdefault(port, []).append(shard)
        return placements


@pytest.mark.django_db(transaction=True)
def test_a_worker_lets_the_service_role_see_nothing_without_a_context(world, database_roles):
    """Connected to a worker directly, the service role reads no shard's rows unbound, and a
    tenant's context there reads that tenant's covered rows only."""
    tenant = world["DE1"].tenant
    service = database_roles.service
    placements = _placements("customers_customer", "customers_address")
    assert sorted(placements) == sorted(urlsplit(u).port for u in citus.worker_urls())
    seen, within = 0, set()
    for port, shards in placements.items():
        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            user=service["USER"],
            password=service["PASSWORD"],
            dbname=connection.settings_dict["NAME"],
            autocommit=True,
        ) as worker:
            for shard in shards:
                count = f"SELECT count(*) FROM {shard}"  # noqa: S608 - Citus's shard names
                seen += worker.execute(count).fetchone()[0]
            with worker.transaction():
                worker.execute(rowsecurity.binding(rowsecurity.RowContext.of(_reader(tenant))))
                for shard in shards:
                    if shard.startswith("customers_customer_"):
                        read = f"SELECT restriction FROM {shard}"  # noqa: S608 - as above
                        within |= {row[0] for row in worker.execute(read)}
    assert seen == 0
    assert within == {"DE"}


def test_an_insert_into_another_tenant_is_refused_on_the_shard(world, other_tenant):
    tenant = world["DE1"].tenant
    manager = Principal(tenant.pk, tenant.code, Grants.from_strings(DE_MANAGER), "c", "c", "c")
    with (
        rowsecurity.row_context(rowsecurity.RowContext.of(manager)),
        pytest.raises(Exception, match="row-level security"),
    ):
        Customer.objects.create(tenant=other_tenant, customer_number="PLANTED", restriction="DE")
    assert not Customer.objects.filter(customer_number="PLANTED").exists()


def _reader(tenant) -> Principal:
    grants = Grants.from_strings(list(DE_READER))
    return Principal(tenant.pk, tenant.code, grants, "client", "c", "c")


def test_the_check_refuses_the_service_unaware_of_the_distribution(settings):
    from core.checks import distributed_as_configured

    assert distributed_as_configured(databases=["default"]) == []
    settings.DATABASE_DISTRIBUTED = False
    [error] = distributed_as_configured(databases=["default"])
    assert error.id == "core.E001"


@pytest.fixture
def coordinator_pooler(database_roles):
    """PgBouncer in transaction mode with two server connections in front of the coordinator
    (``tools/pg_stack.py``'s), for the service role; its URL to the test database."""
    directory = Path(tempfile.mkdtemp(prefix="citus-pooler-"))  # (reachable by user postgres)
    service = database_roles.service
    port = free_port()
    pg_stack.start_pooler(
        directory, int(connection.settings_dict["PORT"]), port, 2, [service["USER"]]
    )
    try:
        yield f"postgres://{service['USER']}@127.0.0.1:{port}/{connection.settings_dict['NAME']}"
    finally:
        pg_stack.stop_pooler(directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.django_db(transaction=True)
def test_behind_a_transaction_pooler_each_principal_reads_its_own(
    world, api_as, coordinator_pooler, tmp_path
):
    """gunicorn as the service role through PgBouncer (transaction mode, two server
    connections) to the coordinator: principals of both tenants and restrictions, alternating
    over sixteen client connections, each answered with exactly its own rows; no context
    outlives its transaction on a pooled connection or on a worker."""
    tokens = {
        who: token_for(api_as(*scopes, on_tenant=world[key].tenant).api_client)
        for who, key, scopes in (
            ("acme/de", "DE1", DE_READER),
            ("acme/all", "DE1", READER),
            ("globex/all", "OT-DE1", READER),
        )
    }
    expected = {
        "acme/de": {"DE1"},
        "acme/all": {"DE1", "FR1", "US1", "NULL1"},
        "globex/all": {"OT-DE1"},
    }
    env = environment(
        DATABASE_URL=coordinator_pooler,
        DATABASE_POOL_MODE="transaction",
        DATABASE_DISTRIBUTED="1",
        PORT=str(free_port()),
        GUNICORN_THREADS="8",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with gunicorn(env, tmp_path / "server.log") as base:

        def listed(who: str) -> tuple[str, set[str]]:
            tenant = who.split("/")[0]
            request = urllib.request.Request(  # noqa: S310 - loopback
                f"{base}/customer/{tenant}/customers",
                headers={"Authorization": f"Bearer {tokens[who]}"},
            )
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
                return who, {c["id"] for c in json.loads(response.read())}

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(listed, list(expected) * 40))
    assert len(answers) == 120
    assert [who for who, found in answers if found != expected[who]] == []
