"""Tenants are managed by platform superusers (valid restrictions, sites, sync setting).

Registered with the customers' admin, not in ``tenancy``, because removing a restriction
consults the customers that carry it."""

from django import forms
from django.contrib import admin

from accounts.admin_principal import admin_principal, sees_every_tenant
from accounts.services import tenant_restrictions_recorded
from core.admin import ScopedAdminMixin
from core.channels import Channel
from core.errors import ServiceError
from customers.services.restrictions import ensure_restriction_unused, restriction_remove
from tenancy.models import Restriction, Site, Tenant


class RestrictionInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        for form in self.forms:
            # A value in use cannot be removed (or renamed away) from the tenant's list.
            removed = getattr(form, "cleaned_data", {}).get("DELETE") or (
                form.instance.pk and "code" in form.changed_data
            )
            if removed and form.instance.pk:
                try:
                    ensure_restriction_unused(tenant_id=self.instance.pk, code=form.initial["code"])
                except ServiceError as exc:
                    raise forms.ValidationError(exc.message) from exc


class RestrictionInline(admin.TabularInline):
    model = Restriction
    formset = RestrictionInlineFormSet
    extra = 1
    fields = ["code", "name"]


class SiteInline(admin.TabularInline):
    model = Site
    extra = 1
    fields = ["code", "name"]


class SuperuserOnlyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Pages for the platform principal only."""

    def has_module_permission(self, request):
        return sees_every_tenant(request)

    def has_view_permission(self, request, obj=None):
        return sees_every_tenant(request)

    def has_add_permission(self, request):
        return sees_every_tenant(request)

    def has_change_permission(self, request, obj=None):
        return sees_every_tenant(request)

    def has_delete_permission(self, request, obj=None):
        return sees_every_tenant(request)


@admin.register(Tenant)
class TenantAdmin(SuperuserOnlyAdmin):
    list_display = ["code", "name", "sync_restrictions_with_sites", "created_at"]
    search_fields = ["code", "name"]
    inlines = [RestrictionInline, SiteInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not Restriction:
            return super().save_formset(request, form, formset, change)
        before = list(
            Restriction.objects.filter(tenant=form.instance).values_list("code", flat=True)
        )
        formset.save(commit=False)
        for restriction in formset.deleted_objects:
            # Locks and re-counts: a customer assigned since the form was validated still wins.
            restriction_remove(tenant=form.instance, code=restriction.code)
        for restriction in formset.new_objects + [obj for obj, _ in formset.changed_objects]:
            restriction.save()
        tenant_restrictions_recorded(
            actor=admin_principal(request),
            channel=Channel.ADMIN,
            tenant=form.instance,
            before=before,
            after=list(
                Restriction.objects.filter(tenant=form.instance).values_list("code", flat=True)
            ),
        )
        return None
