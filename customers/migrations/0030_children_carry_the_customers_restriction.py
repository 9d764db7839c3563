"""A customer's addresses, accounts and restriction history carry its restriction; a job's
restrictions carry its tenant: every row policy reads only its own row and the bound settings.

Before, a child row's policy looked its customer up (``EXISTS`` on ``customers_customer``), and a
job restriction's its job. A distributed database (Citus) accepts only policies over the row
itself, and a lookup per row is a cost of its own. Now:

- ``customer_restriction`` on addresses, accounts and restriction changes: the customer's
  restriction, ``''`` for none. A deleted customer's history keeps the restriction it last
  carried (null on rows unlinked before this migration: every restriction's readers only).
  The services that move a customer move its rows in the same statement (customers.services:
  ``carry_restriction``). On PostgreSQL a foreign key ``(tenant_id, customer_id,
  customer_restriction)`` to the customer's ``(tenant_id, id, restriction_key)`` (a stored
  generated column: the restriction, ``''`` for none; the key is 0005's
  ``customer_tenant_id_idx``, under its name) holds them to it: checked at commit, it refuses a
  row that names another restriction than its customer's, and a move that leaves a row behind.
  (Not ``ON UPDATE CASCADE``: Citus refuses it on a key that holds the distribution column.)
  Deleting a customer deletes its addresses and accounts (``ON DELETE CASCADE``); its history
  is unlinked by the delete itself (``customers.models.unlink_history``), under the deleting
  request's policies: a history row's update policy is now the manage coverage of the
  restriction it carries, so whoever may delete the customer may unlink its history.
- The restriction history stays append-only but for the restriction it carries for its
  customer and the unlinking (a trigger refuses any other change).
- ``tenant_id`` on job restrictions, held to the job's by a foreign key of both.
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
        CHILD_MANAGE,  # (what may change: the trigger below)
        CHILD_MANAGE,
        f"{IN_TENANTS} AND (SELECT customers_rls_all('manage'))",
    ),
    "customers_jobrestriction": (IN_TENANTS,) * 5,
}
CHILDREN = ("customers_address", "customers_account", HISTORY)
# (table, constraint, on delete)
CARRIED = (
    ("customers_address", "address_carries_customer_restriction", "ON DELETE CASCADE"),
    ("customers_account", "account_carries_customer_restriction", "ON DELETE CASCADE"),
    # (unlinked by the service that deletes the customer: Citus refuses ON DELETE SET NULL)
    (HISTORY, "history_carries_customer_restriction", ""),
)  # fmt: skip
HISTORY_GUARD = f"""
CREATE FUNCTION customers_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.id, NEW.tenant_id, NEW.customer_number, NEW.old_value, NEW.new_value,
      NEW.actor_kind, NEW.actor_id, NEW.actor_name, NEW.channel, NEW.changed_at)
     IS DISTINCT FROM (OLD.id, OLD.tenant_id, OLD.customer_number, OLD.old_value,
      OLD.new_value, OLD.actor_kind, OLD.actor_id, OLD.actor_name, OLD.channel, OLD.changed_at)
     OR (NEW.customer_id IS DISTINCT FROM OLD.customer_id AND NEW.customer_id IS NOT NULL) THEN
    RAISE EXCEPTION 'the restriction history is append-only'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER customers_history_append_only BEFORE UPDATE ON {HISTORY}
  FOR EACH ROW EXECUTE FUNCTION customers_history_append_only();
"""


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
    if schema_editor.connection.vendor != "postgresql":
        return
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
            f"(tenant_id, id, restriction_key) {on_delete} DEFERRABLE INITIALLY DEFERRED"
        )
    # The history's own link (0015) no longer unlinks: the delete does.
    unlinked.foreign_key(schema_editor, "")
    run(HISTORY_GUARD, params=None)
    run("ALTER TABLE customers_job ADD CONSTRAINT job_tenant_id UNIQUE (tenant_id, id)")
    run(
        "ALTER TABLE customers_jobrestriction ADD CONSTRAINT job_restriction_of_job_tenant "
        "FOREIGN KEY (tenant_id, job_id) REFERENCES customers_job (tenant_id, id) "
        "ON DELETE CASCADE"
    )
    before.create(schema_editor, POLICIES)


def as_before(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor != "postgresql":
        return
    before.create(schema_editor, before.POLICIES)
    run("ALTER TABLE customers_jobrestriction DROP CONSTRAINT job_restriction_of_job_tenant")
    run("ALTER TABLE customers_job DROP CONSTRAINT job_tenant_id")
    run(f"DROP TRIGGER customers_history_append_only ON {HISTORY}")
    run("DROP FUNCTION customers_history_append_only()")
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
