import os
import threading

import pytest
from django.core.cache import cache
from django.db import connection
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from accounts import rowsecurity
from accounts.tokens import CLIENT_SUBJECT_PREFIX, issue_token
from core import plans
from tests import citus
from tests.factories import ApiClientFactory, TenantFactory

# Timing-based deadlines make property tests flaky on a loaded CI machine; correctness is the point.
hypothesis_settings.register_profile("project", deadline=None)
hypothesis_settings.load_profile("project")


@pytest.fixture(scope="session")
def database_roles(django_db_modify_db_settings_parallel_suffix, django_db_blocker):
    from tests.roles import create_test_roles, test_database_name

    with django_db_blocker.unblock():
        if citus.on_citus():
            citus.drop_test_database(test_database_name())
        return create_test_roles()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(database_roles):
    """On PostgreSQL the test database is created and migrated by the owner role..."""
    from tests.roles import connect_as

    if database_roles is not None:
        from django.conf import settings

        settings.DATABASE_SEARCH_ROLE = database_roles.search
        connect_as(database_roles.owner)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, database_roles, django_db_blocker):
    """... and every test connects as the service role, as production does (core.roles)."""
    from django.conf import settings

    from core.roles import grant_service_privileges
    from tests.roles import connect_as

    if database_roles is None:
        yield
        return
    with django_db_blocker.unblock():
        if citus.on_citus():
            citus.distribute_test_database()
        # TRUNCATE too: tests that commit empty the tables afterwards (production: no TRUNCATE).
        grant_service_privileges(database_roles.service["USER"], extra="TRUNCATE")
    connect_as(database_roles.service)
    settings.MIGRATION_DATABASE_URL = database_roles.owner_url(connection.settings_dict)
    yield
    settings.MIGRATION_DATABASE_URL = ""
    connect_as(database_roles.owner)  # who drops the test database


def _test_code_sees_all_tenants(sender, connection, **kwargs):
    rowsecurity.stand(rowsecurity.ALL_TENANTS, connection=connection)


@pytest.fixture(scope="session", autouse=True)
def _row_security_for_test_code():
    """Test code itself (factories, assertions) works across tenants: every connection of the
    test process starts bound to all tenants. What runs the application's way binds its own
    context over it (a request, a command, a task) and puts this one back afterwards;
    ``no_row_context`` takes it away for a test."""
    from django.db.backends.signals import connection_created

    connection_created.connect(_test_code_sees_all_tenants)
    yield
    connection_created.disconnect(_test_code_sees_all_tenants)


@pytest.fixture
def no_row_context(db):
    """The connection bound to nothing, as a process that forgot to bind would be."""
    rowsecurity.stand(rowsecurity.NOTHING)
    yield
    rowsecurity.stand(rowsecurity.ALL_TENANTS)


@pytest.fixture(autouse=True)
def _no_unexpected_server_errors(request, monkeypatch):
    """Every request a test makes answers below 500 (on PostgreSQL: as the service role, under
    row-level security), unless the test is marked ``server_error`` because it provokes one on
    purpose: a 5xx that the test's own assertions would not look at still fails it."""
    if request.node.get_closest_marker("server_error"):
        yield
        return
    from django.core.handlers.base import BaseHandler

    answered: list[str] = []
    original = BaseHandler.get_response

    def get_response(handler, http_request):
        response = original(handler, http_request)
        if response.status_code >= 500:
            answered.append(f"{http_request.method} {http_request.path}: {response.status_code}")
        return response

    monkeypatch.setattr(BaseHandler, "get_response", get_response)
    yield
    assert not answered, f"server errors: {answered}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "customers.passwords.EmporixPBKDF2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counts and lockouts live in the cache: no test inherits another's failures;
    nor another's restriction trees (ids and versions repeat after a rollback)."""
    from customers import read_log
    from tenancy.services import forget_trees

    cache.clear()
    forget_trees()
    read_log.forget()
    yield
    cache.clear()
    forget_trees()
    read_log.forget()


