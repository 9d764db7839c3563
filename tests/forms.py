"""Form data as the back office's pages post it."""

from __future__ import annotations


def tenant_settings(tenant) -> dict:
    """The tenant page's own fields (code, name and every setting) as the page would post them
    for ``tenant`` as it is now: a test changes what it is about and nothing else."""
    from customers.admin.tenants import TenantForm

    form = TenantForm(instance=tenant)
    fields = (form[name] for name in TenantForm._meta.fields)
    return {field.name: field.value() for field in fields if field.value() is not None}
