"""``customers_visible_count`` plans a count of some restrictions for the values it is given
(PostgreSQL).

PL/pgSQL keeps a generic plan of a statement after five calls, planned without the tenant and
the restrictions: for a reader of one restriction it walked the tenant's whole index range
instead of that restriction's (a count of 25,000 of 100,000 customers: 4 ms, then 10-35 ms).
That count is now run with ``EXECUTE … USING``, planned for its values each time (a fraction of
a millisecond). And every count is an index-only count of the tenant's range, never a sequential
scan: planned for a tenant that is most of the table, PostgreSQL chose to read the whole table,
which took twice as long inside the function (250 ms against 120 ms for 1,000,000 customers; it
cannot run in parallel there).
"""

import importlib

from django.db import migrations

SIGNATURE = "customers_visible_count(text)"
RESTRICTED_COUNT = """
  SELECT count(*) INTO total FROM customers_customer
  WHERE tenant_id = low AND restriction = ANY (coalesce(both_cover, '{}'));"""
PLANNED_EACH_TIME = """
  EXECUTE 'SELECT count(*) FROM customers_customer WHERE tenant_id = $1 '
    'AND restriction = ANY ($2)' INTO total USING low, coalesce(both_cover, '{}');"""


def function(text: str) -> str:
    body = text.split("REVOKE EXECUTE")[0]
    return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def planned_each_time(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    before = importlib.import_module("customers.migrations.0012_visible_count_function").CREATE
    if RESTRICTED_COUNT not in before:
        raise RuntimeError("0012's restricted count is not where this migration expects it")
    schema_editor.execute(function(before.replace(RESTRICTED_COUNT, PLANNED_EACH_TIME)))
    schema_editor.execute(f"ALTER FUNCTION {SIGNATURE} SET enable_seqscan = off")


def cached(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    before = importlib.import_module("customers.migrations.0012_visible_count_function").CREATE
    schema_editor.execute(function(before))
    schema_editor.execute(f"ALTER FUNCTION {SIGNATURE} RESET enable_seqscan")


class Migration(migrations.Migration):
    dependencies = [("customers", "0016_policies_the_planner_can_estimate")]

    operations = [migrations.RunPython(planned_each_time, cached, elidable=False)]
