"""The audit log of restriction changes."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdminMixin
from customers.admin.base import RestrictionAwareModelAdmin
from customers.models import RestrictionChange


@admin.register(RestrictionChange)
class RestrictionChangeAdmin(ReadOnlyAdminMixin, RestrictionAwareModelAdmin):
    """The audit log, read-only, limited to customers the employee may read."""

    list_display = [
        "changed_at",
        "customer_number",
        "old_value",
        "new_value",
        "actor_name",
        "actor_kind",
        "channel",
    ]
    list_filter = ["channel", "actor_kind"]
    search_fields = ["customer_number", "actor_name"]
    date_hierarchy = "changed_at"
    ordering = ["-changed_at", "-pk"]
    show_full_result_count = False
