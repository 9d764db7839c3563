"""Every primary and unique key of a tenant's customer data carries ``tenant_id``, and rows
refer to each other by keys that carry it (PostgreSQL; SQLite keeps Django's keys).

What a distributed database (Citus, distributing by ``tenant_id``) needs of a table: each
unique key includes the tenant, and each foreign key between two such tables too. So:

- The primary keys become ``(id, tenant_id)``: Django still knows a row by ``id`` (the index
  serves a lookup by ``id`` alone), and ``id`` stays unique by its identity sequence.
- An address's number is unique per ``(tenant, customer)``; so is its default (both models).
- A child refers to its customer only through ``(tenant_id, customer_id,
  customer_restriction)`` (0030), a job restriction to its job through ``(tenant_id,
  job_id)``: the foreign keys of ``customer_id`` and ``job_id`` alone go. The Django models
  keep their reference fields (``db_constraint`` unchanged: the database's key is wider),
  whose joins now name the tenant on both sides (``TenantForeignKey``).
"""

from django.db import migrations, models
from django.db.models.deletion import CASCADE

import customers.models

# Tables whose primary key gains the tenant.
TABLES = (
    "customers_customer",
    "customers_address",
    "customers_account",
    "customers_restrictionchange",
    "customers_job",
    "customers_jobrestriction",
    "customers_deletedcustomernumber",
    "customers_customererasure",
    "customers_privacyexport",
    "customers_massreadalert",
)
# (table, column) of the single-column foreign keys that go.
NARROW = (
    ("customers_address", "customer_id", "customers_customer"),
    ("customers_account", "customer_id", "customers_customer"),
    ("customers_restrictionchange", "customer_id", "customers_customer"),
    ("customers_jobrestriction", "job_id", "customers_job"),
)


def _foreign_key(cursor, table: str, column: str) -> str | None:
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' "
        "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attname = %s)]::smallint[]",
        [table, table, column],
    )
    found = cursor.fetchone()
    return found[0] if found else None


def widened(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        for table, column, _ in NARROW:
            name = _foreign_key(cursor, table, column)
            if name:
                run(f"ALTER TABLE {table} DROP CONSTRAINT {schema_editor.quote_name(name)}")
    # (the job restriction's key to its job moves from 0030's unique key to the primary key)
    run("ALTER TABLE customers_jobrestriction DROP CONSTRAINT job_restriction_of_job_tenant")
    run("ALTER TABLE customers_job DROP CONSTRAINT job_tenant_id")
    for table in TABLES:
        run(
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, "
            f"ADD CONSTRAINT {table}_pkey PRIMARY KEY (id, tenant_id)"
        )
    run(
        "ALTER TABLE customers_jobrestriction ADD CONSTRAINT job_restriction_of_job_tenant "
        "FOREIGN KEY (tenant_id, job_id) REFERENCES customers_job (tenant_id, id) "
        "ON DELETE CASCADE"
    )


def narrowed(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    run("ALTER TABLE customers_jobrestriction DROP CONSTRAINT job_restriction_of_job_tenant")
    for table in TABLES:
        run(
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, "
            f"ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)"
        )
    run("ALTER TABLE customers_job ADD CONSTRAINT job_tenant_id UNIQUE (tenant_id, id)")
    run(
        "ALTER TABLE customers_jobrestriction ADD CONSTRAINT job_restriction_of_job_tenant "
        "FOREIGN KEY (tenant_id, job_id) REFERENCES customers_job (tenant_id, id) "
        "ON DELETE CASCADE"
    )
    for table, column, target in NARROW:
        run(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk FOREIGN KEY ({column}) "
            f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
        )


class Migration(migrations.Migration):
    dependencies = [("customers", "0031_policies_without_subqueries")]

    operations = [
        migrations.RemoveConstraint(model_name="address", name="address_unique_id_per_customer"),
        migrations.AddConstraint(
            model_name="address",
            constraint=models.UniqueConstraint(
                fields=("tenant", "customer", "address_id"), name="address_unique_id_per_customer"
            ),
        ),
        migrations.RemoveConstraint(model_name="address", name="address_one_default_per_customer"),
        migrations.AddConstraint(
            model_name="address",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_default", True)),
                fields=("tenant", "customer"),
                name="address_one_default_per_customer",
            ),
        ),
        migrations.RunPython(widened, narrowed, elidable=False),
        # Joins through these references name the tenant on both sides (the models'
        # TenantForeignKey): nothing changes in the database.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name=name,
                    field=customers.models.TenantForeignKey(
                        null=name == "customer" and model == "restrictionchange",
                        on_delete=on_delete,
                        related_name=related_name,
                        to=to,
                    ),
                )
                for model, name, on_delete, related_name, to in (
                    ("account", "customer", CASCADE, "accounts", "customers.customer"),
                    ("address", "customer", CASCADE, "addresses", "customers.customer"),
                    ("jobrestriction", "job", CASCADE, "restrictions", "customers.job"),
                    (
                        "restrictionchange",
                        "customer",
                        customers.models.unlink_history,
                        "restriction_changes",
                        "customers.customer",
                    ),
                )
            ]
        ),
    ]
