"""Row-level security on PostgreSQL: the database itself keeps each request to the customers
its context covers (accounts/rowsecurity.py binds the context). SQLite: nothing.

Every ``current_setting`` sits in a scalar subquery, so it is evaluated once per statement
(an InitPlan) and ``tenant_id`` stays an index condition: the policies cost nothing measurable
(docs/benchmarks.md). Regular expressions and ``ILIKE`` are not leakproof, so under a policy
PostgreSQL may not use the trigram indexes for them; ``customers_matching_ids`` finds those
matches with the same context applied by hand (see docs/security.md).
"""

from django.db import migrations

from core.roles import give_to_search_role

LOW = "(SELECT customers_rls_low())"
HIGH = "(SELECT customers_rls_high())"
IN_TENANTS = f"tenant_id BETWEEN {LOW} AND {HIGH}"


def covered(right: str, column: str = "restriction") -> str:
    return (
        f"((SELECT customers_rls_all('{right}')) OR {column}::text = ANY "
        f"(CAST((SELECT customers_rls_values('{right}')) AS text[])))"
    )


def customer_visible(column: str = "customer_id") -> str:
    return f"EXISTS (SELECT 1 FROM customers_customer c WHERE c.id = {column})"


def customer_manageable(column: str = "customer_id") -> str:
    return (
        f"EXISTS (SELECT 1 FROM customers_customer c WHERE c.id = {column} "
        f"AND {covered('manage', 'c.restriction')})"
    )


FUNCTIONS = """
CREATE FUNCTION customers_rls_low() RETURNS bigint LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('customers.tenant_low', true), ''), '0')::bigint $$;
CREATE FUNCTION customers_rls_high() RETURNS bigint LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('customers.tenant_high', true), ''), '-1')::bigint $$;
CREATE FUNCTION customers_rls_all(what text) RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT coalesce(current_setting('customers.' || what, true), '') = '*' $$;
CREATE FUNCTION customers_rls_values(what text) RETURNS text[] LANGUAGE sql STABLE AS
  $$ SELECT string_to_array(nullif(current_setting('customers.' || what, true), ''), ',') $$;
CREATE FUNCTION customers_rls_covers(what text, value text) RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT customers_rls_all(what) OR coalesce(value = ANY (customers_rls_values(what)), false) $$;

-- An update needs the manage coverage of the row as it was (the policy checks the new one);
-- changing the restriction needs the assign coverage of both values.
CREATE FUNCTION customers_rls_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT customers_rls_covers('manage', OLD.restriction) THEN
    RAISE EXCEPTION 'row security: customer % is outside the manage coverage', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.restriction IS DISTINCT FROM OLD.restriction AND NOT (
      customers_rls_covers('assign', OLD.restriction)
      AND customers_rls_covers('assign', NEW.restriction)) THEN
    RAISE EXCEPTION 'row security: restriction change of customer % is outside the assign coverage',
      OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;

-- The ids of the customers whose text column matches (a regular expression or ILIKE), within
-- the bound context's tenants and read coverage: the trigram indexes serve it. Owned by a role
-- that bypasses row security when one is configured, it returns nothing the caller could not
-- read; the caller's own query (under the policies) then reads those rows.
CREATE FUNCTION customers_matching_ids(field text, operator text, pattern text)
RETURNS SETOF bigint LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  low bigint := customers_rls_low();
  high bigint := customers_rls_high();
  readable text := coalesce(current_setting('customers.read', true), '');
BEGIN
  IF field NOT IN ('first_name', 'last_name', 'contact_email', 'company') THEN
    RAISE EXCEPTION 'customers_matching_ids: no trigram index on %', field;
  END IF;
  IF operator NOT IN ('~', '~*', '~~*') THEN
    RAISE EXCEPTION 'customers_matching_ids: unknown operator %', operator;
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT id FROM customers_customer WHERE tenant_id BETWEEN $1 AND $2 '
    'AND ($3 = ''*'' OR restriction::text = ANY (string_to_array(nullif($3, ''''), '',''))) '
    'AND %I %s %L', field, operator, pattern)
  USING low, high, readable;
END $$;

-- Whether the planner, free of the policies, would use a trigram index for such a match in the
-- bound tenant's first page: a rare term (yes: ask customers_matching_ids) or a common one
-- (no: walking the tenant's rows in order finds a page sooner than collecting every match).
CREATE FUNCTION customers_trigram_pays(field text, operator text, pattern text)
RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER  -- (EXPLAIN needs it)
SET search_path = public, pg_temp AS $$
DECLARE
  plan text;
BEGIN
  IF field NOT IN ('first_name', 'last_name', 'contact_email', 'company')
      OR operator NOT IN ('~', '~*', '~~*') THEN
    RETURN false;
  END IF;
  EXECUTE format(
    'EXPLAIN (FORMAT JSON) SELECT id FROM customers_customer WHERE tenant_id = %s '
    'AND %I %s %L ORDER BY id LIMIT 60', customers_rls_low(), field, operator, pattern)
  INTO plan;
  RETURN plan LIKE '%_trgm"%';
END $$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS customers_trigram_pays(text, text, text);
DROP FUNCTION IF EXISTS customers_matching_ids(text, text, text);
DROP FUNCTION IF EXISTS customers_rls_check_update();
DROP FUNCTION IF EXISTS customers_rls_covers(text, text);
DROP FUNCTION IF EXISTS customers_rls_values(text);
DROP FUNCTION IF EXISTS customers_rls_all(text);
DROP FUNCTION IF EXISTS customers_rls_high();
DROP FUNCTION IF EXISTS customers_rls_low();
"""

