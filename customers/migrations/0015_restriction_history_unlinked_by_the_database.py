"""A deleted customer's restriction history is unlinked by the database (PostgreSQL).

Django's ``SET_NULL`` updated the history rows from the request's role, under the row policies;
those let no restricted manager update an audit row, so the update touched nothing and the
deferred foreign key failed at commit: a restricted manager could not delete a customer that had
ever been given a restriction. The foreign key now says ``ON DELETE SET NULL`` itself; the
database runs that referential action as the table's owner, past the row policies, and only for
the rows of a customer whose delete the policies allowed. With it, no request updates a history
row any more, and the update policy says so: the restriction history is append-only for every
request role. SQLite: Django keeps setting the link to null (``customers.models.unlink_history``).
"""

import customers.models
from django.db import migrations, models

TABLE = "customers_restrictionchange"
IN_TENANTS = "tenant_id BETWEEN (SELECT customers_rls_low()) AND (SELECT customers_rls_high())"


def constraint_name(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' "
            "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attname = 'customer_id')]::smallint[]",
            [TABLE, TABLE],
        )
        return cursor.fetchone()[0]


def foreign_key(schema_editor, action: str) -> None:
    name = schema_editor.quote_name(constraint_name(schema_editor))
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {name}")
    schema_editor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} FOREIGN KEY (customer_id) "
        f"REFERENCES customers_customer (id) {action} DEFERRABLE INITIALLY DEFERRED"
    )


def unlinked_by_the_database(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    foreign_key(schema_editor, "ON DELETE SET NULL")
    schema_editor.execute(f"DROP POLICY IF EXISTS change ON {TABLE}")
    schema_editor.execute(f"CREATE POLICY change ON {TABLE} FOR UPDATE USING (false)")


def unlinked_by_django(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    foreign_key(schema_editor, "")
    schema_editor.execute(f"DROP POLICY IF EXISTS change ON {TABLE}")
    schema_editor.execute(
        f"CREATE POLICY change ON {TABLE} FOR UPDATE USING ({IN_TENANTS} AND "
        f"(SELECT customers_rls_all('manage'))) WITH CHECK ({IN_TENANTS} AND "
        "((SELECT customers_rls_all('manage')) OR new_value::text = ANY "
        "(CAST((SELECT customers_rls_values('manage')) AS text[]))))"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0014_channel_choices"),
    ]

    operations = [
        migrations.AlterField(
            model_name="restrictionchange",
            name="customer",
            field=models.ForeignKey(
                null=True,
                on_delete=customers.models.unlink_history,
                related_name="restriction_changes",
                to="customers.customer",
            ),
        ),
        migrations.RunPython(unlinked_by_the_database, unlinked_by_django, elidable=False),
    ]
