"""A membership's policies ask a function whether its employee is visible (PostgreSQL), instead
of a subquery of their own.

The rule is the same as ``0015``'s: a membership (an employee's access group, and Django's own
group and per-user permission links) is seen and changed exactly when its employee is, under
the employee's own policies. Written as a subquery, it kept the identity tables from a
distributed database: Citus accepts no subquery in a policy, and making the tenants reference
tables turns every table that refers to them, and every table that refers to those, into tables
whose policies it checks. A function call is an expression over the row; the function reads the
employee as the caller, under the caller's context.
"""

from django.db import migrations

TABLES = (
    "accounts_employee_access_groups",
    "accounts_employee_groups",
    "accounts_employee_user_permissions",
)
FUNCTION = """
CREATE FUNCTION accounts_employee_visible(employee bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT EXISTS (SELECT 1 FROM accounts_employee e WHERE e.id = employee) $$
"""
BY_FUNCTION = "(accounts_employee_visible(employee_id))"
BY_SUBQUERY = "(EXISTS (SELECT 1 FROM accounts_employee e WHERE e.id = employee_id))"


def _policies(schema_editor, rule: str) -> None:
    for table in TABLES:
        for policy in ("read", "add", "change", "remove"):
            schema_editor.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        schema_editor.execute(f"CREATE POLICY read ON {table} FOR SELECT USING {rule}")
        schema_editor.execute(f"CREATE POLICY add ON {table} FOR INSERT WITH CHECK {rule}")
        schema_editor.execute(
            f"CREATE POLICY change ON {table} FOR UPDATE USING {rule} WITH CHECK {rule}"
        )
        schema_editor.execute(f"CREATE POLICY remove ON {table} FOR DELETE USING {rule}")


def by_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    _policies(schema_editor, BY_FUNCTION)


def by_subquery(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _policies(schema_editor, BY_SUBQUERY)
    schema_editor.execute("DROP FUNCTION accounts_employee_visible(bigint)")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0015_identity_row_security")]

    operations = [migrations.RunPython(by_function, by_subquery, elidable=False)]
