"""A customer's addresses, accounts and restriction history carry its restriction; a job's
restrictions carry its tenant: every row policy reads only its own row and the bound settings.

Before, a child row's policy looked its customer up (``EXISTS`` on ``customers_customer``), and a
job restriction's its job. A distributed database (Citus) accepts only policies over the row
itself, and a lookup per row is a cost of its own. Now:

- ``customer_restriction`` on addresses, accounts and restriction changes: the customer's
  restriction, ``''`` for none (and null on a restriction change whose customer is deleted).
  On PostgreSQL a foreign key ``(tenant_id, customer_id, customer_restriction)`` to the
  customer's ``(tenant_id, id, restriction_key)`` (a stored generated column: the restriction,
  ``''`` for none; the key is 0005's ``customer_tenant_id_idx``, under its name) refuses a row that names another restriction than its customer's, and moves
  the rows with the customer in the statement that moves it (``ON UPDATE CASCADE``: bulk
  assignment included). Referential actions run past the row policies. Deleting a customer
  deletes its addresses and accounts and unlinks its history (``ON DELETE SET NULL``). On
  SQLite (no policies) triggers keep the column in step.
- ``tenant_id`` on job restrictions, held to the job's by a foreign key of both.

The policies are those of 0016 with the child's own column in place of the lookup: a DE reader
still sees DE addresses, accounts and restriction changes only.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

before = importlib.import_module("customers.migrations.0016_policies_the_planner_can_estimate")
IN_TENANTS, covered = before.IN_TENANTS, before.covered
unlinked = importlib.import_module(
    "customers.migrations.0015_restriction_history_unlinked_by_the_database"
)

CHILD_READ = f"{IN_TENANTS} AND {covered('read', 'customer_restriction')}"
CHILD_MANAGE = f"{IN_TENANTS} AND {covered('manage', 'customer_restriction')}"
HISTORY = "customers_restrictionchange"
POLICIES = {
    "customers_address": (CHILD_READ, CHILD_MANAGE, CHILD_MANAGE, CHILD_MANAGE, CHILD_MANAGE),
    "customers_account": (CHILD_READ, CHILD_MANAGE, CHILD_MANAGE, CHILD_MANAGE, CHILD_MANAGE),
    HISTORY: (
        CHILD_READ,
        f"{IN_TENANTS} AND {covered('manage', 'new_value')}",
        "false",
        None,
        f"{IN_TENANTS} AND (SELECT customers_rls_all('manage'))",
    ),
    "customers_jobrestriction": (IN_TENANTS,) * 5,
}
CHILDREN = ("customers_address", "customers_account", HISTORY)
# (table, constraint, on delete)
CARRIED = (
    ("customers_address", "address_carries_customer_restriction", "ON DELETE CASCADE"),
    ("customers_account", "account_carries_customer_restriction", "ON DELETE CASCADE"),
    (HISTORY, "history_carries_customer_restriction",
     "ON DELETE SET NULL (customer_id, customer_restriction)"),
)  # fmt: skip


def fill(apps, schema_editor):
    """The existing rows: each child its customer's restriction, each job restriction its job's
    tenant (past the policies: the migrating role owns the tables)."""
    postgres = schema_editor.connection.vendor == "postgresql"
    tables = (*CHILDREN, "customers_jobrestriction")
    if postgres:
        for table in tables:
            schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    for table in CHILDREN:
        schema_editor.execute(
            f"UPDATE {table} SET customer_restriction = (SELECT COALESCE(c.restriction, '') "
            f"FROM customers_customer c WHERE c.id = {table}.customer_id) "
            "WHERE customer_id IS NOT NULL"
        )
    schema_editor.execute(
        "UPDATE customers_jobrestriction SET tenant_id = (SELECT j.tenant_id FROM customers_job "
        "j WHERE j.id = customers_jobrestriction.job_id)"
    )
    if postgres:
        for table in tables:
            schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def kept_in_step(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _postgres(schema_editor)
    else:
        _triggers(schema_editor)


def _postgres(schema_editor):
    run = schema_editor.execute
    run(
        "ALTER TABLE customers_customer ADD COLUMN restriction_key varchar(64) "
        "GENERATED ALWAYS AS (COALESCE(restriction, '')) STORED"
    )
    # The tenant's id range (0005's index) becomes the key the children refer to, under the
    # same name: one index, the same plans.
    run("DROP INDEX customer_tenant_id_idx")
    run(
        "ALTER TABLE customers_customer ADD CONSTRAINT customer_tenant_id_idx "
        "UNIQUE (tenant_id, id, restriction_key) INCLUDE (restriction)"
    )
    for table, name, on_delete in CARRIED:
        run(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY "
            "(tenant_id, customer_id, customer_restriction) REFERENCES customers_customer "
            f"(tenant_id, id, restriction_key) ON UPDATE CASCADE {on_delete}"
        )
    # The history's own link (0015) leaves the unlinking to the key above, which clears both
    # columns (acting first, it would leave the restriction behind).
    unlinked.foreign_key(schema_editor, "")
    run(
        f"ALTER TABLE {HISTORY} ADD CONSTRAINT history_linked_with_restriction "
        "CHECK ((customer_id IS NULL) = (customer_restriction IS NULL))"
    )
    run("ALTER TABLE customers_job ADD CONSTRAINT job_tenant_id UNIQUE (tenant_id, id)")
    run(
        "ALTER TABLE customers_jobrestriction ADD CONSTRAINT job_restriction_of_job_tenant "
        "FOREIGN KEY (tenant_id, job_id) REFERENCES customers_job (tenant_id, id) "
        "ON DELETE CASCADE"
    )
    before.create(schema_editor, POLICIES)


def _triggers(schema_editor):
    follow = "".join(
        f"UPDATE {table} SET customer_restriction = COALESCE(NEW.restriction, '') "
        "WHERE customer_id = NEW.id; "
        for table in CHILDREN
    )
    schema_editor.execute(
        "CREATE TRIGGER customer_restriction_followed AFTER UPDATE OF restriction ON "
        "customers_customer FOR EACH ROW WHEN OLD.restriction IS NOT NEW.restriction "
        f"BEGIN {follow}END"
    )
    schema_editor.execute(
        f"CREATE TRIGGER history_unlinked AFTER UPDATE OF customer_id ON {HISTORY} FOR EACH ROW "
        f"WHEN NEW.customer_id IS NULL BEGIN UPDATE {HISTORY} SET customer_restriction = NULL "
        "WHERE id = NEW.id; END"
    )


def as_before(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor != "postgresql":
        run("DROP TRIGGER IF EXISTS customer_restriction_followed")
        run("DROP TRIGGER IF EXISTS history_unlinked")
        return
    before.create(schema_editor, before.POLICIES)
    run("ALTER TABLE customers_jobrestriction DROP CONSTRAINT job_restriction_of_job_tenant")
    run("ALTER TABLE customers_job DROP CONSTRAINT job_tenant_id")
    run(f"ALTER TABLE {HISTORY} DROP CONSTRAINT history_linked_with_restriction")
    unlinked.foreign_key(schema_editor, "ON DELETE SET NULL")
    for table, name, _ in CARRIED:
        run(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    run("ALTER TABLE customers_customer DROP COLUMN restriction_key")  # (and its key)
    run(
        "CREATE INDEX customer_tenant_id_idx ON customers_customer (tenant_id, id) "
        "INCLUDE (restriction)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0029_sso_channel"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="address",
            name="customer_restriction",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="account",
            name="customer_restriction",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="restrictionchange",
            name="customer_restriction",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="jobrestriction",
            name="tenant",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="jobrestriction",
            name="tenant",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenancy.tenant"
            ),
        ),
        migrations.RemoveConstraint(model_name="jobrestriction", name="job_restriction_unique"),
        migrations.AddConstraint(
            model_name="jobrestriction",
            constraint=models.UniqueConstraint(
                fields=("tenant", "job", "restriction"), name="job_restriction_unique"
            ),
        ),
        migrations.RunPython(kept_in_step, as_before, elidable=False),
    ]
