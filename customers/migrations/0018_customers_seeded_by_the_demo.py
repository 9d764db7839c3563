"""Customers made by ``seed_demo`` are marked, so that ``seed_demo --reset`` (``make
demo-reset``) removes only those and a customer a user created in the demo tenant survives.

The demo tenant's customers that exist already were all made by seeding as far as anyone can
tell (before, nothing told them apart): they are marked, so the next ``make run`` does not seed
a second set. On PostgreSQL the update runs bound to every tenant (the row policies hold for the
tables' owner too)."""

from django.db import migrations, models


def mark_the_demo_tenants_customers(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "SELECT set_config('customers.tenant_low', '0', true), "
            "set_config('customers.tenant_high', '9223372036854775807', true), "
            "set_config('customers.read', '*', true), set_config('customers.manage', '*', true), "
            "set_config('customers.assign', '*', true)"
        )
    Customer.objects.filter(tenant__code="demo").update(seeded_by_demo=True)


class Migration(migrations.Migration):
    dependencies = [("customers", "0017_visible_count_planned_for_its_values")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="seeded_by_demo",
            field=models.BooleanField(default=False, db_default=False, editable=False),
        ),
        migrations.RunPython(mark_the_demo_tenants_customers, migrations.RunPython.noop),
    ]
