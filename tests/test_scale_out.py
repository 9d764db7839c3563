"""The scale-out path with the real engines: gunicorn as the service role behind PgBouncer in
transaction mode (2 server connections), reading from a streaming replica.

Runs where ``tools/pg_stack.py`` has started a primary, a replica and the pooler and their URLs
are in ``STACK_PRIMARY_URL``, ``STACK_REPLICA_URL`` and ``STACK_POOLER_URL`` (``.ci/run`` does;
see docs/scaling.md). Each run makes its own database on the stack; the servers remember who
wrote in the shared cache (Redis at ``STACK_REDIS_URL``, by default the local one, when it
answers).
"""

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import psycopg
import pytest

from tests.processes import ROOT, free_port, gunicorn

STACK = {name: os.environ.get(f"STACK_{name}_URL", "") for name in ("PRIMARY", "REPLICA", "POOLER")}
REDIS_URL = os.environ.get("STACK_REDIS_URL", "redis://127.0.0.1:6379/14")


def _redis_answers() -> bool:
    host_port = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, int(port))) == 0


# Read-your-writes across the server's worker processes needs the shared cache; without a Redis
# to share, one worker process (its threads share the local cache).
SHARED_CACHE = (
    {"REDIS_URL": REDIS_URL, "WEB_CONCURRENCY": "2"}
    if _redis_answers()
    else {"REDIS_URL": "", "WEB_CONCURRENCY": "1"}
)
SERVICE, SEARCH = "stack_service", "stack_search"
AGENT, AGENT_PASSWORD = "north_agent", "north-agent-pass-123"  # (made by SEED)
READ_YOUR_WRITES = 2.0

pytestmark = pytest.mark.skipif(
    not all(STACK.values()),
    reason="no scale-out stack (STACK_*_URL unset): .ci/run starts one with tools/pg_stack.py",
)

SEED = """
import json
from accounts.principal import Principal
from accounts.services.identities import api_client_create
from accounts.tokens import CLIENT_SUBJECT_PREFIX, issue_token
from core.channels import Channel
from customers.models import Customer
from tenancy.models import Tenant
from tenancy.services import tenant_create

AGENT_PASSWORD = "north-agent-pass-123"
CLIENTS = {
    "de-reader": ["customer.customer_read--DE"],
    "reader": ["customer.customer_read"],
    "manager": ["customer.customer_read", "customer.customer_manage"],
}
tokens = {}
for code in ("north", "south"):
    tenant = tenant_create(code=code, name=code, restrictions=["DE", "FR"], sites=["DE", "FR"])
    Customer.objects.bulk_create(
        Customer(tenant=tenant, customer_number=f"{code}-{value}-{n}", restriction=value,
                 first_name="First", last_name=f"{code}{value}")
        for value in ("DE", "FR") for n in range(6)
    )
    operator = Principal.operator(tenant, "stack-test")
    for name, scopes in CLIENTS.items():
        client = api_client_create(
            actor=operator, channel=Channel.COMMAND, tenant=tenant, name=name, scopes=scopes
        ).client
        tokens[f"{code}/{name}"] = issue_token(
            subject=CLIENT_SUBJECT_PREFIX + client.client_id, tenant_code=code, scopes=scopes,
            generation=client.token_generation,
        ).access_token
from accounts.models import AccessGroup, Employee

group = AccessGroup.objects.create(
    tenant=Tenant.objects.get(code="north"), name="agents",
    scopes=["customer.customer_read", "customer.customer_manage"], restrictions=[],
)
agent = Employee.objects.create_user(
    username="north_agent", password=AGENT_PASSWORD, tenant=group.tenant, is_staff=True
)
agent.access_groups.add(group)
print(json.dumps(tokens))
"""


def in_database(url: str, name: str, user: str = "postgres") -> str:
    base = url.rsplit("/", 1)[0]
    return base.replace("://postgres@", f"://{user}@") + f"/{name}"


