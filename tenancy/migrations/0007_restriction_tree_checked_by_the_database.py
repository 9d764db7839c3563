"""The database refuses a cycle in a tenant's restriction tree (PostgreSQL).

The tenant page validates the tree it saves, but two saves at the same moment each validated
their own change against the tree before the other's (DE under FR, FR under DE) and both
committed: a cycle. Now every change of a value's parent is checked once more at commit, by a
constraint trigger that first locks the tenant's row, so two tree changes of one tenant are
checked one after the other, each against what the other committed. The walk up the tree is
bounded, so even a tree corrupted before this migration cannot make it loop. SQLite serialises
writers, so there the page's own check inside its transaction suffices.
"""

from django.db import migrations

CHECK = """
CREATE OR REPLACE FUNCTION tenancy_restriction_tree_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  current bigint;
  parent bigint;
  parent_tenant bigint;
  steps integer := 0;
BEGIN
  IF NEW.parent_id IS NULL THEN
    RETURN NULL;
  END IF;
  -- One tree change of a tenant at a time: the second waits here, then sees the first.
  PERFORM 1 FROM tenancy_tenant WHERE id = NEW.tenant_id FOR UPDATE;
  -- Checked at commit: the row as it is now (changed again, or deleted with its tenant, since).
  SELECT parent_id INTO parent FROM tenancy_restriction WHERE id = NEW.id;
  IF parent IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT tenant_id INTO parent_tenant FROM tenancy_restriction WHERE id = parent;
  IF parent_tenant IS NULL THEN
    RETURN NULL;  -- (the parent is gone too: its foreign key decides)
  END IF;
  IF parent_tenant <> NEW.tenant_id THEN
    RAISE EXCEPTION USING
      MESSAGE = 'restriction ' || NEW.code || ' has a parent of another tenant',
      ERRCODE = 'check_violation', CONSTRAINT = 'restriction_tree_acyclic';
  END IF;
  current := parent;
  WHILE current IS NOT NULL LOOP
    steps := steps + 1;
    IF current = NEW.id OR steps > 64 THEN
      RAISE EXCEPTION USING
        MESSAGE = 'the parents of restriction ' || NEW.code || ' form a cycle',
        ERRCODE = 'check_violation', CONSTRAINT = 'restriction_tree_acyclic';
    END IF;
    SELECT parent_id INTO current FROM tenancy_restriction WHERE id = current;
  END LOOP;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS restriction_tree_acyclic ON tenancy_restriction;
CREATE CONSTRAINT TRIGGER restriction_tree_acyclic
AFTER INSERT OR UPDATE OF parent_id ON tenancy_restriction
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION tenancy_restriction_tree_check();
"""

DROP = """
DROP TRIGGER IF EXISTS restriction_tree_acyclic ON tenancy_restriction;
DROP FUNCTION IF EXISTS tenancy_restriction_tree_check();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CHECK)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0006_break_glass_per_day")]

    operations = [migrations.RunPython(forwards, backwards)]
