"""A write the database refuses at its commit (a deferred key that no longer holds: what it refers
to was removed by another transaction meanwhile) answers 409 with the error body, and nothing of
it is kept: never a 500. On PostgreSQL (plain or distributed), where an API request runs in one
transaction that commits after its handler answered."""

import threading

import pytest
from django.db import connection, connections

from accounts import rowsecurity
from customers.api import customers as customers_api
from customers.models import Customer
from tenancy.models import Tenant

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="on SQLite an API request runs without a transaction: nothing is left to commit",
    ),
    # (the request's transaction must be the outermost one to commit at all)
    pytest.mark.django_db(transaction=True),
]


def removed_by_another_transaction(tenant_id: int) -> None:
    """The tenant and everything of it deleted and committed by another connection (as the
    platform's operator would), while the request's transaction is still open."""

    def remove() -> None:
        try:
            with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
                Tenant.objects.filter(pk=tenant_id).delete()
        finally:
            connections.close_all()

    worker = threading.Thread(target=remove)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the tenant's removal waited on the request's transaction"


def test_a_customer_created_while_its_tenant_is_removed_answers_409(tenant, api_as, monkeypatch):
    created = customers_api.services.customer_create

    def create_then_lose_the_tenant(*args, **kwargs):
        customer = created(*args, **kwargs)
        removed_by_another_transaction(tenant.pk)
        return customer

    monkeypatch.setattr(customers_api.services, "customer_create", create_then_lose_the_tenant)
    manager = api_as("customer.customer_manage")
    response = manager.post(
        "/customer/acme/customers",
        {"id": "RACED", "firstName": "Raced", "lastName": "Create"},
        format="json",
    )
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["status"] == 409 and body["type"] == "conflict_resource"
    assert "changed at the same time" in body["message"]
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert not Customer.objects.filter(customer_number="RACED").exists()
        assert not Tenant.objects.filter(pk=tenant.pk).exists()


@pytest.mark.server_error
def test_a_handlers_own_database_error_is_not_taken_for_a_refusal_at_commit(
    tenant, api_as, monkeypatch
):
    """Only the commit's refusal is a conflict: an integrity error the handler raised itself is
    a server error (a bug to see), as before."""
    from django.db import IntegrityError

    def broken(*args, **kwargs):
        raise IntegrityError("a bug in the handler")

    monkeypatch.setattr(customers_api.services, "customer_create", broken)
    manager = api_as("customer.customer_manage")
    manager.raise_request_exception = False
    response = manager.post(
        "/customer/acme/customers", {"firstName": "Broken", "lastName": "Handler"}, format="json"
    )
    assert response.status_code == 500
