"""R6 under concurrency (PostgreSQL): removing a restriction waits for a write that assigns it."""

import threading
import time

import pytest
from django.db import connection, transaction

from accounts.principal import Principal
from accounts.scopes import Grants
from core.errors import ConflictError
from customers.services import customer_create, restriction_remove
from tests.factories import TenantFactory


@pytest.mark.django_db(transaction=True)
def test_r6_removal_waits_for_a_concurrent_assignment_and_then_refuses():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the row lock under test is PostgreSQL's")
    tenant = TenantFactory(code="race")
    actor = Principal(tenant.pk, "race", Grants.everything(), "operator", "test")
    outcome = {}

    def remove():
        try:
            restriction_remove(tenant=tenant, code="FR")
            outcome["result"] = "removed"
        except ConflictError as exc:
            outcome["result"] = " ".join(exc.messages)
        finally:
            connection.close()

    with transaction.atomic():
        customer_create(actor=actor, fields={}, restriction="FR")
        remover = threading.Thread(target=remove)
        remover.start()
        time.sleep(0.5)
        assert remover.is_alive(), "the removal must wait for the uncommitted assignment"
    remover.join(timeout=10)
    assert "still carried by 1 customer" in outcome["result"]
    assert tenant.restrictions.filter(code="FR").exists()
