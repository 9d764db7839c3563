"""The restriction history: every change of a customer's restriction, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from core.admin import ReadOnlyAdminMixin
from customers.admin.base import NONE_LABEL, RestrictionAwareModelAdmin
from customers.models import RestrictionChange


@admin.register(RestrictionChange)
class RestrictionChangeAdmin(ReadOnlyAdminMixin, RestrictionAwareModelAdmin):
    """The restriction history, read-only, limited to customers the employee may read."""

    list_display = ["changed_at", "customer_link", "old", "new", "by", "channel"]
    list_filter = ["channel", "actor_kind"]
    search_fields = ["customer_number", "actor_name"]
    search_help_text = "A customer number, or who made the change."
    date_hierarchy = "changed_at"
    ordering = ["-changed_at", "-pk"]
    show_full_result_count = False

    @admin.display(description="customer", ordering="customer_number")
    def customer_link(self, obj):
        if obj.customer_id is None:  # deleted since
            return format_html("{} <small>(deleted)</small>", obj.customer_number)
        url = reverse("admin:customers_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, obj.customer_number)

    @admin.display(description="from", ordering="old_value")
    def old(self, obj) -> str:
        return obj.old_value or NONE_LABEL

    @admin.display(description="to", ordering="new_value")
    def new(self, obj) -> str:
        return obj.new_value or NONE_LABEL

    @admin.display(description="by", ordering="actor_name")
    def by(self, obj) -> str:
        return f"{obj.actor_name or obj.actor_id} ({obj.get_actor_kind_display()})"
