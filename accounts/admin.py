"""Access groups, employees and API clients. Platform superusers manage every tenant; an
employee holding ``tenant.tenant_manage`` manages only their own tenant and can never grant a
scope or restriction beyond their own grants."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.contrib.auth.models import Group
from django.template.defaultfilters import pluralize

from accounts.admin_principal import admin_principal
from accounts.models import AccessGroup, ApiClient, Employee, grants_of_groups
from accounts.scopes import Grants, split_scope_string
from accounts.services import (
    EMPLOYEE_EDITABLE_FIELDS,
    api_client_create,
    api_client_deactivate,
    api_client_rotate_secret,
    api_client_update,
    employee_create,
    employee_update,
)
from core.admin import ScopedAdminMixin, is_platform_superuser
from tenancy.models import Tenant

# Access groups (scopes and restrictions) are how employees get rights; Django's permission
# groups play no part here and would only confuse staff.
admin.site.unregister(Group)


class ScopeListField(forms.CharField):
    """Scopes typed space- or comma-separated, stored as a list."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return " ".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return split_scope_string(text.replace(",", " "))


class TenantAdministrationAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Superusers: every tenant. Tenant administrators: their own tenant only."""

    list_select_related = ["tenant"]

    def _principal(self, request):
        principal = admin_principal(request)
        if principal is not None and principal.grants.can_manage_tenant():
            return principal
        return None

    def _allowed(self, request) -> bool:
        return is_platform_superuser(request) or self._principal(request) is not None

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_change_permission(self, request, obj=None):
        if not self._allowed(request):
            return False
        # A tenant administrator may not take over an identity more powerful than themselves
        # (a new password or secret would hand them its grants).
        principal = self._principal(request)
        return (
            obj is None or principal is None or principal.grants.covers_grants(self.grants_of(obj))
        )

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def grants_of(self, obj) -> Grants:
        return obj.grants()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_platform_superuser(request):
            return queryset
        principal = self._principal(request)
        if principal is None:
            return queryset.none()
        return queryset.filter(tenant_id=principal.tenant_id)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not is_platform_superuser(request):
            exclude.append("tenant")
        return exclude

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and is_platform_superuser(request) and "tenant" not in readonly:
            readonly.append("tenant")
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.admin_principal = self._principal(request)
        return form

    def save_model(self, request, obj, form, change):
        principal = self._principal(request)
        if principal is not None:
            obj.tenant_id = principal.tenant_id
        super().save_model(request, obj, form, change)

    def tenant_for_new(self, request, form):
        """A tenant administrator's own tenant; the tenant a superuser chose."""
        principal = self._principal(request)
        return principal.tenant_id if principal is not None else form.cleaned_data["tenant"].pk

    def allowed_objects(self, request, queryset) -> tuple[list, int]:
        """The selected objects this administrator may act on (the change page's check), and
        how many were left out."""
        objects = list(queryset)
        allowed = [obj for obj in objects if self.has_change_permission(request, obj)]
        return allowed, len(objects) - len(allowed)


class NoEscalationForm(forms.ModelForm):
    """Refuses grants beyond the administrator's own (tenant administrators only)."""

    admin_principal = None
    grants_field = "scopes"

    def requested_grants(self, cleaned_data) -> Grants | None:
        """What saving this form would grant; None when it grants nothing."""
        return None

    def clean(self):
        cleaned_data = super().clean()
        wanted = self.requested_grants(cleaned_data)
        principal = self.admin_principal
        if (
            wanted is not None
            and principal is not None
            and not principal.grants.covers_grants(wanted)
        ):
            self.add_error(
                self.grants_field, "You cannot grant scopes or restrictions beyond your own."
            )
        return cleaned_data

    def _post_clean(self):
        if self.admin_principal is not None:
            self.instance.tenant_id = self.admin_principal.tenant_id
        super()._post_clean()


class AccessGroupForm(NoEscalationForm):
    scopes = ScopeListField(help_text="Unsuffixed scopes, space-separated.")
    restrictions = ScopeListField(
        required=False, help_text="Empty: the scopes cover every customer. Otherwise e.g. DE FR."
    )

    class Meta:
        model = AccessGroup
        fields = ["tenant", "name", "scopes", "restrictions"]

    def requested_grants(self, cleaned_data) -> Grants:
        return AccessGroup(
            scopes=cleaned_data.get("scopes") or [],
            restrictions=cleaned_data.get("restrictions") or [],
        ).grants()


@admin.register(AccessGroup)
class AccessGroupAdmin(TenantAdministrationAdmin):
    form = AccessGroupForm
    list_display = ["name", "tenant", "scopes", "restrictions"]
    search_fields = ["name"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]


class ApiClientForm(NoEscalationForm):
    scopes = ScopeListField(
        help_text="Space-separated; suffixes allowed, e.g. customer.customer_read--DE."
    )

    class Meta:
        model = ApiClient
        fields = ["tenant", "name", "scopes", "is_active"]

    def requested_grants(self, cleaned_data) -> Grants:
        return ApiClient(scopes=cleaned_data.get("scopes") or []).grants()


