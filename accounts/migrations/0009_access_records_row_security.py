"""The second lock for the records of who holds what (PostgreSQL): access changes, access
requests, access reviews and their lines answer only within the bound tenants.

The querysets reach them tenant first (``accounts.querysets``); these forced policies hold even
where code forgets, exactly as for customers: the tenant range bound by the request, the
command or the task (``accounts.rowsecurity``), nothing when none is bound. An access change of
a platform superuser belongs to no tenant and is seen and written only with every tenant bound
(the platform's own context). No request role updates an access change: the log is append-only.

The identity tables themselves (employees, API clients, groups, temporary grants) are read
before a principal exists (sign-in, the token lookup), so they are not among these yet.
"""

from django.db import migrations

ALL = "9223372036854775807"
IN_TENANTS = (
    "(tenant_id BETWEEN customers_rls_low() AND customers_rls_high() OR (tenant_id IS NULL "
    f"AND customers_rls_low() = 0 AND customers_rls_high() = {ALL}))"
)
# table -> whether request roles may update its rows
TABLES = {
    "accounts_accesschange": False,
    "accounts_accessrequest": True,
    "accounts_accessreview": True,
    "accounts_accessreviewline": True,
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, updatable in TABLES.items():
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"CREATE POLICY read ON {table} FOR SELECT USING {IN_TENANTS}")
        schema_editor.execute(f"CREATE POLICY add ON {table} FOR INSERT WITH CHECK {IN_TENANTS}")
        change = f"USING {IN_TENANTS} WITH CHECK {IN_TENANTS}" if updatable else "USING (false)"
        schema_editor.execute(f"CREATE POLICY change ON {table} FOR UPDATE {change}")
        schema_editor.execute(f"CREATE POLICY remove ON {table} FOR DELETE USING {IN_TENANTS}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        for policy in ("read", "add", "change", "remove"):
            schema_editor.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_employee_manager_tenant_first"),
        ("customers", "0017_visible_count_planned_for_its_values"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
