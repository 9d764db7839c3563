"""The read log's ``erase`` policy finds the customers being erased in a hashed set.

It compared each line against the list in ``customers.erasing`` (``= ANY(string_to_array(…))``:
the list split again, and searched end to end, for every line), which made blanking a batch of
2,000 customers' purposes take seconds on a large log. ``IN (SELECT unnest(…))`` is planned as
a hashed subplan: the list is split once per statement and each line is one lookup.
"""

from django.db import migrations

TABLE = "customers_customerview"
IN_TENANTS = "(tenant_id BETWEEN customers_rls_low() AND customers_rls_high())"
OLD_ERASING = "customer_number = ANY(string_to_array(current_setting('customers.erasing', true), ','))"
ERASING = (
    "customer_number IN (SELECT unnest(string_to_array(current_setting('customers.erasing', "
    "true), ',')))"
)


def policy(erasing):
    def create(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP POLICY IF EXISTS erase ON {TABLE}")
        schema_editor.execute(
            f"CREATE POLICY erase ON {TABLE} FOR UPDATE "
            f"USING ({IN_TENANTS} AND {erasing}) WITH CHECK (purpose = '' AND {erasing})"
        )

    return create


class Migration(migrations.Migration):

    dependencies = [("customers", "0026_export_reads")]

    operations = [migrations.RunPython(policy(ERASING), policy(OLD_ERASING), elidable=False)]
