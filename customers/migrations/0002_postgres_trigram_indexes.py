"""pg_trgm GIN indexes for regex search on names and e-mails (PostgreSQL only).

On SQLite these are no-ops: regex filters there are plain scans.
"""

from django.db import migrations

TRIGRAM_COLUMNS = ["first_name", "last_name", "contact_email", "company"]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in TRIGRAM_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS customer_{column}_trgm "
            f"ON customers_customer USING gin ({column} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in TRIGRAM_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS customer_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
