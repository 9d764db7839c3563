"""A customer's addresses, accounts and restriction history are indexed by tenant and
customer, with no index of the tenant alone or of the customer alone.

When a customer's restriction moves, PostgreSQL checks at commit the key of each row that
carries it (0030): one look-up per customer moved. With an index of the tenant alone (Django's
index of the reference) and the history's statistics those of a tenant that had none, the
planner answered each look-up by reading all of the tenant's history: each batch of a bulk
assignment committed more slowly than the one before (100,000 customers: 62 s to 469 s instead
of under 10). Every index of these tables now starts with the tenant, and the look-up has one
that also starts with the customer.
"""

import customers.models
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0032_keys_carry_the_tenant'),
        ('tenancy', '0009_read_log_retention'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='restrictionchange',
            name='restriction_change_idx',
        ),
        migrations.AlterField(
            model_name='account',
            name='customer',
            field=customers.models.TenantForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='accounts', to='customers.customer'),
        ),
        migrations.AlterField(
            model_name='account',
            name='tenant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.tenant'),
        ),
        migrations.AlterField(
            model_name='address',
            name='customer',
            field=customers.models.TenantForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='addresses', to='customers.customer'),
        ),
        migrations.AlterField(
            model_name='address',
            name='tenant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.tenant'),
        ),
        migrations.AlterField(
            model_name='restrictionchange',
            name='customer',
            field=customers.models.TenantForeignKey(db_index=False, null=True, on_delete=customers.models.unlink_history, related_name='restriction_changes', to='customers.customer'),
        ),
        migrations.AlterField(
            model_name='restrictionchange',
            name='tenant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.tenant'),
        ),
        migrations.AddIndex(
            model_name='account',
            index=models.Index(fields=['tenant', 'customer'], name='account_customer_idx'),
        ),
        migrations.AddIndex(
            model_name='restrictionchange',
            index=models.Index(fields=['tenant', 'customer', '-changed_at'], name='restriction_change_idx'),
        ),
    ]
