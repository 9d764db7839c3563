"""The test database distributed over the Citus cluster of ``tools/citus_stack.py``, when the
suite runs on one (``CITUS_WORKER_URLS`` set, ``DATABASE_URL`` the coordinator's).

pytest-django creates and migrates the test database on the coordinator as the owner role;
here the superuser makes the same database on every worker, with the extension, registers the
workers with the coordinator, and the owner distributes the customer tables
(``manage.py distribute_tenants``), before any test runs as the service role."""

from __future__ import annotations

import io
import os
from urllib.parse import urlsplit

import psycopg
from django.core.management import call_command
from django.db import connection


def worker_urls() -> list[str]:
    return [url for url in os.environ.get("CITUS_WORKER_URLS", "").split(",") if url]


def on_citus() -> bool:
    return bool(worker_urls())


def _with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def drop_test_database(name: str) -> None:
    """A test database a previous run left on the coordinator, dropped whoever still uses it
    (Citus's own daemon keeps a session on it)."""
    with psycopg.connect(os.environ["CITUS_COORDINATOR_URL"], autocommit=True) as coordinator:
        coordinator.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def distribute_test_database() -> str:
    """The test database distributed; what ``distribute_tenants`` said."""
    name = connection.settings_dict["NAME"]
    owner = connection.settings_dict["USER"]
    for url in worker_urls():
        with psycopg.connect(url, autocommit=True) as worker:
            worker.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            worker.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        with psycopg.connect(_with_database(url, name), autocommit=True) as worker:
            worker.execute("CREATE EXTENSION citus")
    coordinator_url = _with_database(os.environ["CITUS_COORDINATOR_URL"], name)
    with psycopg.connect(coordinator_url, autocommit=True) as coordinator:
        coordinator.execute("CREATE EXTENSION IF NOT EXISTS citus")
        own = urlsplit(coordinator_url)
        coordinator.execute("SELECT citus_set_coordinator_host(%s, %s)", [own.hostname, own.port])
        for url in worker_urls():
            worker = urlsplit(url)
            coordinator.execute("SELECT citus_add_node(%s, %s)", [worker.hostname, worker.port])
    connection.close()  # (the settings the command sets apply to new sessions)
    out = io.StringIO()
    call_command("distribute_tenants", stdout=out)
    connection.close()
    return out.getvalue()