CUSTOMER_READ = f"{IN_TENANTS} AND {covered('read')}"
CUSTOMER_MANAGE = f"{IN_TENANTS} AND {covered('manage')}"
RELATED_READ = f"{IN_TENANTS} AND {customer_visible()}"
RELATED_MANAGE = f"{IN_TENANTS} AND {customer_manageable()}"

# table -> (select, insert, update, delete) conditions
POLICIES = {
    # Rows are locked FOR UPDATE where they are readable (the services then refuse with a
    # reason); the trigger above holds updates to the manage coverage of the old row.
    "customers_customer": (CUSTOMER_READ, CUSTOMER_MANAGE, CUSTOMER_READ, CUSTOMER_MANAGE),
    "customers_address": (RELATED_READ, RELATED_MANAGE, RELATED_MANAGE, RELATED_MANAGE),
    "customers_account": (RELATED_READ, RELATED_MANAGE, RELATED_MANAGE, RELATED_MANAGE),
    "customers_restrictionchange": (
        f"{IN_TENANTS} AND ({customer_visible()} OR (customer_id IS NULL "
        "AND (SELECT customers_rls_all('read'))))",
        f"{IN_TENANTS} AND {covered('manage', 'new_value')}",
        f"{IN_TENANTS} AND (SELECT customers_rls_all('manage'))",
        f"{IN_TENANTS} AND (SELECT customers_rls_all('manage'))",
    ),
    "customers_job": (IN_TENANTS, IN_TENANTS, IN_TENANTS, IN_TENANTS),
    "customers_jobrestriction": tuple(
        ["EXISTS (SELECT 1 FROM customers_job j WHERE j.id = job_id)"] * 4
    ),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTIONS, params=None)  # (its format() codes are not placeholders)
    for table, (select, insert, update, delete) in POLICIES.items():
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"CREATE POLICY read ON {table} FOR SELECT USING ({select})")
        schema_editor.execute(f"CREATE POLICY add ON {table} FOR INSERT WITH CHECK ({insert})")
        schema_editor.execute(
            f"CREATE POLICY change ON {table} FOR UPDATE USING ({update}) WITH CHECK "
            f"({insert if table != 'customers_customer' else CUSTOMER_MANAGE})"
        )
        schema_editor.execute(f"CREATE POLICY remove ON {table} FOR DELETE USING ({delete})")
    schema_editor.execute(
        "CREATE TRIGGER customers_rls_check_update BEFORE UPDATE ON customers_customer "
        "FOR EACH ROW EXECUTE FUNCTION customers_rls_check_update()"
    )
    give_to_search_role(
        schema_editor,
        ["customers_matching_ids(text, text, text)", "customers_trigram_pays(text, text, text)"],
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS customers_rls_check_update ON customers_customer")
    for table in POLICIES:
        for name in ("read", "add", "change", "remove"):
            schema_editor.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    schema_editor.execute(DROP_FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [("customers", "0006_emporix_documents")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
