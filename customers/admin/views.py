"""Who viewed customers: the read-access log in the back office, read-only, for those who hold
``audit.audit_read`` (a suffixed one: reads of the customers it covers now). A customer's page
links to its own reads; the list downloads as CSV (text, never a formula)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin_principal import admin_principal
from core.admin import GuardedAdmin, ReadOnlyAdminMixin
from core.datetimes import iso_formatter
from core.spreadsheets import SpreadsheetWriter
from customers.models import CustomerView

CSV_FIELDS = ["viewed_at", "customer_number", "by", "by_kind", "channel", "how", "purpose"]


def may_see_views(request) -> bool:
    principal = admin_principal(request)
    return principal is not None and (
        principal.sees_every_tenant or not principal.grants.auditable().is_empty
    )


# A download is built inside the page's transaction (its row-security context ends with it).
CSV_MAX_ROWS = 100_000


@admin.register(CustomerView)
class CustomerViewAdmin(ReadOnlyAdminMixin, GuardedAdmin):
    scope_base = True
    list_display = ["viewed_at", "customer", "by", "channel", "how", "purpose"]
    list_filter = ["channel", "how", "actor_kind"]
    search_fields = ["=customer_number", "=actor_name", "=actor_id"]
    search_help_text = "A customer number, or who read (name or id), exactly."
    date_hierarchy = "viewed_at"
    ordering = ["-pk"]
    show_full_result_count = False
    actions = ["download_csv"]

    def scoped_queryset(self, request, queryset):
        return CustomerView.objects.audited_by(admin_principal(request))

    def has_module_permission(self, request):
        return may_see_views(request)

    def has_view_permission(self, request, obj=None):
        return may_see_views(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="customer", ordering="customer_number")
    def customer(self, obj):
        url = reverse("admin:customers_customerview_changelist")
        return format_html(
            '<a href="{}?customer_number={}">{}</a>', url, obj.customer_number, obj.customer_number
        )

    @admin.display(description="by", ordering="actor_name")
    def by(self, obj) -> str:
        return f"{obj.actor_name or obj.actor_id} ({obj.get_actor_kind_display()})"

    def lookup_allowed(self, lookup, value, request=None):
        # One customer's reads (the link from its page): a field of every row shown.
        return lookup == "customer_number" or super().lookup_allowed(lookup, value, request)

    @admin.action(description="Download the selected reads as CSV")
    def download_csv(self, request, queryset):
        if queryset[: CSV_MAX_ROWS + 1].count() > CSV_MAX_ROWS:
            self.message_user(
                request,
                f"That is more than {CSV_MAX_ROWS:,} reads: narrow the list (a customer, who "
                "read, a date) and download again.",
                messages.ERROR,
            )
            return None
        iso = iso_formatter()
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="customer-views.csv"'
        writer = SpreadsheetWriter(response)
        writer.writerow(CSV_FIELDS)
        for view in queryset.order_by("-pk").iterator(chunk_size=2000):
            writer.writerow(
                [
                    iso(view.viewed_at),
                    view.customer_number,
                    view.actor_name or view.actor_id,
                    view.get_actor_kind_display(),
                    view.get_channel_display(),
                    view.get_how_display(),
                    view.purpose,
                ]
            )
        return response