def sql(url: str, statement: str, *params):
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(statement, params or None)
        return cursor.fetchall() if cursor.description else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A database of its own on the stack, migrated as the owner (directly, not through the
    pooler), seeded, and caught up on the replica; the service role's tokens."""
    name = f"scale_{secrets.token_hex(4)}"
    primary = STACK["PRIMARY"]
    for role, attributes in ((SERVICE, "LOGIN NOBYPASSRLS"), (SEARCH, "NOLOGIN BYPASSRLS")):
        if not sql(primary, "SELECT 1 FROM pg_roles WHERE rolname = %s", role):
            sql(primary, f"CREATE ROLE {role} {attributes}")
    sql(primary, f'CREATE DATABASE "{name}"')
    owner_url = in_database(primary, name)
    env = {
        **os.environ,
        "DATABASE_URL": in_database(primary, name, SERVICE),
        "MIGRATION_DATABASE_URL": owner_url,
        "DATABASE_SEARCH_ROLE": SEARCH,
        "JWT_SIGNING_KEY": "k" * 50,
        "SECRET_KEY": "s" * 50,
    }
    env.pop("DATABASE_REPLICA_URLS", None)
    env.pop("DATABASE_POOL_MODE", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    seeded = subprocess.run(  # noqa: S603 - our interpreter, manage.py and script
        [*manage, "shell", "-c", SEED],
        cwd=ROOT,
        env={**env, "DATABASE_URL": owner_url},  # (the owner: no row-security context needed)
        check=True,
        capture_output=True,
        text=True,
    )
    tokens = json.loads(seeded.stdout.strip().splitlines()[-1])
    replica_owner = in_database(STACK["REPLICA"], name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.Error):  # (the database may not have arrived yet)
            if sql(replica_owner, "SELECT count(*) FROM customers_customer")[0][0] == 24:
                break
        time.sleep(0.2)
    else:
        pytest.fail("the replica did not catch up")
    try:
        yield {"name": name, "env": env, "tokens": tokens, "tmp": tmp_path_factory.mktemp("s")}
    finally:
        sql(primary, f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def server(stack, replica_url: str, **settings: str):
    """gunicorn as the service role through the pooler, reading from ``replica_url``."""
    env = {
        **stack["env"],
        "DATABASE_URL": in_database(STACK["POOLER"], stack["name"], SERVICE),
        "DATABASE_POOL_MODE": "transaction",
        "DATABASE_REPLICA_URLS": replica_url,
        "DEBUG": "0",
        "STATIC_MANIFEST": "0",
        **SHARED_CACHE,
        "READ_YOUR_WRITES_SECONDS": str(READ_YOUR_WRITES),
        "REPLICA_CHECK_SECONDS": "0.1",
        "GUNICORN_THREADS": "8",
        "PORT": str(free_port()),
        **settings,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with gunicorn(env, stack["tmp"] / f"server-{env['PORT']}.log") as base:
        yield base


def call(base, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/merge-patch+json"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def first_name(base, token, number):
    status, body = call(base, "GET", f"/customer/{number.split('-')[0]}/customers/{number}", token)
    assert status == 200, body
    return json.loads(body)["firstName"]


def replica_state(base) -> str:
    return json.loads(call(base, "GET", "/readyz")[1])["replicas"]["replica1"]


@contextmanager
def replay_paused(stack):
    replica = in_database(STACK["REPLICA"], stack["name"])
    sql(replica, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        sql(replica, "SELECT pg_wal_replay_resume()")


def test_pooled_server_connections_never_carry_one_requests_context_into_anothers(stack):
    """Two tenants' principals, alternating, over 16 client connections and 2 server
    connections: every answer is exactly the principal's own rows."""
    closed = f"postgres://{SERVICE}@127.0.0.1:{free_port()}/{stack['name']}"
    expected = {
        "north/de-reader": {f"north-DE-{n}" for n in range(6)},
        "south/de-reader": {f"south-DE-{n}" for n in range(6)},
        "north/reader": {f"north-{v}-{n}" for v in ("DE", "FR") for n in range(6)},
        "south/reader": {f"south-{v}-{n}" for v in ("DE", "FR") for n in range(6)},
    }
    with server(stack, closed) as base:  # (its one replica is down: every read on the primary)

        def listed(who):
            tenant = who.split("/")[0]
            status, body = call(base, "GET", f"/customer/{tenant}/customers", stack["tokens"][who])
            assert status == 200, body
            return who, {c["id"] for c in json.loads(body)}

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(listed, list(expected) * 60))
        assert len(answers) == 240
        assert all(found == expected[who] for who, found in answers)
        in_use = sql(
            in_database(STACK["PRIMARY"], stack["name"]),
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
            SERVICE,
        )[0][0]
        assert in_use <= 2  # the pooler's server connections, whatever the clients
        status, body = call(base, "GET", "/readyz")
        assert status == 200
        assert json.loads(body)["replicas"] == {"replica1": "down"}
        metrics = call(base, "GET", "/metrics")[1].decode()
        assert 'database_replica_usable{replica="replica1"} 0.0' in metrics


def test_reads_come_from_the_replica_and_a_writer_reads_its_own_writes(stack):
    replica = in_database(STACK["REPLICA"], stack["name"], SERVICE)
    manager, reader = stack["tokens"]["north/manager"], stack["tokens"]["north/reader"]
    fresh = f"Fresh{secrets.token_hex(3)}"
    with server(stack, replica, REPLICA_MAX_LAG_SECONDS="60") as base, replay_paused(stack):
        status, body = call(
            base, "PATCH", "/customer/north/customers/north-DE-1", manager, {"firstName": fresh}
        )
        assert status == 200, body
        assert first_name(base, manager, "north-DE-1") == fresh  # the primary: its own write
        primary = in_database(STACK["PRIMARY"], stack["name"])
        logged = "SELECT count(*) FROM customers_customerview WHERE customer_number = %s"
        before = sql(primary, logged, "north-DE-1")[0][0]
        assert first_name(base, reader, "north-DE-1") == "First"  # the replica, replay paused
        # ... and the read is in the read-access log, which only the primary can take
        assert sql(primary, logged, "north-DE-1")[0][0] == before + 1
        time.sleep(READ_YOUR_WRITES + 0.5)
        assert first_name(base, manager, "north-DE-1") == "First"  # the window is over
    with server(stack, replica) as base:
        deadline = time.monotonic() + 20
        while first_name(base, reader, "north-DE-1") != fresh:
            assert time.monotonic() < deadline, "the replica never caught up"
            time.sleep(0.2)


def test_a_replica_lagging_beyond_the_limit_is_skipped_and_reported(stack):
    replica = in_database(STACK["REPLICA"], stack["name"], SERVICE)
    manager, reader = stack["tokens"]["south/manager"], stack["tokens"]["south/reader"]
    fresh = f"Lagged{secrets.token_hex(3)}"
    with ExitStack() as running:
        base = running.enter_context(server(stack, replica, REPLICA_MAX_LAG_SECONDS="1"))
        # (caught up first: an earlier test paused its replay, and WAL that commits nothing may
        # be in flight; both read as lag until replayed)
        deadline = time.monotonic() + 20
        while not replica_state(base).startswith("ok"):
            assert time.monotonic() < deadline, replica_state(base)
            time.sleep(0.2)
        running.enter_context(replay_paused(stack))
        status, _ = call(
            base, "PATCH", "/customer/south/customers/south-FR-2", manager, {"firstName": fresh}
        )
        assert status == 200
        time.sleep(1.5)
        assert first_name(base, reader, "south-FR-2") == fresh  # not the lagging replica
        status, body = call(base, "GET", "/readyz")
        assert status == 200  # the primary serves: still ready
        assert json.loads(body)["replicas"]["replica1"].startswith("lagging")
        metrics = call(base, "GET", "/metrics")[1].decode()
        assert 'database_replica_usable{replica="replica1"} 0.0' in metrics


def test_a_replica_failing_under_a_request_is_answered_by_the_primary(stack):
    replica = in_database(STACK["REPLICA"], stack["name"], SERVICE)
    reader = stack["tokens"]["north/de-reader"]
    expected = {f"north-DE-{n}" for n in range(6)}

    def listed(base):
        status, body = call(base, "GET", "/customer/north/customers", reader)
        assert status == 200, body
        return {c["id"] for c in json.loads(body)}

    # Checked once (and found usable) for the whole test: the failure comes under a request.
    with server(stack, replica, REPLICA_CHECK_SECONDS="3600", WEB_CONCURRENCY="1") as base:
        deadline = time.monotonic() + 20
        while not replica_state(base).startswith("ok"):  # (the probe checks it again)
            assert time.monotonic() < deadline, replica_state(base)
            time.sleep(0.2)
        assert listed(base) == expected
        killed = sql(
            in_database(STACK["REPLICA"], stack["name"]),
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s",
            SERVICE,
        )[0][0]
        assert killed >= 1  # the server's connections to the replica
        assert listed(base) == expected  # answered by the primary, not an error


class BackOffice:
    """A signed-in employee's browser session, as plain HTTP (cookies, CSRF token)."""

    def __init__(self, base: str):
        import http.cookiejar

        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.post(
            "/admin/login/", {"username": AGENT, "password": AGENT_PASSWORD, "next": "/admin/"}
        )
        assert "sessionid" in {cookie.name for cookie in self.cookies}, "not signed in"

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=20) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict) -> int:
        import re
        import urllib.parse

        form = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback
            self.base + path, data=body, headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=20) as response:
            return response.status


def test_back_office_pages_read_from_the_replica_until_the_employee_saves(stack):
    replica = in_database(STACK["REPLICA"], stack["name"], SERVICE)
    primary = in_database(STACK["PRIMARY"], stack["name"])
    fresh = f"Renamed{secrets.token_hex(3)}"
    number = "north-FR-4"
    with server(stack, replica, REPLICA_MAX_LAG_SECONDS="60") as base:
        office = BackOffice(base)
        changelist = f"/admin/customers/customer/?q={number}"
        assert number in office.get(changelist)
        with replay_paused(stack):
            with psycopg.connect(primary, autocommit=True) as owner:
                # (a change made behind the service's back: no trigger, no context needed)
                owner.execute("SET session_replication_role = replica")
                owner.execute(
                    "UPDATE customers_customer SET last_name = %s WHERE customer_number = %s",
                    [fresh, number],
                )
            assert fresh not in office.get(changelist)  # the replica's copy
            # Any save (this one is refused by the form: a required field is missing) sends the
            # employee's next pages to the primary.
            customer_id = sql(
                primary, "SELECT id FROM customers_customer WHERE customer_number = %s", number
            )[0][0]
            office.post(f"/admin/customers/customer/{customer_id}/change/", {"first_name": "X"})
            assert fresh in office.get(changelist)


def test_a_command_runs_through_the_pooler_with_its_context_on_each_transaction(stack):
    """A command binds its actor's context for its whole run statement by statement, never on
    the session: through a pooler in transaction mode it works (it was refused while the
    context was a session setting) and leaves nothing on the pooler's server connections."""
    env = {
        **stack["env"],
        "DATABASE_URL": in_database(STACK["POOLER"], stack["name"], SERVICE),
        "DATABASE_POOL_MODE": "transaction",
    }
    made = subprocess.run(
        [sys.executable, "manage.py", "create_api_client", "--tenant", "south", "--name",
         "pooled", "--scopes", "customer.customer_read--FR", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    client_id = json.loads(made.stdout.strip().splitlines()[-1])["client_id"]
    owner = in_database(STACK["PRIMARY"], stack["name"])
    assert sql(
        owner,
        "SELECT t.code FROM accounts_apiclient c JOIN tenancy_tenant t ON t.id = c.tenant_id "
        "WHERE c.client_id = %s",
        client_id,
    ) == [("south",)]
    assert sql(
        owner, "SELECT count(*) FROM accounts_accesschange WHERE subject_name = 'pooled'"
    ) == [(1,)]
    # Every server connection the pooler hands out next is bound to nothing.
    service = in_database(STACK["POOLER"], stack["name"], SERVICE)
    for _ in range(4):
        assert sql(service, "SELECT current_setting('customers.tenant_low', true)") in (
            [(None,)],
            [("",)],
        )
