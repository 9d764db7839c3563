"""Valid restrictions under concurrency (PostgreSQL): removing a restriction waits for a write
that assigns it, then counts that customer and refuses."""

import threading
import time

import pytest
from django.db import connection, transaction

from accounts.principal import Principal
from accounts.scopes import Grants
from core.errors import ConflictError
from customers.services import customer_create, restriction_remove
from tests.factories import TenantFactory


def wait_until_blocked(backend_pid: int, timeout: float = 10.0) -> bool:
    """True once ``backend_pid`` waits for a lock (seen in pg_locks), False on timeout."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [backend_pid]
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.01)
    return False


@pytest.mark.django_db(transaction=True)
def test_removal_waits_for_a_concurrent_assignment_and_then_refuses():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the row lock under test is PostgreSQL's")
    tenant = TenantFactory(code="race")
    actor = Principal(tenant.pk, "race", Grants.everything(), "operator", "test")
    outcome = {}
    connected = threading.Event()

    def remove():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            connected.set()
            restriction_remove(tenant=tenant, code="FR")
            outcome["result"] = "removed"
        except ConflictError as exc:
            outcome["result"] = exc.message
        finally:
            connected.set()
            connection.close()

    with transaction.atomic():
        customer_create(actor=actor, fields={}, restriction="FR")
        remover = threading.Thread(target=remove)
        remover.start()
        assert connected.wait(timeout=10)
        assert wait_until_blocked(outcome["pid"]), "the removal must wait for the assignment"
        assert "result" not in outcome
    remover.join(timeout=10)
    assert "still carried by 1 customer" in outcome["result"]
    assert tenant.restrictions.filter(code="FR").exists()
