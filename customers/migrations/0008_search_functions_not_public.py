"""The two search functions run as a role that bypasses row security and trust the caller's
``customers.*`` settings, so only the service role may call them: PostgreSQL lets PUBLIC execute
every new function unless told otherwise. (``migrate`` grants the service role EXECUTE afterwards,
core.roles.grant_service_privileges; the owner keeps it as the functions' owner or a member.)"""

from django.db import migrations

FUNCTIONS = (
    "customers_matching_ids(text, text, text)",
    "customers_trigram_pays(text, text, text)",
)


def revoke(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for function in FUNCTIONS:
            schema_editor.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")


def grant(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for function in FUNCTIONS:
            schema_editor.execute(f"GRANT EXECUTE ON FUNCTION {function} TO PUBLIC")


class Migration(migrations.Migration):
    dependencies = [("customers", "0007_row_level_security")]

    operations = [migrations.RunPython(revoke, grant, elidable=False)]
