"""The customer tables' row policies call the settings' functions directly: no subquery left.

0016 kept the restriction coverage of each policy in a scalar subquery (an InitPlan), because
the planner takes an InitPlan's boolean for half the rows, and a comparison of an inlined
setting with a constant for one row in 200 (which turned a list's index walk into a sort). A
distributed database (Citus) refuses a policy with any subquery ("unexpected non-SELECT command
in SubLink"), so the coverage is now ``COALESCE(customers_rls_all(…), false) OR restriction =
ANY (customers_rls_values(…))``: inlined and stable, evaluated once per statement by the
executor like the tenant range. The ``COALESCE`` is for the planner: a boolean expression it
has no statistics for counts as half the rows, as the InitPlan did. The plans the tests hold
(tests/customers/test_plans*.py) are the same.
"""

import importlib

from django.db import migrations

estimable = importlib.import_module("customers.migrations.0016_policies_the_planner_can_estimate")
carried = importlib.import_module(
    "customers.migrations.0030_children_carry_the_customers_restriction"
)
IN_TENANTS = estimable.IN_TENANTS


def covered(right: str, column: str = "restriction") -> str:
    return (
        f"(COALESCE(customers_rls_all('{right}'), false) OR {column}::text = ANY "
        f"(customers_rls_values('{right}')))"
    )


CUSTOMER_READ = f"{IN_TENANTS} AND {covered('read')}"
CUSTOMER_MANAGE = f"{IN_TENANTS} AND {covered('manage')}"
CHILD_READ = f"{IN_TENANTS} AND {covered('read', 'customer_restriction')}"
CHILD_MANAGE = f"{IN_TENANTS} AND {covered('manage', 'customer_restriction')}"
POLICIES = {
    "customers_customer": (
        CUSTOMER_READ,
        CUSTOMER_MANAGE,
        CUSTOMER_READ,
        CUSTOMER_MANAGE,
        CUSTOMER_MANAGE,
    ),
    "customers_address": (CHILD_READ, CHILD_MANAGE, CHILD_MANAGE, CHILD_MANAGE, CHILD_MANAGE),
    "customers_account": (CHILD_READ, CHILD_MANAGE, CHILD_MANAGE, CHILD_MANAGE, CHILD_MANAGE),
    "customers_restrictionchange": (
        CHILD_READ,
        f"{IN_TENANTS} AND {covered('manage', 'new_value')}",
        CHILD_MANAGE,  # (0030's trigger: only the carried restriction changes, or unlinks)
        CHILD_MANAGE,
        f"{IN_TENANTS} AND COALESCE(customers_rls_all('manage'), false)",
    ),
}


def without_subqueries(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        estimable.create(schema_editor, POLICIES)


def as_before(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        before = {table: carried.POLICIES.get(table) for table in POLICIES}
        before["customers_customer"] = estimable.POLICIES["customers_customer"]
        estimable.create(schema_editor, before)


class Migration(migrations.Migration):
    dependencies = [("customers", "0030_children_carry_the_customers_restriction")]

    operations = [migrations.RunPython(without_subqueries, as_before, elidable=False)]