@pytest.fixture(autouse=True)
def _tasks_run_immediately(settings):
    """Background tasks run in the test's process (one test drives a real worker instead)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def tenant(db):
    return TenantFactory(code="acme")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(code="globex")


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def token_for(api_client) -> str:
    return issue_token(
        subject=f"{CLIENT_SUBJECT_PREFIX}{api_client.client_id}",
        tenant_code=api_client.tenant.code,
        scopes=api_client.scopes,
        generation=api_client.token_generation,
    ).access_token


@pytest.fixture
def employee(tenant):
    """``employee("name", (scopes, restrictions), ...)``: a staff employee of ``acme``."""

    from tests.factories import AccessGroupFactory, EmployeeFactory

    def make(username, *groups, is_staff=True, on_tenant=None):
        target = on_tenant or tenant
        access_groups = [
            AccessGroupFactory(tenant=target, scopes=list(scopes), restrictions=list(restrictions))
            for scopes, restrictions in groups
        ]
        return EmployeeFactory(
            tenant=target, username=username, is_staff=is_staff, access_groups=access_groups
        )

    return make


@pytest.fixture
def api_as(tenant):
    """``api_as("customer.customer_read--DE", ...)``: an API client holding those scopes."""

    def make(*scopes: str, on_tenant=None) -> APIClient:
        client = ApiClientFactory(tenant=on_tenant or tenant, scopes=list(scopes))
        http = bearer_client(token_for(client))
        http.api_client = client
        return http

    return make


# -- the leak-hunting data set: two tenants, DE/FR/US/null customers ----------------------------

READER = ("customer.customer_read",)
DE_READER = ("customer.customer_read--DE",)
DE_FR_READER = ("customer.customer_read--DE", "customer.customer_read--FR")
DE_MANAGER = ("customer.customer_manage--DE",)
DE_RESTRICTION_MANAGER = ("customer.customer_manage--DE", "restriction.restriction_manage--DE")
MANAGER = ("customer.customer_manage", "restriction.restriction_manage")


@pytest.fixture
def world(tenant, other_tenant):
    """Customers DE1, FR1, US1, NULL1 (with an address and an account each) in ``acme``, and
    OT-DE1 in ``globex``: every principal's view of them shows a leak if there is one."""
    from tests.factories import AccountFactory, AddressFactory, CustomerFactory

    customers = {}
    for key, restriction in [("DE1", "DE"), ("FR1", "FR"), ("US1", "US"), ("NULL1", None)]:
        customer = CustomerFactory(
            tenant=tenant,
            customer_number=key,
            first_name=f"First{key}",
            last_name=f"Last{key}",
            contact_email=f"{key.lower()}@example.com",
            restriction=restriction,
        )
        AddressFactory(customer=customer, contact_name=f"Contact{key}", is_default=True)
        AccountFactory(customer=customer, email=f"{key.lower()}@example.com")
        customers[key] = customer
    customers["OT-DE1"] = CustomerFactory(
        tenant=other_tenant,
        customer_number="OT-DE1",
        first_name="FirstOT",
        last_name="LastOT",
        contact_email="ot-de1@example.com",
        restriction="DE",
    )
    return customers


@pytest.fixture
def audited_world(world):
    """``world`` with an audit row for every customer's initial restriction."""
    from tests.factories import RestrictionChangeFactory

    for customer in world.values():
        RestrictionChangeFactory(customer=customer, new_value=customer.restriction)
    return world


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """For requests sent through the WSGI handler (Schemathesis), as Django's test client
    does: the handler would otherwise close the test's database connection after each one."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def fuzzing(examples: int):
    """Hypothesis settings of the Schemathesis tests: a fixed number of examples, the same
    ones on every run (no flaky CI), no deadline (requests hit a database)."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def data_queries(captured) -> list[str]:
    """The statements that read or write data: without savepoints and the statements that only
    bind the row-security context (in tests it is also read before and put back after; the
    principal lookup that binds it too is a data statement)."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if "SAVEPOINT" not in q["sql"] and not binds_only(q["sql"])
    ]


def binds_only(sql: str) -> bool:
    # (a principal lookup starts with the statements binding the sign-in context: one query)
    if sql.startswith(CONTEXT_READ):
        return True
    return all(part.startswith(CONTEXT_SET) for part in sql.split("; "))


def is_read_log_insert(sql: str) -> bool:
    """The read-access log's one statement per answer (customers.read_log), prepared by the
    database session or not (core.plans)."""
    text = plans.statement_of(connection, sql).lstrip().upper()
    return text.startswith("INSERT INTO") and "CUSTOMERS_CUSTOMERVIEW" in text


# Statements that only bind or read the row-security context.
CONTEXT_SET = "SET LOCAL customers."
CONTEXT_READ = "SELECT current_setting('customers."


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


LOCAL_REDIS = "redis://127.0.0.1:6379/15"


def require_redis(what_still_runs: str) -> None:
    """Skip the calling test, saying why, when no Redis answers at :data:`LOCAL_REDIS`."""
    import redis

    try:
        redis.Redis.from_url(LOCAL_REDIS).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis answers on 127.0.0.1:6379; {what_still_runs}")


@pytest.fixture(params=["locmem", "redis"])
def each_cache(request, settings):
    """The shared cache in local memory (one process) and in Redis (what several processes
    share)."""
    if request.param == "redis":
        require_redis("the local-memory case still runs")
        backend = {
            "BACKEND": "core.cache.SharedCache",
            "LOCATION": LOCAL_REDIS,
            "KEY_PREFIX": f"test-{threading.get_ident()}",
        }
    else:
        backend = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    settings.CACHES = {"default": backend}
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
