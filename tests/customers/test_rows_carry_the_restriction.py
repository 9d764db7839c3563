"""A customer's addresses, accounts and restriction history carry its restriction
(``customer_restriction``), so that the database's row policies read only the row: moving a
customer moves them, in every write path, on SQLite and PostgreSQL; on PostgreSQL a row that
names another restriction than its customer's is refused (at commit, or here where the test
asks for its keys to be checked at once), and no policy has a subquery."""

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from accounts import rowsecurity
from accounts.principal import Principal
from accounts.scopes import Grants
from customers.models import (
    Account,
    Address,
    Channel,
    Customer,
    Job,
    JobKind,
    JobRestriction,
    RestrictionChange,
)
from customers.services import assignment
from customers.services.customers import customer_delete, customer_update
from tests.conftest import DE_MANAGER, MANAGER

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the foreign keys and policies are PostgreSQL's"
)
# (on a distributed database the shards check their keys when the transaction commits: the
# test's never does, and SET CONSTRAINTS does not reach them; tests/test_citus.py commits)
checked_at_once = pytest.mark.skipif(
    settings.DATABASE_DISTRIBUTED, reason="the shards check their keys at commit only"
)


def principal(tenant, scopes) -> Principal:
    return Principal(tenant.pk, tenant.code, Grants.from_strings(scopes), "client", "c", "mover")


def a_job(tenant_id: int) -> Job:
    return Job.objects.create(
        tenant_id=tenant_id,
        kind=JobKind.ASSIGN_RESTRICTION,
        requested_by_name="mover",
        target="DE",
        selection={"ids": []},
        selection_label="nothing",
    )


def carried(customer) -> dict[str, list]:
    """What each kind of row of ``customer`` (by its number) says its restriction is."""

    def values(model):
        rows = model.objects.filter(customer_id=customer.pk).order_by("pk")
        return list(rows.values_list("customer_restriction", flat=True))

    return {
        "addresses": values(Address),
        "accounts": values(Account),
        "history": list(
            RestrictionChange.objects.filter(customer_number=customer.customer_number)
            .order_by("pk")
            .values_list("customer_restriction", flat=True)
        ),
    }


def test_a_new_row_carries_its_customers_restriction(audited_world):
    assert carried(audited_world["DE1"]) == {
        "addresses": ["DE"],
        "accounts": ["DE"],
        "history": ["DE"],
    }
    assert carried(audited_world["NULL1"]) == {"addresses": [""], "accounts": [""], "history": [""]}


def test_moving_one_customer_moves_its_rows(audited_world):
    de1 = audited_world["DE1"]
    customer_update(
        actor=principal(de1.tenant, MANAGER),
        customer_number="DE1",
        fields={},
        restriction="FR",
    )
    # (its old history row and the new one, which the move wrote)
    assert carried(de1) == {"addresses": ["FR"], "accounts": ["FR"], "history": ["FR", "FR"]}
    customer_update(
        actor=principal(de1.tenant, MANAGER), customer_number="DE1", fields={}, restriction=None
    )
    assert carried(de1) == {"addresses": [""], "accounts": [""], "history": ["", "", ""]}


@pytest.mark.parametrize("one_statement", [True, False], ids=["one statement", "portable"])
def test_bulk_assignment_moves_the_rows_of_every_customer_it_moves(
    audited_world, monkeypatch, one_statement
):
    if one_statement and connection.vendor != "postgresql":
        pytest.skip("the one-statement batch is PostgreSQL's")
    monkeypatch.setattr(assignment, "_one_statement_batches", lambda: one_statement)
    tenant = audited_world["DE1"].tenant
    result = assignment.restriction_assign(
        actor=principal(tenant, MANAGER),
        customers=Customer.objects.filter(customer_number__in=["DE1", "NULL1", "US1"]),
        value="FR",
        channel=Channel.COMMAND,
        batch_size=2,
    )
    assert result.changed == 3
    for number in ("DE1", "NULL1", "US1"):
        assert carried(audited_world[number]) == {
            "addresses": ["FR"],
            "accounts": ["FR"],
            "history": ["FR", "FR"],
        }
    assert carried(audited_world["FR1"])["addresses"] == ["FR"]  # (not moved: one row still)


def test_a_deleted_customers_history_keeps_the_restriction_it_last_carried(audited_world):
    """Unlinked, it stays readable by its number for those who read that restriction."""
    de1 = audited_world["DE1"]
    customer_delete(actor=principal(de1.tenant, DE_MANAGER), customer_number="DE1")
    assert list(
        RestrictionChange.objects.filter(customer_number="DE1").values_list(
            "customer", "customer_restriction", "new_value"
        )
    ) == [(None, "DE", "DE")]