@admin.register(ApiClient)
class ApiClientAdmin(TenantAdministrationAdmin):
    form = ApiClientForm
    list_display = ["name", "client_id", "tenant", "is_active", "created_at"]
    list_filter = ["is_active", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "client_id"]
    readonly_fields = ["client_id", "created_at"]
    actions = ["rotate_secret", "deactivate"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            api_client_update(
                client=obj, name=data["name"], scopes=data["scopes"], is_active=data["is_active"]
            )
            return
        created = api_client_create(
            tenant=Tenant.objects.get(pk=self.tenant_for_new(request, form)),
            name=data["name"],
            scopes=data["scopes"],
        )
        obj.pk = created.client.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"Client {obj.client_id} created. Its secret is shown only this once: {created.secret}",
            messages.WARNING,
        )

    @admin.action(description="Rotate secret (shows the new secret once)")
    def rotate_secret(self, request, queryset):
        allowed, refused = self.allowed_objects(request, queryset)
        for client in allowed:
            secret = api_client_rotate_secret(client=client)
            self.message_user(
                request, f"New secret for {client.client_id}: {secret}", messages.WARNING
            )
        if refused:
            self.message_user(
                request,
                f"{refused} API client{pluralize(refused)} beyond your own grants: not rotated.",
                messages.ERROR,
            )

    @admin.action(description="Deactivate (tokens stop working at once)")
    def deactivate(self, request, queryset):
        allowed, refused = self.allowed_objects(request, queryset)
        deactivated = sum(api_client_deactivate(client=client) for client in allowed)
        self.message_user(
            request,
            f"Deactivated {deactivated} API client{pluralize(deactivated)}.",
            messages.SUCCESS,
        )
        if refused:
            self.message_user(
                request,
                f"{refused} API client{pluralize(refused)} beyond your own grants: left unchanged.",
                messages.ERROR,
            )


class EmployeeCreationForm(NoEscalationForm, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = Employee
        fields = ["username", "tenant"]

    def clean(self):
        cleaned = super().clean()
        if self.admin_principal is None and not cleaned.get("tenant"):
            self.add_error("tenant", "An employee belongs to a tenant.")
        return cleaned


class EmployeeChangeForm(NoEscalationForm, UserChangeForm):
    grants_field = "access_groups"

    class Meta(UserChangeForm.Meta):
        model = Employee
        fields = [
            "username",
            "password",
            "tenant",
            "first_name",
            "last_name",
            "email",
            "is_active",
            "is_staff",
            "is_superuser",
            "access_groups",
        ]

    def requested_grants(self, cleaned_data) -> Grants | None:
        groups = cleaned_data.get("access_groups")
        return None if groups is None else grants_of_groups(groups)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("is_superuser", self.instance.is_superuser) and not (
            cleaned.get("tenant") or self.instance.tenant_id or self.admin_principal
        ):
            self.add_error(None, "An employee who is not a superuser belongs to a tenant.")
        return cleaned


@admin.register(Employee)
class EmployeeAdmin(TenantAdministrationAdmin, UserAdmin):
    form = EmployeeChangeForm
    add_form = EmployeeCreationForm
    list_display = ["username", "tenant", "email", "is_staff", "is_active"]
    list_filter = ["is_active", "is_staff", ("tenant", admin.RelatedOnlyFieldListFilter)]
    filter_horizontal = ["access_groups"]
    fieldsets = [
        (None, {"fields": ["username", "password", "tenant"]}),
        ("Person", {"fields": ["first_name", "last_name", "email"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "access_groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["username", "tenant", "password1", "password2"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if is_platform_superuser(request):
            return fieldsets
        hidden = {"tenant", "is_superuser"}
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    def get_exclude(self, request, obj=None):
        exclude = super().get_exclude(request, obj)
        if not is_platform_superuser(request):
            exclude = [*exclude, "is_superuser", "user_permissions", "groups"]
        return exclude

    def get_readonly_fields(self, request, obj=None):
        return ["last_login", "date_joined"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = employee_create(
                tenant=Tenant.objects.get(pk=self.tenant_for_new(request, form)),
                username=data["username"],
                password=data["password1"],
                groups=[],
            )
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        groups = data.get("access_groups")
        employee_update(
            employee=obj,
            fields={
                name: data[name] for name in form.changed_data if name in EMPLOYEE_EDITABLE_FIELDS
            },
            access_groups=list(groups) if "access_groups" in form.changed_data else None,
        )

    def save_related(self, request, form, formsets, change):
        # Access groups were saved by employee_update; only inline formsets remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "access_groups":
            principal = self._principal(request)
            queryset = AccessGroup.objects.all()
            if principal is not None:
                queryset = queryset.filter(tenant_id=principal.tenant_id)
            kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)
