"""Two database roles on PostgreSQL: the service's and the owner's.

The service connects with ``DATABASE_URL`` as a role that may read and write rows and nothing
more: it owns no table, cannot change the schema, cannot ``TRUNCATE`` and is neither superuser
nor ``BYPASSRLS``. Migrations and maintenance run as the tables' owner, whose credentials are
``MIGRATION_DATABASE_URL`` (the same database): ``manage.py migrate`` switches to them by
itself (:func:`as_database_owner`) and afterwards grants the service's role its row privileges
on every table and sequence (:func:`grant_service_privileges`). Without
``MIGRATION_DATABASE_URL`` (SQLite, or one role for everything) nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dj_database_url
from django.conf import settings
from django.db import connections

CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")
ROW_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def owner_credentials() -> dict[str, str] | None:
    url = getattr(settings, "MIGRATION_DATABASE_URL", "")
    if not url:
        return None
    parsed = dj_database_url.parse(url)
    return {key: parsed.get(key) or "" for key in CREDENTIALS}


@contextmanager
def as_database_owner(alias: str = "default") -> Iterator[str | None]:
    """Connect ``alias`` as the owner while the block runs; yields the service's role name (or
    None when there is no separate owner). The connection is closed on entry and exit, so
    call it outside a transaction."""
    owner = owner_credentials()
    connection = connections[alias]
    if owner is None or connection.vendor != "postgresql":
        yield None
        return
    # (This thread's connection gets settings of its own: the dict it had is shared with every
    # other thread's connection to the alias, which must stay the service's.)
    service = connection.settings_dict
    connection.close()
    connection.settings_dict = {**service, **owner}
    try:
        yield service["USER"]
    finally:
        connection.close()
        connection.settings_dict = service


def grant_service_privileges(role: str, alias: str = "default", *, extra: str = "") -> None:
    """Row privileges on every table and sequence of the schema, and the right to call its
    functions, for ``role`` (run as the owner). Functions that must not be called by anyone are
    revoked from PUBLIC by their migration and stay callable by the service only. ``extra``
    adds table privileges (the test suite's ``TRUNCATE``, to empty tables between tests)."""
    privileges = ROW_PRIVILEGES + (f", {extra}" if extra else "")
    with connections[alias].cursor() as cursor:
        name = connections[alias].ops.quote_name(role)
        cursor.execute(f"GRANT {privileges} ON ALL TABLES IN SCHEMA public TO {name}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {name}")
        cursor.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {name}")


def grant_as_on(model_table: str, table: str, role: str, alias: str = "default") -> None:
    """Give ``role`` on ``table`` the privileges it holds on ``model_table`` (run as the owner;
    for tables made after ``migrate``, such as the read log's monthly partitions)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_schema = 'public' AND table_name = %s AND grantee = %s",
            [model_table, role],
        )
        privileges = sorted(privilege for (privilege,) in cursor.fetchall())
        if privileges:
            name = connections[alias].ops.quote_name(role)
            cursor.execute(f"GRANT {', '.join(privileges)} ON {table} TO {name}")


def give_to_search_role(schema_editor, functions: list[str]) -> None:
    """Make the search role (``DATABASE_SEARCH_ROLE``: NOLOGIN, BYPASSRLS) the owner of
    ``functions`` (full signatures), which apply the bound row-security context by hand; it may
    read the customer table. Nothing happens when no such role is configured or exists."""
    search_role = getattr(settings, "DATABASE_SEARCH_ROLE", "")
    if not search_role:
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [search_role])
        if cursor.fetchone() is None:
            return
    role = schema_editor.quote_name(search_role)
    schema_editor.execute(f"GRANT SELECT ON customers_customer TO {role}")
    # (A new owner needs CREATE on the schema at the moment it takes the function.)
    schema_editor.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    for function in functions:
        schema_editor.execute(f"ALTER FUNCTION {function} OWNER TO {role}")
    schema_editor.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
