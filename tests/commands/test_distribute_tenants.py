"""distribute_tenants refuses a database that is not Citus (the suite's own, on SQLite and on
plain PostgreSQL); the system check holds DATABASE_DISTRIBUTED to the database. On Citus:
tests/test_citus.py."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.checks import distributed_as_configured
from tests import citus

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(citus.on_citus(), reason="the suite's database is distributed"),
]


def test_a_database_that_is_not_citus_is_refused_with_status_2_and_nothing_changes():
    out = io.StringIO()
    with pytest.raises(CommandError, match="not a Citus coordinator") as refused:
        call_command("distribute_tenants", stdout=out)
    assert refused.value.returncode == 2
    assert out.getvalue() == ""


def test_a_database_that_is_not_configured_is_refused_with_status_2():
    with pytest.raises(CommandError, match="No database 'elsewhere' is configured") as refused:
        call_command("distribute_tenants", "--database", "elsewhere", stdout=io.StringIO())
    assert refused.value.returncode == 2


def test_the_check_warns_when_the_setting_claims_a_distribution_there_is_not(settings):
    assert distributed_as_configured(databases=["default"]) == []
    settings.DATABASE_DISTRIBUTED = True
    [warning] = distributed_as_configured(databases=["default"])
    assert warning.id == "core.W001"
    assert distributed_as_configured(databases=None) == []  # (only asked with the database)
