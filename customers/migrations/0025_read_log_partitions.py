"""The read-access log, partitioned (PostgreSQL).

Each line gets the day it may go (``keep_until``: the day it was read plus its tenant's
retention) and whether it is ``filed``. On PostgreSQL the table is rebuilt as one table of parts:
an unindexed inbox (``filed`` false) where reads write, and the indexed filed lines partitioned
by month of ``keep_until``, with a default partition (``manage.py keep_read_log`` makes the
months and drops the past ones). The row policies are carried over as they are. On SQLite the
table stays one table.
"""

import datetime

from django.db import migrations, models

TABLE = "customers_customerview"
OLD = f"{TABLE}_unpartitioned"
COLUMNS = (
    "id, tenant_id, customer_number, viewed_at, actor_kind, actor_id, actor_name, channel, how, "
    "expanded, purpose, keep_until"
)
INDEXES = {
    "customer_view_number_idx": "(tenant_id, customer_number, id DESC)",
    "customer_view_actor_idx": "(tenant_id, actor_id, id DESC)",
    "customer_view_name_idx": "(tenant_id, actor_name, id DESC)",
    "customer_view_id_idx": "(id)",  # (a line by its id: the back office's pages of one line)
}


def existing_lines(apps, schema_editor):
    """Lines written before retention existed are kept two years from their day (SQLite here;
    PostgreSQL's are copied so, below)."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(
            f"UPDATE {TABLE} SET keep_until = date(viewed_at, '+730 days'), filed = 1"
        )


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies "
            "WHERE schemaname = 'public' AND tablename = %s",
            [TABLE],
        )
        policies = cursor.fetchall()
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname <> %s",
            [TABLE, f"{TABLE}_pkey"],
        )
        old_indexes = [name for (name,) in cursor.fetchall()]
    run = schema_editor.execute
    run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    run(f"ALTER TABLE {OLD} NO FORCE ROW LEVEL SECURITY")  # (the owner copies every line)
    for name in old_indexes:
        run(f"DROP INDEX {name}")
    run(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY) "
        "PARTITION BY LIST (filed)")
    run(f"CREATE TABLE {TABLE}_inbox PARTITION OF {TABLE} FOR VALUES IN (false)")
    run(f"CREATE TABLE {TABLE}_filed PARTITION OF {TABLE} FOR VALUES IN (true) "
        "PARTITION BY RANGE (keep_until)")
    run(f"CREATE TABLE {TABLE}_filed_default PARTITION OF {TABLE}_filed DEFAULT")
    # The parts are reached through the table, whose policies apply; named directly, a part
    # has row security without policies: nothing for any role but its owner.
    for part in ("inbox", "filed", "filed_default"):
        run(f"ALTER TABLE {TABLE}_{part} ENABLE ROW LEVEL SECURITY")
    for name, columns in INDEXES.items():
        run(f"CREATE INDEX {name} ON {TABLE}_filed {columns}")
    kept = "(viewed_at + interval '730 days')::date"
    run(
        f"INSERT INTO {TABLE} ({COLUMNS}, filed) "
        f"SELECT {COLUMNS.replace('keep_until', kept)}, true FROM {OLD}"
    )
    run(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
        f"(SELECT coalesce(max(id), 0) + 1 FROM {OLD}), false)")
    run(f"DROP TABLE {OLD}")
    sequence = serial_sequence(schema_editor)
    if sequence != f"public.{TABLE}_id_seq":
        run(f"ALTER SEQUENCE {sequence} RENAME TO {TABLE}_id_seq")
    run(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    run(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    for name, permissive, to, command, using, check in policies:
        run(
            f"CREATE POLICY {name} ON {TABLE} AS {permissive} FOR {command} "
            f"TO {', '.join(to)}"
            + (f" USING ({using})" if using else "")
            + (f" WITH CHECK ({check})" if check else "")
        )


def serial_sequence(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        return cursor.fetchone()[0]


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0024_read_log_without_tenant_constraint"),
        ("tenancy", "0009_read_log_retention"),
    ]

    operations = [
        migrations.AddField(
            model_name="customerview",
            name="keep_until",
            field=models.DateField(default=datetime.date(2000, 1, 1), verbose_name="kept until"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="customerview",
            name="filed",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(existing_lines, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(partition),
    ]
