"""Who viewed customers: the read-access log in the back office, read-only, for those who hold
``audit.audit_read`` (a suffixed one: reads of the customers it covers now). A customer's page
links to its own reads; the list downloads as CSV (text, never a formula). And the data-subject
exports an employee asked for, each downloaded once."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_principal import admin_principal
from core.admin import GuardedAdmin, ReadOnlyAdminMixin
from core.datetimes import iso_formatter
from core.errors import ServiceError
from core.spreadsheets import SpreadsheetWriter
from customers.models import (
    Channel,
    CustomerErasure,
    CustomerView,
    MassReadAlert,
    PrivacyExport,
)
from customers.services import privacy

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


# -- data-subject exports ---------------------------------------------------------------------


def may_export(request) -> bool:
    """Data-subject requests (export, erasure, legal hold): customer.privacy_manage."""
    principal = admin_principal(request)
    return principal is not None and not principal.grants.privacy_manageable().is_empty


@admin.register(PrivacyExport)
class PrivacyExportAdmin(ReadOnlyAdminMixin, GuardedAdmin):
    """The signed-in employee's own data-subject exports: follow them, download each once."""

    scope_base = True
    list_display = ["customer_number", "status_shown", "requested_at", "expires_at", "download"]
    list_filter = ["status"]
    ordering = ["-pk"]
    show_full_result_count = False
    actions = None

    def scoped_queryset(self, request, queryset):
        principal = admin_principal(request)
        if principal is None or principal.tenant_id is None:
            return PrivacyExport.objects.none()
        return PrivacyExport.objects.requested_by(principal)

    def has_module_permission(self, request):
        return may_export(request)

    def has_view_permission(self, request, obj=None):
        return may_export(request)

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj) -> str:
        return obj.message or obj.get_status_display()

    @admin.display(description="")
    def download(self, obj):
        if obj.status != PrivacyExport.Status.READY:
            return ""
        url = reverse("admin:customers_privacyexport_download", args=[obj.pk])
        return format_html('<a href="{}">Download (once)</a>', url)

    def get_urls(self):
        download = path(
            "<int:export_id>/download/",
            self.admin_site.admin_view(self.download_view),
            name="customers_privacyexport_download",
        )
        return [download, *super().get_urls()]

    def download_view(self, request, export_id: int):
        if not may_export(request):
            raise PermissionDenied
        try:
            document = privacy.privacy_export_download(
                actor=admin_principal(request), export_id=export_id, channel=Channel.ADMIN
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:customers_privacyexport_changelist")
        response = HttpResponse(
            json.dumps(document, indent=1), content_type="application/json; charset=utf-8"
        )
        filename = f"customer-{document['customerNumber']}-export.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


# -- mass-read alerts -------------------------------------------------------------------------


@admin.register(MassReadAlert)
class MassReadAlertAdmin(ReadOnlyAdminMixin, GuardedAdmin):
    """A tenant's mass-read alerts, for its administrators: who read how many customers in
    what window, which; acknowledged by one of them."""

    scope_base = True
    list_display = ["raised_at", "who", "customers", "window", "notified", "acknowledged"]
    list_filter = ["actor_kind"]
    ordering = ["-pk"]
    actions = ["acknowledge"]

    def scoped_queryset(self, request, queryset):
        return MassReadAlert.objects.administered_by(admin_principal(request))

    def _administers(self, request) -> bool:
        principal = admin_principal(request)
        return principal is not None and (
            principal.sees_every_tenant or principal.grants.can_manage_tenant()
        )

    def has_module_permission(self, request):
        return self._administers(request)

    def has_view_permission(self, request, obj=None):
        return self._administers(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="who", ordering="actor_name")
    def who(self, obj) -> str:
        return f"{obj.actor_name or obj.actor_id} ({obj.get_actor_kind_display()})"

    @admin.display(description="within")
    def window(self, obj) -> str:
        return f"{obj.window_minutes} min"

    @admin.display(description="administrators e-mailed")
    def notified(self, obj) -> str:
        if obj.notified_at:
            return f"{timezone.localtime(obj.notified_at):%Y-%m-%d %H:%M}"
        return f"not yet ({obj.notice_attempts} tries)" if obj.notice_attempts else "being sent"

    @admin.display(description="acknowledged")
    def acknowledged(self, obj) -> str:
        if obj.acknowledged_at is None:
            return ""
        return (
            f"{obj.acknowledged_by_name}, {timezone.localtime(obj.acknowledged_at):%Y-%m-%d %H:%M}"
        )

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge(self, request, queryset):
        done = privacy.mass_read_alerts_acknowledge(actor=admin_principal(request), alerts=queryset)
        self.message_user(
            request, f"Acknowledged {done:,} alert{'s' if done != 1 else ''}.", messages.SUCCESS
        )


def mass_read_panel(request, principal) -> dict:
    """The home page's list of unacknowledged mass-read alerts, for tenant administrators."""
    if principal is None or principal.tenant_id is None or not principal.grants.can_manage_tenant():
        return {}
    alerts = MassReadAlert.objects.administered_by(principal).filter(acknowledged_at__isnull=True)
    return {"mass_reads": list(alerts.order_by("-pk")[:20])}


admin.site.index_panels.append(mass_read_panel)


# -- erasures ---------------------------------------------------------------------------------


@admin.register(CustomerErasure)
class CustomerErasureAdmin(ReadOnlyAdminMixin, GuardedAdmin):
    """Erasures: the number, who erased it, when, through which channel and why (audit readers;
    a suffixed one: of customers whose restriction it covers)."""

    scope_base = True
    list_display = ["erased_at", "customer_number", "restriction", "by", "channel", "reason"]
    list_filter = ["channel", "actor_kind"]
    search_fields = ["=customer_number", "=actor_name", "=actor_id"]
    search_help_text = "A customer number, or who erased (name or id), exactly."
    date_hierarchy = "erased_at"
    ordering = ["-pk"]
    show_full_result_count = False
    actions = None

    def scoped_queryset(self, request, queryset):
        return CustomerErasure.objects.audited_by(admin_principal(request))

    def has_module_permission(self, request):
        return may_see_views(request)

    def has_view_permission(self, request, obj=None):
        return may_see_views(request)

    @admin.display(description="by", ordering="actor_name")
    def by(self, obj) -> str:
        return f"{obj.actor_name or obj.actor_id} ({obj.get_actor_kind_display()})"
