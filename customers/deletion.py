"""Deletes whose every statement names the tenant.

Django's collector deletes a customer's rows by ``customer_id`` and the customer by ``id``
alone. On a distributed database (Citus, ``manage.py distribute_tenants``) the tables are
spread by ``tenant_id``, so such a statement goes to every shard; with the tenant it goes to
the tenant's one. On a single database the tenant costs nothing (every key starts with it).
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import QuerySet, signals
from django.db.models.deletion import Collector


def _has_tenant(model) -> bool:
    return any(field.attname == "tenant_id" for field in model._meta.concrete_fields)


def _notified(model) -> bool:
    return any(signal.has_listeners(model) for signal in (signals.pre_delete, signals.post_delete))


class TenantCollector(Collector):
    """Django's collector, with the tenant in each statement: the related rows it reads,
    deletes or unlinks are those of the deleted rows' tenants, and the rows themselves are
    deleted by tenant and key (as one statement per tenant, which Django's own bulk path does
    for rows nobody listens to)."""

    def related_objects(self, related_model, related_fields, objs):
        found = super().related_objects(related_model, related_fields, objs)
        tenants = {getattr(obj, "tenant_id", None) for obj in objs}
        if not _has_tenant(related_model) or None in tenants:
            return found
        if len(tenants) == 1:
            return found.filter(tenant_id=next(iter(tenants)))
        return found.filter(tenant_id__in=sorted(tenants))

    def delete(self):
        removed = []
        for model, instances in list(self.data.items()):
            if not _has_tenant(model) or _notified(model):
                continue
            by_tenant = defaultdict(list)
            for instance in instances:
                by_tenant[instance.tenant_id].append(instance.pk)
            for tenant_id, keys in sorted(by_tenant.items()):
                rows = model._base_manager.using(self.using)
                self.fast_deletes.append(rows.filter(tenant_id=tenant_id, pk__in=sorted(keys)))
            removed.append((model, self.data.pop(model)))
        result = super().delete()
        for model, instances in removed:
            for instance in instances:
                setattr(instance, model._meta.pk.attname, None)
        return result


def delete_with_tenant(queryset: QuerySet) -> tuple[int, dict[str, int]]:
    """``queryset.delete()`` through :class:`TenantCollector`, with Django's refusals."""
    queryset._not_support_combined_queries("delete")
    if queryset.query.is_sliced:
        raise TypeError("Cannot use 'limit' or 'offset' with delete().")
    if queryset.query.distinct_fields:
        raise TypeError("Cannot call delete() after .distinct(*fields).")
    if queryset._fields is not None:
        raise TypeError("Cannot call delete() after .values() or .values_list()")
    rows = queryset._chain()
    rows._for_write = True
    rows.query.select_for_update = False
    rows.query.select_related = False
    rows.query.clear_ordering(force=True)
    collector = TenantCollector(using=rows.db, origin=queryset)
    collector.collect(rows)
    return collector.delete()
