"""The row policies read the bound tenant through function calls the planner can estimate.

Migration 0007 wrapped every setting in a scalar subquery, evaluated once per statement (an
InitPlan). The planner cannot see an InitPlan's value when it plans, so it estimated a policy's
``tenant_id`` range at half a percent of the table, whatever the tenant's size: at 100,000
customers it took a tenant's default addresses for 150 rows, materialised all 60,000 of them and
rescanned them for every customer of a page (488 ms), and it read a whole tenant to join a
cursor page's 60 ids. Read through the (inlined, stable) functions, the tenant range is
evaluated by the planner for its estimates, so it is estimated as the tenant it is; it remains
an index condition (a stable expression is evaluated once per index scan). The coverage of the
restriction stays an InitPlan: the planner takes it for half the rows, nearer the truth than
the one row in 200 it would take the inlined setting's comparison for. A child row's check of
its customer is planned as the one lookup it is (below). The restriction history's update
policy stays what 0015 made it: no request updates an audit row.
"""

import importlib

from django.db import migrations

LOW = "customers_rls_low()"
HIGH = "customers_rls_high()"
IN_TENANTS = f"tenant_id BETWEEN {LOW} AND {HIGH}"


def covered(right: str, column: str = "restriction") -> str:
    # (0007's InitPlans: the planner takes their condition for half the rows, the closest it
    # gets; compared with a constant, the inlined setting would count as one row in 200)
    return (
        f"((SELECT customers_rls_all('{right}')) OR {column}::text = ANY "
        f"(CAST((SELECT customers_rls_values('{right}')) AS text[])))"
    )


# A child row's check of its customer (or job) is one lookup by primary key. ``OFFSET 0`` keeps
# PostgreSQL from also planning it as a hash of every visible customer (an alternative it
# weighs for each statement that reads the child table: a third of a get's planning time, and,
# for a small tenant, a pass over all its customers where the page needed sixty lookups).
def customer_visible(column: str = "customer_id") -> str:
    return f"EXISTS (SELECT 1 FROM customers_customer c WHERE c.id = {column} OFFSET 0)"


def customer_manageable(column: str = "customer_id") -> str:
    return (
        f"EXISTS (SELECT 1 FROM customers_customer c WHERE c.id = {column} "
        f"AND {covered('manage', 'c.restriction')} OFFSET 0)"
    )


CUSTOMER_READ = f"{IN_TENANTS} AND {covered('read')}"
CUSTOMER_MANAGE = f"{IN_TENANTS} AND {covered('manage')}"
RELATED_READ = f"{IN_TENANTS} AND {customer_visible()}"
RELATED_MANAGE = f"{IN_TENANTS} AND {customer_manageable()}"
JOB_VISIBLE = "EXISTS (SELECT 1 FROM customers_job j WHERE j.id = job_id OFFSET 0)"

# table -> (select, insert, update using, update check, delete); None: no such policy
POLICIES = {
    "customers_customer": (
        CUSTOMER_READ,
        CUSTOMER_MANAGE,
        CUSTOMER_READ,
        CUSTOMER_MANAGE,
        CUSTOMER_MANAGE,
    ),
    "customers_address": (
        RELATED_READ,
        RELATED_MANAGE,
        RELATED_MANAGE,
        RELATED_MANAGE,
        RELATED_MANAGE,
    ),
    "customers_account": (
        RELATED_READ,
        RELATED_MANAGE,
        RELATED_MANAGE,
        RELATED_MANAGE,
        RELATED_MANAGE,
    ),
    "customers_restrictionchange": (
        f"{IN_TENANTS} AND ({customer_visible()} OR (customer_id IS NULL "
        "AND (SELECT customers_rls_all('read'))))",
        f"{IN_TENANTS} AND {covered('manage', 'new_value')}",
        "false",
        None,
        f"{IN_TENANTS} AND (SELECT customers_rls_all('manage'))",
    ),
    "customers_job": (IN_TENANTS, IN_TENANTS, IN_TENANTS, IN_TENANTS, IN_TENANTS),
    "customers_jobrestriction": (JOB_VISIBLE,) * 5,
}


def create(schema_editor, policies) -> None:
    for table, (select, insert, update, check, delete) in policies.items():
        for name in ("read", "add", "change", "remove"):
            schema_editor.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
        schema_editor.execute(f"CREATE POLICY read ON {table} FOR SELECT USING ({select})")
        schema_editor.execute(f"CREATE POLICY add ON {table} FOR INSERT WITH CHECK ({insert})")
        with_check = f" WITH CHECK ({check})" if check else ""
        schema_editor.execute(
            f"CREATE POLICY change ON {table} FOR UPDATE USING ({update}){with_check}"
        )
        schema_editor.execute(f"CREATE POLICY remove ON {table} FOR DELETE USING ({delete})")


def estimable(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        create(schema_editor, POLICIES)


def as_initplans(apps, schema_editor):
    """Back to 0007's policies (with 0015's restriction-history update policy)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    before = importlib.import_module("customers.migrations.0007_row_level_security")
    policies = {}
    for table, (select, insert, update, delete) in before.POLICIES.items():
        check = before.CUSTOMER_MANAGE if table == "customers_customer" else insert
        policies[table] = (select, insert, update, check, delete)
    select, insert, _, _, delete = policies["customers_restrictionchange"]
    policies["customers_restrictionchange"] = (select, insert, "false", None, delete)
    create(schema_editor, policies)


class Migration(migrations.Migration):
    dependencies = [("customers", "0015_restriction_history_unlinked_by_the_database")]

    operations = [migrations.RunPython(estimable, as_initplans, elidable=False)]
