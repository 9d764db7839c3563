"""PostgreSQL: ``customers_visible_count(wanted)``, the number of customers of the bound tenant
whose restriction both the bound read coverage and ``wanted`` (the caller's own, in the
context's notation: ``*`` or comma-separated values) cover.

Counted under the policies, every row is checked against the read coverage again although the
caller's own condition already is the index range (``--DE``: 250,000 rows cost 1.24x). The
function runs as the role that bypasses row security (as the search function does) and applies
the bound context by hand, as one index-only count: it can count no row the context does not
cover, and returns 0 without a context. SQLite: nothing.
"""

from django.db import migrations

from core.roles import give_to_search_role

SIGNATURE = "customers_visible_count(text)"

CREATE = """
CREATE FUNCTION customers_visible_count(wanted text)
RETURNS bigint LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  low bigint := customers_rls_low();
  high bigint := customers_rls_high();
  bound text := coalesce(current_setting('customers.read', true), '');
  both_cover text[];
  total bigint;
BEGIN
  IF low <> high THEN
    RETURN 0;  -- no context (an empty range), or all tenants: not a count of one tenant
  END IF;
  IF bound = '*' AND wanted = '*' THEN
    SELECT count(*) INTO total FROM customers_customer WHERE tenant_id = low;
    RETURN total;
  END IF;
  IF bound = '*' THEN
    both_cover := string_to_array(nullif(wanted, ''), ',');
  ELSIF wanted = '*' THEN
    both_cover := string_to_array(nullif(bound, ''), ',');
  ELSE
    both_cover := ARRAY(
      SELECT unnest(string_to_array(nullif(bound, ''), ','))
      INTERSECT SELECT unnest(string_to_array(nullif(wanted, ''), ',')));
  END IF;
  SELECT count(*) INTO total FROM customers_customer
  WHERE tenant_id = low AND restriction = ANY (coalesce(both_cover, '{}'));
  RETURN total;
END $$;
REVOKE EXECUTE ON FUNCTION customers_visible_count(text) FROM PUBLIC;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE)
    give_to_search_role(schema_editor, [SIGNATURE])


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0011_job_labels")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
