"""The customer pages: list, search, filters, the change form with addresses, accounts and
restriction history; every write through :mod:`customers.services`."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path

from accounts.admin_principal import admin_principal, principal_in_tenant, sees_every_tenant
from accounts.scopes import Right
from core.errors import ServiceError
from customers import read_log, services
from customers.admin.access import explain_access_view, may_explain
from customers.admin.actions import CustomerActions
from customers.admin.base import (
    NONE_LABEL,
    ParentScopedInline,
    ReadOnlyInline,
    RestrictionAwareModelAdmin,
    RestrictionChoiceField,
    may,
    tenant_restrictions,
)
from customers.admin.views import may_export, may_see_views
from customers.models import Account, Address, Channel, Customer, ReadHow, RestrictionChange
from customers.selection import NONE_VALUE, SEARCH_LOOKUPS, filter_condition, search_condition
from customers.services import privacy
from tenancy.models import Site


class AddressInline(ParentScopedInline, admin.TabularInline):
    model = Address
    extra = 0
    fields = [
        "address_id",
        "contact_name",
        "street",
        "street_number",
        "zip_code",
        "city",
        "country",
        "tags",
        "is_default",
    ]
    readonly_fields = ["address_id"]
    formfield_overrides = {
        models.JSONField: {"widget": forms.TextInput(attrs={"size": 18})},
    }


class AccountInline(ReadOnlyInline, admin.TabularInline):
    model = Account
    extra = 0
    fields = ["email", "created_at"]
    readonly_fields = fields
    verbose_name = "login account"


class RestrictionHistoryInline(ReadOnlyInline, admin.TabularInline):
    model = RestrictionChange
    extra = 0
    # Each row reads as a sentence (the change's own text), at body size, newest first.
    fields = ["changed_at", "change"]
    readonly_fields = fields
    ordering = ["-changed_at", "-pk"]
    verbose_name = "restriction change"
    verbose_name_plural = "restriction history"

    class Media:
        css = {"all": ["customers/admin/restriction-history.css"]}

    @admin.display(description="change")
    def change(self, obj) -> str:
        return obj.sentence()


class RestrictionListFilter(admin.SimpleListFilter):
    """Offers only the values the employee may read (never hints at others)."""

    title = "restriction"
    parameter_name = "restriction"

    def lookups(self, request, model_admin):
        principal = admin_principal(request)
        if principal is None:
            return []
        grants = principal.grants
        choices = [(NONE_VALUE, NONE_LABEL)] if grants.may_read(None) else []
        return choices + [(c, c) for c in tenant_restrictions(request) if grants.may_read(c)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(filter_condition(self.parameter_name, value)) if value else queryset


class PreferredSiteListFilter(admin.SimpleListFilter):
    title = "preferred site"
    parameter_name = "preferred_site"

    def lookups(self, request, model_admin):
        principal = admin_principal(request)
        if principal is None:
            return []
        sites = Site.objects.order_by("code").values_list("code", flat=True).distinct()
        if not principal.sees_every_tenant:
            sites = sites.filter(tenant_id=principal.tenant_id)
        return [(code, code) for code in sites]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(filter_condition(self.parameter_name, value)) if value else queryset


@admin.register(Customer)
class CustomerAdmin(CustomerActions, RestrictionAwareModelAdmin):
    list_display = [
        "customer_number",
        "full_name",
        "contact_email",
        "restriction",
        "preferred_site",
        "active",
        "created_at",
    ]
    list_display_links = ["customer_number", "full_name"]
    # Exact number (its unique index); names and e-mail through the pg_trgm indexes (ILIKE).
    # Applied by customers.selection.search_condition, which background jobs replay.
    search_fields = list(SEARCH_LOOKUPS)
    search_condition = staticmethod(search_condition)
    list_filter = [RestrictionListFilter, "active", PreferredSiteListFilter]
    list_per_page = 50
    show_full_result_count = True
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    ordering = ["-created_at", "-pk"]
    inlines = [AddressInline, AccountInline, RestrictionHistoryInline]
    actions = [
        "assign_restriction",
        "delete_selected_customers",
        "erase_selected_customers",
        "hold_selected_customers",
        "release_selected_customers",
    ]
    fieldsets = [
        (None, {"fields": ["tenant", "customer_number", "restriction"]}),
        (
            "Profile",
            {
                "fields": [
                    "title",
                    "first_name",
                    "middle_name",
                    "last_name",
                    "company",
                    "contact_email",
                    "contact_phone",
                    "photo_url",
                    "type",
                ]
            },
        ),
        (
            "Preferences",
            {
                "fields": [
                    "preferred_site",
                    "preferred_language",
                    "preferred_currency",
                    "active",
                    "on_hold",
                    "b2b_company_registration_id",
                ]
            },
        ),
        ("Metadata", {"fields": ["version", "created_at", "modified_at"]}),
    ]

    def get_list_display(self, request):
        if sees_every_tenant(request):  # customers of every tenant side by side
            return [self.list_display[0], "tenant", *self.list_display[1:]]
        return self.list_display

    def get_list_filter(self, request):
        if sees_every_tenant(request):
            return [("tenant", admin.RelatedOnlyFieldListFilter), *self.list_filter]
        return self.list_filter

    def narrow_queryset(self, request, queryset):
        # The tenant column of the platform's pages, read by a query of its own: a join would
        # reach a coordinator-only table from the distributed customers (Citus refuses it).
        return queryset.prefetch_related("tenant") if sees_every_tenant(request) else queryset

    def get_urls(self):
        explain = self.admin_site.admin_view(lambda request: explain_access_view(request, self))
        export = self.admin_site.admin_view(self.privacy_export_view)
        return [
            path("explain-access/", explain, name="customers_explain_access"),
            path(
                "<path:object_id>/privacy-export/",
                export,
                name="customers_customer_privacy_export",
            ),
            *super().get_urls(),
        ]

    def privacy_export_view(self, request, object_id):
        """Ask for a data-subject export of the customer (POST, from its page)."""
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            raise Http404("Not found.")
        if request.method != "POST" or not may_export(request):
            raise PermissionDenied
        try:
            privacy.privacy_export_request(
                actor=principal_in_tenant(request, customer.tenant),
                channel=Channel.ADMIN,
                customer_number=customer.customer_number,
                purpose=read_log.purpose_of(request.POST.get("purpose"), field="purpose"),
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:customers_customer_change", customer.pk)
        self.message_user(
            request,
            f"The export of {customer.customer_number} is being prepared: download it here once "
            "it is ready (once, within a day).",
            messages.SUCCESS,
        )
        return redirect("admin:customers_privacyexport_changelist")

    def changelist_view(self, request, extra_context=None):
        extra = {**(extra_context or {}), "can_explain_access": may_explain(request)}
        response = super().changelist_view(request, extra)
        shown = getattr(response, "context_data", None) or {}
        if response.status_code == 200 and "cl" in shown:
            # (the page's rows, read here once: the template iterates the same result)
            rows = list(shown["cl"].result_list)
            self._record_reads(request, ReadHow.ADMIN_LIST, rows)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A tenant administrator reaches "who may see it" from the customer's own page.
        extra = {
            **(extra_context or {}),
            "can_explain_access": may_explain(request),
            "can_see_views": may_see_views(request),
            "can_export": may_export(request),
        }
        response = super().change_view(request, object_id, form_url, extra)
        shown = getattr(response, "context_data", None) or {}
        if response.status_code == 200 and shown.get("original") is not None:
            self._record_reads(request, ReadHow.ADMIN_PAGE, [shown["original"]])
        return response

    def _record_reads(self, request, how: ReadHow, customers) -> None:
        read_log.record(
            admin_principal(request),
            channel=Channel.ADMIN,
            how=how,
            served=((customer.tenant_id, customer.customer_number) for customer in customers),
        )

    @admin.display(description="name", ordering="last_name")
    def full_name(self, obj):
        return " ".join(p for p in (obj.first_name, obj.last_name) if p) or "—"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by the service-backed action below
        return actions

    # -- the form ------------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        first = dict(fieldsets[0][1])
        if not sees_every_tenant(request):
            first["fields"] = [f for f in first["fields"] if f != "tenant"]
        if obj is not None and obj.legal_hold:  # (said where it blocks deleting)
            first["fields"] = [*first["fields"], "legal_hold"]
        return [(None, first), *fieldsets[1:]]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["version", "created_at", "modified_at", "legal_hold"]
        if obj is not None:
            readonly += ["tenant", "customer_number"]
        can_set = (
            may(request, Right.ASSIGN)
            if obj is None
            else may(request, Right.ASSIGN, obj.restriction)
        )
        if not can_set:
            readonly.append("restriction")
        return readonly

    def assignable_values(self, request, obj) -> tuple[list[str], bool]:
        """The values the employee may assign (and whether "no restriction"), plus the
        current value of ``obj`` (keeping it is no change)."""
        grants = admin_principal(request).grants
        codes = tenant_restrictions(request, obj.tenant_id if obj is not None else None)
        allowed = [code for code in codes if Right.ASSIGN.covers(grants, code)]
        none = Right.ASSIGN.covers(grants, None)
        if obj is not None:
            none = none or obj.restriction is None
            if obj.restriction is not None and obj.restriction not in allowed:
                allowed.append(obj.restriction)
        return allowed, none

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "restriction" in form.base_fields:
            codes, none = self.assignable_values(request, obj)
            form.base_fields["restriction"] = RestrictionChoiceField(
                codes=codes,
                none=none,
                blank="— default for new customers —" if obj is None else None,
                initial=(obj.restriction or NONE_VALUE) if obj is not None else "",
            )
        principal = admin_principal(request)
        if "preferred_site" in form.base_fields and not principal.sees_every_tenant:
            sites = Site.objects.filter(tenant_id=principal.tenant_id).order_by("code")
            form.base_fields["preferred_site"] = forms.ChoiceField(
                choices=[(s, s) for s in sites.values_list("code", flat=True)], initial="main"
            )
        if "customer_number" in form.base_fields:
            form.base_fields["customer_number"].required = False
            form.base_fields["customer_number"].help_text = "Leave empty to generate one."
        return form

    # -- writes go through the services --------------------------------------------------------

    def save_model(self, request, obj, form, change):
        actor = principal_in_tenant(request, obj.tenant if obj.tenant_id else request.user.tenant)
        data = form.cleaned_data
        profile = {name: data[name] for name in services.PROFILE_DEFAULTS if name in data}
        restriction = data.get("restriction", "")  # "": not given (or not editable)
        if change:
            saved = services.customer_update(
                actor=actor,
                customer_number=obj.customer_number,
                fields={
                    name: value for name, value in profile.items() if name in form.changed_data
                },
                restriction=restriction if "restriction" in form.changed_data else services.UNSET,
                channel=Channel.ADMIN,
            )
        else:
            saved = services.customer_create(
                actor=actor,
                fields=profile,
                restriction=services.UNSET if restriction == "" else restriction,
                customer_number=data.get("customer_number") or None,
                send_password_reset=False,
                channel=Channel.ADMIN,
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        if formset.model is not Address:
            return super().save_formset(request, form, formset, change)
        customer = form.instance
        actor = principal_in_tenant(request, customer.tenant)
        formset.save(commit=False)
        number = customer.customer_number
        for address in formset.deleted_objects:
            services.address_delete(
                actor=actor, customer_number=number, address_id=address.address_id
            )
        for address, changed in formset.changed_objects:
            services.address_update(
                actor=actor,
                customer_number=number,
                address_id=address.address_id,
                fields={name: getattr(address, name) for name in changed},
                replace=False,
            )
        for address in formset.new_objects:
            fields = {
                name: getattr(address, name)
                for name in AddressInline.fields
                if name != "address_id"
            }
            services.address_create(actor=actor, customer_number=number, fields=fields)

    def delete_model(self, request, obj):
        services.customer_delete(
            actor=principal_in_tenant(request, obj.tenant), customer_number=obj.customer_number
        )

    def get_deleted_objects(self, objs, request):
        """The customer's addresses and login accounts go with it: the delete service decides
        by the customer's manage scope, although a login account may not be deleted on its own
        page (which would otherwise refuse the whole delete page with a bare 403)."""
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected
