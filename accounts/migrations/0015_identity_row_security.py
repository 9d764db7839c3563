"""The second lock for the identities themselves (PostgreSQL): employees, API clients, access
groups, temporary grants and group memberships answer only within the bound tenants, like the
access records (``0009``) and the customers.

A platform superuser belongs to no tenant: their row is seen and written only with every tenant
bound (the platform's own context). A membership (and Django's own per-user permission and group
links) has no tenant of its own: it is seen and changed exactly when its employee is.

Identities are read before a principal exists — a sign-in, a token's principal lookup, a
session's employee, a command's ``--actor`` — so those lookups bind their own context first
(``accounts.rowsecurity.SIGN_IN``: every tenant's identities and no customer), and the principal
they find binds its own tenant for everything after.
"""

from django.db import migrations

ALL = "9223372036854775807"
IN_TENANTS = (
    "(tenant_id BETWEEN customers_rls_low() AND customers_rls_high() OR (tenant_id IS NULL "
    f"AND customers_rls_low() = 0 AND customers_rls_high() = {ALL}))"
)
OF_A_VISIBLE_EMPLOYEE = "(EXISTS (SELECT 1 FROM accounts_employee e WHERE e.id = employee_id))"
TABLES = {
    "accounts_employee": IN_TENANTS,
    "accounts_apiclient": IN_TENANTS,
    "accounts_accessgroup": IN_TENANTS,
    "accounts_temporarygrant": IN_TENANTS,
    "accounts_employee_access_groups": OF_A_VISIBLE_EMPLOYEE,
    "accounts_employee_groups": OF_A_VISIBLE_EMPLOYEE,
    "accounts_employee_user_permissions": OF_A_VISIBLE_EMPLOYEE,
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, rule in TABLES.items():
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"CREATE POLICY read ON {table} FOR SELECT USING {rule}")
        schema_editor.execute(f"CREATE POLICY add ON {table} FOR INSERT WITH CHECK {rule}")
        schema_editor.execute(
            f"CREATE POLICY change ON {table} FOR UPDATE USING {rule} WITH CHECK {rule}"
        )
        schema_editor.execute(f"CREATE POLICY remove ON {table} FOR DELETE USING {rule}")


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
        ("accounts", "0014_sign_in_row_security"),
        ("customers", "0029_sso_channel"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
