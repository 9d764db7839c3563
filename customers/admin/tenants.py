"""Tenants are managed by platform superusers (valid restrictions, sites, sync setting).

Registered with the customers' admin, not in ``tenancy``, because removing a restriction
consults the customers that carry it."""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.utils.duration import duration_iso_string

from accounts.admin_principal import admin_principal, sees_every_tenant
from accounts.services.identities import tenant_change_recorded
from core.admin import GuardedAdmin
from core.channels import Channel
from core.errors import ConflictError, ServiceError
from customers import read_log
from customers.access import tree_change_effect
from customers.services.restrictions import ensure_restriction_unused, restriction_remove
from tenancy import tree
from tenancy.models import Restriction, Site, Tenant
from tenancy.services import restriction_parents, tree_changed


def tree_notation(parents: dict[str, str | None]) -> list[str]:
    """``["DE:EU", "EU", …]``: the values as create_tenant takes them."""
    return sorted(
        code if parent is None else f"{code}:{parent}" for code, parent in parents.items()
    )


class RestrictionInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        self.check_tree()
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

    def clean_tree_change(self, parents: dict[str, str | None]) -> None:
        """A change of the tree changes who reads what at once: the page says how, and the
        change is saved only once confirmed."""
        if self.instance.pk is None:
            return
        before = restriction_parents(self.instance.pk)
        existing = {code: parent for code, parent in parents.items() if code in before}
        if existing == {c: p for c, p in before.items() if c in existing}:
            return  # (new or removed values alone move nobody's rights)
        if self.data.get("confirm_tree_change"):
            return
        effect = tree_change_effect(tenant=self.instance, before=before, after=parents)
        raise forms.ValidationError(
            f"This change of the restriction tree {effect}. Tick “Confirm a change of the "
            "restriction tree” and save again to make it."
        )

    def check_tree(self) -> None:
        """The values and parents as they will be: no unknown parent, no cycle, at most six
        levels (messages name the values). A value with values below it cannot be deleted:
        Django's own check of the protected parent says which."""
        parents = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("code") and not data.get("DELETE"):
                parent = data.get("parent")
                parents[data["code"]] = None if parent is None else parent.code
        try:
            tree.validate(parents)
        except tree.InvalidTree as exc:
            raise forms.ValidationError(str(exc)) from exc
        self.clean_tree_change(parents)


class RestrictionInline(admin.TabularInline):
    model = Restriction
    formset = RestrictionInlineFormSet
    extra = 1
    fields = ["code", "name", "parent"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            # The tenant's own values (the page's tenant is in the URL).
            tenant_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Restriction.objects.filter(tenant_id=tenant_id or 0)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class SiteInline(admin.TabularInline):
    model = Site
    extra = 1
    fields = ["code", "name"]


class SuperuserOnlyAdmin(GuardedAdmin):
    """Pages for the platform principal only."""

    scope_base = True

    def scoped_queryset(self, request, queryset):
        return queryset if sees_every_tenant(request) else queryset.none()

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


class TenantForm(forms.ModelForm):
    confirm_tree_change = forms.BooleanField(
        label="Confirm a change of the restriction tree",
        required=False,
        help_text="Moving a value under another parent changes who reads what at once; the "
        "page shows the effect first.",
    )

    class Meta:
        model = Tenant
        fields = [
            "code",
            "name",
            "sync_restrictions_with_sites",
            "customer_number_reuse",
            "max_temporary_access",
            "break_glass_per_day",
            "mass_read_customers",
            "mass_read_minutes",
            "read_log_days",
        ]


# The tenant's settings that change what temporary access can grant (an access change).
ACCESS_SETTINGS = ("max_temporary_access", "break_glass_per_day")


def _setting(value):
    return duration_iso_string(value) if isinstance(value, timedelta) else value


@admin.register(Tenant)
class TenantAdmin(SuperuserOnlyAdmin):
    form = TenantForm
    list_display = ["code", "name", "sync_restrictions_with_sites", "created_at"]
    search_fields = ["code", "name"]
    inlines = [RestrictionInline, SiteInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        read_log.forget(obj.pk)  # (other processes read the new settings within a minute)
        changed = [name for name in ACCESS_SETTINGS if name in form.changed_data]
        if change and changed:
            tenant_change_recorded(
                actor=admin_principal(request),
                channel=Channel.ADMIN,
                tenant=obj,
                before={name: _setting(form.initial[name]) for name in changed},
                after={name: _setting(getattr(obj, name)) for name in changed},
            )

    def save_formset(self, request, form, formset, change):
        if formset.model is not Restriction:
            return super().save_formset(request, form, formset, change)
        tenant = form.instance
        # One tree change of a tenant at a time: the form validated the tree it saw, but another
        # save may have committed since; the tree is validated again inside the lock (and the
        # database refuses a cycle at commit, on PostgreSQL).
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = restriction_parents(tenant.pk)
        formset.save(commit=False)
        for restriction in formset.deleted_objects:
            # Locks and re-counts: a customer assigned since the form was validated still wins.
            restriction_remove(tenant=tenant, code=restriction.code)
        for restriction in formset.new_objects + [obj for obj, _ in formset.changed_objects]:
            restriction.save()
        after = restriction_parents(tenant.pk)
        try:
            tree.validate(after)
        except tree.InvalidTree as exc:
            raise ConflictError(
                f"The restriction tree changed while you edited it: {exc} Reload the page and "
                "try again."
            ) from exc
        if after != before:
            tree_changed(tenant.pk)  # every process reads the new tree at its next request
            tenant_change_recorded(
                actor=admin_principal(request),
                channel=Channel.ADMIN,
                tenant=tenant,
                before={"restrictions": tree_notation(before)},
                after={"restrictions": tree_notation(after)},
            )
        return None
