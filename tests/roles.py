"""The test suite's two PostgreSQL roles, so that it runs as production does (core.roles): an
owner that creates the test database and runs the migrations, and a service role (neither
superuser nor BYPASSRLS, owning nothing) that every test connects as.

They are made by the superuser of ``DATABASE_URL``, named after the test database (two runs on
different databases do not disturb each other) and given a fresh password each session."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import connections

from core.roles import CREDENTIALS


@dataclass(frozen=True)
class TestRoles:
    owner: dict[str, str]
    service: dict[str, str]
    search: str
    stranger: dict[str, str]  # may log in, holds no privilege of its own (attacks from inside)

    def owner_url(self, settings_dict) -> str:
        o = self.owner
        name = settings_dict["NAME"]
        return f"postgres://{o['USER']}:{o['PASSWORD']}@{o['HOST']}:{o['PORT']}/{name}"


def test_database_name(alias: str = "default") -> str:
    settings_dict = connections[alias].settings_dict
    return settings_dict.get("TEST", {}).get("NAME") or f"test_{settings_dict['NAME']}"


def create_test_roles(alias: str = "default") -> TestRoles | None:
    """(Re)create the roles as the superuser; None when the database is not PostgreSQL or its
    user is no superuser (the suite then runs as that one role)."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    settings_dict = connection.settings_dict
    test_name = test_database_name(alias)
    quote = connection.ops.quote_name
    made = {}
    # Django's own way in for creating test databases: the "postgres" database, whether or not
    # the configured one exists yet.
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            return None
        # A test database made by another role (before the suite had its own) could not be
        # replaced by the owner role; one of the owner's own is left to pytest-django.
        cursor.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [test_name]
        )
        found = cursor.fetchone()
        if found is not None and found[0] != f"{test_name}_owner":
            cursor.execute(f"DROP DATABASE {quote(test_name)}")
        for kind, attributes in (
            ("owner", "NOSUPERUSER NOBYPASSRLS CREATEDB"),
            ("service", "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
            ("stranger", "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
        ):
            role, password = f"{test_name}_{kind}", secrets.token_hex(16)
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(f"{verb} ROLE {quote(role)} LOGIN {attributes} PASSWORD %s", [password])
            made[kind] = {
                "USER": role,
                "PASSWORD": password,
                "HOST": settings_dict.get("HOST") or "127.0.0.1",
                "PORT": str(settings_dict.get("PORT") or 5432),
            }
        # The owner of the trigram search function under row-level security (no login).
        search = f"{test_name}_search"
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [search])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        cursor.execute(f"{verb} ROLE {quote(search)} NOLOGIN NOSUPERUSER BYPASSRLS")
        cursor.execute(f"GRANT {quote(search)} TO {quote(made['owner']['USER'])}")
    connection.close()
    return TestRoles(
        owner=made["owner"], service=made["service"], search=search, stranger=made["stranger"]
    )


def connect_as(credentials: dict[str, str], alias: str = "default") -> None:
    connection = connections[alias]
    connection.close()
    connection.settings_dict.update({key: credentials[key] for key in CREDENTIALS})
