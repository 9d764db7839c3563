"""The second lock for the company sign-in's records (PostgreSQL): a tenant's sign-in provider
and its group mappings answer only within the bound tenants, like the access records
(``0009``). Every edge that reads them binds its tenant first: the sign-in pages and the
password refusal as the tenant's operator, the back office as the administrator, the sign-in
itself as the operator."""

from django.db import migrations

ALL = "9223372036854775807"
IN_TENANTS = (
    "(tenant_id BETWEEN customers_rls_low() AND customers_rls_high() OR (tenant_id IS NULL "
    f"AND customers_rls_low() = 0 AND customers_rls_high() = {ALL}))"
)
TABLES = ["accounts_signinprovider", "accounts_providergroup"]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"CREATE POLICY read ON {table} FOR SELECT USING {IN_TENANTS}")
        schema_editor.execute(f"CREATE POLICY add ON {table} FOR INSERT WITH CHECK {IN_TENANTS}")
        schema_editor.execute(
            f"CREATE POLICY change ON {table} FOR UPDATE USING {IN_TENANTS} WITH CHECK {IN_TENANTS}"
        )
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
        ("accounts", "0013_sign_in_provider"),
        ("customers", "0017_visible_count_planned_for_its_values"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