def test_an_address_saved_after_its_customer_moved_keeps_the_new_restriction(world):
    """An update never sends the carried value: the customer may have moved since the row was
    read (sending the old one would be refused, or would hide the row)."""
    stale = Address.objects.get(customer=world["DE1"])
    customer_update(
        actor=principal(world["DE1"].tenant, MANAGER),
        customer_number="DE1",
        fields={},
        restriction="FR",
    )
    stale.city = "Lyon"
    stale.save()
    assert Address.objects.filter(pk=stale.pk).values_list(
        "city", "customer_restriction"
    ).get() == (
        "Lyon",
        "FR",
    )


def test_a_partly_loaded_address_saves_what_was_loaded_and_nothing_else(world):
    """No deferred field is fetched to be written back (Django's own rule for a save)."""
    from django.test.utils import CaptureQueriesContext

    partial = Address.objects.only("pk", "tenant_id", "customer_id", "city").get(
        customer=world["DE1"]
    )
    partial.city = "Köln"
    with CaptureQueriesContext(connection) as captured:
        partial.save()
    touching = [q["sql"] for q in captured if '"customers_address"' in q["sql"]]
    [write] = touching  # (no deferred field read back first)
    assert 'UPDATE "customers_address"' in write and "customer_restriction" not in write
    assert Address.objects.get(pk=partial.pk).city == "Köln"


@postgres_only
@checked_at_once
def test_a_row_naming_another_restriction_than_its_customers_is_refused(world):
    fr1 = world["FR1"]
    refused = pytest.raises(IntegrityError, match="carries_customer_restriction")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # (what the commit would check)
        cursor.execute(
            "INSERT INTO customers_address (tenant_id, customer_id, customer_restriction, "
            "address_id, contact_name, tags, is_default, version, created_at, modified_at, "
            "mixins, metadata_mixins) VALUES (%s, %s, 'DE', 'planted', 'x', '[]', false, 1, "
            "now(), now(), '{}', '{}')",
            [fr1.tenant_id, fr1.pk],
        )
    with pytest.raises(IntegrityError, match="carries_customer_restriction"), transaction.atomic():
        Account.objects.filter(customer=fr1).update(customer_restriction="DE")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert Account.objects.get(customer=fr1).customer_restriction == "FR"


@postgres_only
@checked_at_once
def test_a_move_that_leaves_a_row_behind_is_refused(world):
    """A write path that moved a customer without its rows could not commit."""
    with pytest.raises(IntegrityError, match="carries_customer_restriction"), transaction.atomic():
        Customer.objects.filter(pk=world["DE1"].pk).update(restriction="FR")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@postgres_only
def test_a_job_restriction_belongs_to_its_jobs_tenant(world, other_tenant):
    job = a_job(world["DE1"].tenant_id)
    with pytest.raises(IntegrityError, match="job_restriction_of_job_tenant"), transaction.atomic():
        JobRestriction.objects.create(tenant=other_tenant, job=job, restriction="DE")
    JobRestriction.objects.create(tenant_id=job.tenant_id, job=job, restriction="DE")


@postgres_only
def test_no_row_policy_of_a_customers_row_or_a_jobs_has_a_subquery():
    """What a distributed database (Citus) accepts: each policy reads its row and settings
    (no lookup of another table, no subquery of any kind)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, policyname, coalesce(qual, ''), coalesce(with_check, '') "
            "FROM pg_policies WHERE tablename = ANY(%s)",
            [
                [
                    "customers_customer",
                    "customers_address",
                    "customers_account",
                    "customers_restrictionchange",
                    "customers_job",
                    "customers_jobrestriction",
                ]
            ],
        )
        policies = cursor.fetchall()
    assert len(policies) == 24
    assert [
        (table, name)
        for table, name, using, check in policies
        if "select" in (using + check).lower()
    ] == []


@postgres_only
def test_a_de_readers_unscoped_reads_see_de_rows_only_and_nothing_without_a_context(
    audited_world, database_roles, no_row_context
):
    if database_roles is None:
        pytest.skip("the suite runs as a superuser, whom row-level security does not bind")
    de_reader = principal(audited_world["DE1"].tenant, ["customer.customer_read--DE"])
    with rowsecurity.row_context(rowsecurity.RowContext.whole_tenant(de_reader.tenant_id)):
        job = a_job(de_reader.tenant_id)
        JobRestriction.objects.create(tenant_id=job.tenant_id, job=job, restriction="DE")
    with rowsecurity.row_context(rowsecurity.RowContext.of(de_reader)):
        for model in (Address, Account, RestrictionChange):
            assert set(model.objects.values_list("customer_restriction", flat=True)) == {"DE"}
        assert JobRestriction.objects.count() == 1  # (its tenant's)
    for model in (Address, Account, RestrictionChange, JobRestriction):
        assert not model.objects.exists()
