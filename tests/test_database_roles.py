"""On PostgreSQL the service connects as a role that only reads and writes rows; migrations run
as the tables' owner (MIGRATION_DATABASE_URL). The suite itself runs that way (tests/roles.py)."""

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="database roles are PostgreSQL's"
)


@pytest.fixture(autouse=True)
def _two_roles(database_roles):
    if database_roles is None:
        pytest.skip("DATABASE_URL's user is no superuser, so the suite cannot make its two roles")


def current_role():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user"
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_the_service_role_is_neither_superuser_nor_bypasses_row_security():
    role, superuser, bypasses, creates_databases = current_role()
    assert role.endswith("_service")
    assert (superuser, bypasses, creates_databases) == (False, False, False)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s",
            [role],
        )
        assert cursor.fetchone()[0] == 0  # it owns no table


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "ALTER TABLE customers_customer ADD COLUMN intruder int",
        "ALTER TABLE customers_customer DISABLE ROW LEVEL SECURITY",
        "DROP TABLE customers_customer",
    ],
)
def test_the_service_role_cannot_change_the_schema(statement):
    with (
        pytest.raises(DatabaseError, match=r"permission denied|must be owner"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


@pytest.mark.django_db(transaction=True)
def test_migrate_runs_as_the_owner_and_hands_the_service_role_back(capsys):
    call_command("migrate", verbosity=1)
    assert "No migrations to apply" in capsys.readouterr().out
    role, *_ = current_role()
    assert role.endswith("_service")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM customers_customer")  # privileges still granted


@pytest.mark.django_db
@pytest.mark.parametrize(
    "call",
    [
        "SELECT count(*) FROM customers_matching_ids('contact_email', '~', '.')",
        "SELECT customers_trigram_pays('contact_email', '~', 'a')",
        "SELECT customers_visible_count('*')",
    ],
)
def test_a_role_without_grants_cannot_call_the_search_functions(database_roles, call):
    """They run as a role that bypasses row security and trust caller-set ``customers.*``
    settings: only the service role may call them (a login role of the same cluster that was
    granted nothing is refused, even with every tenant's context set by itself)."""
    import psycopg

    stranger = database_roles.stranger
    with psycopg.connect(
        host=stranger["HOST"],
        port=stranger["PORT"],
        user=stranger["USER"],
        password=stranger["PASSWORD"],
        dbname=connection.settings_dict["NAME"],
    ) as other:
        other.execute("SELECT set_config('customers.read', '*', false)")
        other.execute("SELECT set_config('customers.tenant_high', '999999999', false)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            other.execute(call)


@pytest.mark.django_db
def test_the_service_role_may_call_the_search_functions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT customers_trigram_pays('contact_email', '~', 'a')")
        assert cursor.fetchone()[0] in (True, False)


@pytest.mark.django_db(transaction=True)
def test_the_owner_in_one_thread_leaves_every_other_connection_the_services():
    """(Two upkeeps of the read log at once each switched the alias's one shared settings to
    the owner's and back, in crossing order: the service then reconnected as the owner.)"""
    import threading

    from core.roles import as_database_owner
    from tests.threads import at_once

    inside = threading.Barrier(2)

    def as_owner():
        with as_database_owner():
            inside.wait(timeout=10)  # (both threads are the owner at once)
            return current_role()[0]

    roles_seen = at_once(as_owner, as_owner)
    assert [role.endswith("_owner") for role in roles_seen] == [True, True]
    connection.close()
    assert current_role()[0].endswith("_service")
