"""Access groups, employees and API clients. Platform superusers manage every tenant; an
employee holding ``tenant.tenant_manage`` manages only their own tenant and can never grant a
scope or restriction beyond their own grants."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.admin.wording import describe
from accounts.admin_principal import admin_principal, sees_every_tenant
from accounts.models import AccessChange, AccessGroup, ApiClient, Employee
from accounts.principal import Principal, in_tree
from accounts.querysets import administered
from accounts.scopes import Grants, split_scope_string
from accounts.services.identities import (
    ACCESS_FIELDS,
    EMPLOYEE_EDITABLE_FIELDS,
    access_group_save,
    api_client_create,
    api_client_deactivate,
    api_client_provisioning_token,
    api_client_rotate_secret,
    api_client_update,
    employee_create,
    employee_set_password,
    employee_update,
    identity_delete,
    is_themselves,
)
from core.admin import GuardedAdmin, ReadOnlyAdminMixin
from core.channels import Channel
from core.datetimes import remaining
from core.errors import ServiceError
from tenancy.models import Tenant

# How an emergency self-activation stands out on every page that lists it.
BREAK_GLASS_MARK = mark_safe('<strong class="break-glass">BREAK-GLASS</strong>')

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


# (rows of other models a page offers, such as a tenant's restriction values, the same way)
administered_by = administered


class TenantAdministrationAdmin(GuardedAdmin):
    """Identities and their audit: the platform sees every tenant, a tenant administrator
    their own only (:func:`administered_by`); a subclass may only narrow it
    (``narrow_queryset``)."""

    scope_base = True
    list_select_related = ["tenant"]

    def _principal(self, request) -> Principal | None:
        """The administering principal: the platform, or a tenant administrator."""
        principal = admin_principal(request)
        if principal is not None and principal.grants.can_manage_tenant():
            return principal
        return None

    def _allowed(self, request) -> bool:
        return self._principal(request) is not None

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_change_permission(self, request, obj=None):
        # An identity more powerful than the administrator is read-only for them: a new
        # password or secret would hand over its grants (the services refuse it too).
        principal = self._principal(request)
        if principal is None:
            return False
        return obj is None or principal.grants.covers_grants(self.grants_of(obj))

    def has_delete_permission(self, request, obj=None):
        # Nobody deletes themselves (the services refuse it too).
        if obj is not None and is_themselves(self._principal(request), obj):
            return False
        return self.has_change_permission(request, obj)

    def grants_of(self, obj) -> Grants:
        """What ``obj`` holds in its tenant's restriction tree (for the no-take-over check)."""
        grants = obj.grants()
        return grants if obj.tenant_id is None else in_tree(grants, obj.tenant)

    def scoped_queryset(self, request, queryset):
        return queryset.administered_by(self._principal(request))

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not sees_every_tenant(request):
            exclude.append("tenant")
        return exclude

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and sees_every_tenant(request) and "tenant" not in readonly:
            readonly.append("tenant")
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        principal = self._principal(request)
        form.bound_tenant_id = None if principal is None else principal.tenant_id
        return form

    def actor(self, request) -> Principal:
        principal = self._principal(request)
        if principal is None:
            raise PermissionDenied
        return principal

    def tenant_for(self, request, form, obj) -> Tenant:
        """An existing object's tenant; for a new one, a tenant administrator's own tenant or
        the tenant the platform chose."""
        if obj is not None and obj.pk is not None:
            return Tenant.objects.get(pk=obj.tenant_id)
        principal = self.actor(request)
        if principal.sees_every_tenant:
            return form.cleaned_data["tenant"]
        return Tenant.objects.get(pk=principal.tenant_id)

    def delete_model(self, request, obj):
        identity_delete(actor=self.actor(request), channel=Channel.ADMIN, identity=obj)

    def delete_queryset(self, request, queryset):
        # Identities are few; each is locked, checked and audited on its own.
        actor = self.actor(request)
        for identity in queryset:
            try:
                identity_delete(actor=actor, channel=Channel.ADMIN, identity=identity)
            except ServiceError as exc:
                self.message_user(request, f"{identity}: {exc.message}", messages.ERROR)

    def allowed_objects(self, request, queryset) -> tuple[list, int]:
        """The selected objects this administrator may act on (the change page's check), and
        how many were left out."""
        objects = list(queryset.select_related("tenant"))
        allowed = [obj for obj in objects if self.has_change_permission(request, obj)]
        return allowed, len(objects) - len(allowed)


def temporary_access_of(obj) -> str:
    """An identity's temporary grants and the time left, for its page (revoked on the
    Temporary grants page)."""
    if obj is None or obj.pk is None:
        return "—"
    grants = obj.temporary_grants.select_related("group").order_by("valid_until")
    rows = [
        (
            grant.what,
            remaining(grant.valid_from, grant.valid_until),
            BREAK_GLASS_MARK if grant.break_glass else "",
        )
        for grant in grants
    ]
    if not rows:
        return "none"
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{} — {} {}</li>", rows))


class TenantBoundForm(forms.ModelForm):
    """A tenant administrator's new objects belong to their own tenant (so that the model's
    own validation, unique names included, runs against it); the platform chooses the tenant
    (``bound_tenant_id`` None). Whether the administrator may grant what the form asks for is
    decided by the identity services when it is saved."""

    bound_tenant_id = None

    def _post_clean(self):
        if self.bound_tenant_id is not None:
            self.instance.tenant_id = self.bound_tenant_id
        super()._post_clean()


class AccessGroupForm(TenantBoundForm):
    scopes = ScopeListField(help_text="Unsuffixed scopes, space-separated.")
    restrictions = ScopeListField(
        required=False, help_text="Empty: the scopes cover every customer. Otherwise e.g. DE FR."
    )

    class Meta:
        model = AccessGroup
        fields = ["tenant", "name", "scopes", "restrictions", "break_glass"]


@admin.register(AccessGroup)
class AccessGroupAdmin(TenantAdministrationAdmin):
    form = AccessGroupForm
    list_display = ["name", "tenant", "scopes", "restrictions", "break_glass"]
    search_fields = ["name"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = access_group_save(
            actor=self.actor(request),
            channel=Channel.ADMIN,
            tenant=self.tenant_for(request, form, obj if change else None),
            group_pk=obj.pk if change else None,
            name=data["name"],
            scopes=data["scopes"],
            restrictions=data["restrictions"],
            break_glass=data["break_glass"],
        )
        obj.pk = saved.pk
        obj.refresh_from_db()


class ApiClientForm(TenantBoundForm):
    scopes = ScopeListField(
        help_text="Space-separated; suffixes allowed, e.g. customer.customer_read--DE."
    )

    class Meta:
        model = ApiClient
        fields = ["tenant", "name", "scopes", "is_active"]


@admin.register(ApiClient)
class ApiClientAdmin(TenantAdministrationAdmin):
    form = ApiClientForm
    list_display = ["name", "client_id", "tenant", "is_active", "created_at"]
    list_filter = ["is_active", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "client_id"]
    readonly_fields = ["client_id", "created_at", "temporary_access"]
    actions = ["rotate_secret", "provisioning_token", "deactivate"]

    @admin.display(description="temporary access")
    def temporary_access(self, obj):
        return temporary_access_of(obj)

    def save_model(self, request, obj, form, change):
        # The form has already copied its values onto ``obj``: the service reads the stored
        # row (locked) to see what changes, an is_active transition included.
        data = form.cleaned_data
        if change:
            api_client_update(
                actor=self.actor(request),
                channel=Channel.ADMIN,
                client_pk=obj.pk,
                name=data["name"],
                scopes=data["scopes"],
                is_active=data["is_active"],
            )
            return
        created = api_client_create(
            actor=self.actor(request),
            channel=Channel.ADMIN,
            tenant=self.tenant_for(request, form, None),
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
        actor = self.actor(request)
        for client in allowed:
            secret = api_client_rotate_secret(
                actor=actor, channel=Channel.ADMIN, client_pk=client.pk
            )
            self.message_user(
                request, f"New secret for {client.client_id}: {secret}", messages.WARNING
            )
        if refused:
            self.message_user(
                request,
                f"{refused} API client{pluralize(refused)} beyond your own grants: not rotated.",
                messages.ERROR,
            )

    @admin.action(description="Issue a SCIM provisioning token (valid a year, shown once)")
    def provisioning_token(self, request, queryset):
        allowed, refused = self.allowed_objects(request, queryset)
        actor = self.actor(request)
        for client in allowed:
            try:
                issued = api_client_provisioning_token(
                    actor=actor, channel=Channel.ADMIN, client_pk=client.pk
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(
                request,
                f"Provisioning token for {client.client_id} (for the SCIM endpoints only; "
                "rotating the secret or deactivating the client revokes it), shown only this "
                f"once: {issued.access_token}",
                messages.WARNING,
            )
        if refused:
            self.message_user(
                request,
                f"{refused} API client{pluralize(refused)} beyond your own grants: no token.",
                messages.ERROR,
            )

    @admin.action(description="Deactivate (tokens stop working at once)")
    def deactivate(self, request, queryset):
        allowed, refused = self.allowed_objects(request, queryset)
        actor = self.actor(request)
        deactivated = sum(
            api_client_deactivate(actor=actor, channel=Channel.ADMIN, client_pk=client.pk)
            for client in allowed
        )
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


class EmployeeCreationForm(TenantBoundForm, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = Employee
        fields = ["username", "tenant"]

    def clean(self):
        cleaned = super().clean()
        if self.bound_tenant_id is None and not cleaned.get("tenant"):
            self.add_error("tenant", "An employee belongs to a tenant.")
        return cleaned


class EmployeeChangeForm(TenantBoundForm, UserChangeForm):
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

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("is_superuser", self.instance.is_superuser) and not (
            cleaned.get("tenant") or self.instance.tenant_id or self.bound_tenant_id
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
        (
            "Access",
            {
                "fields": [
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "access_groups",
                    "temporary_access",
                ]
            },
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["username", "tenant", "password1", "password2"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if sees_every_tenant(request):
            return fieldsets
        hidden = {"tenant", "is_superuser"}
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    def get_exclude(self, request, obj=None):
        exclude = super().get_exclude(request, obj)
        if not sees_every_tenant(request):
            exclude = [*exclude, "is_superuser", "user_permissions", "groups"]
        return exclude

    def get_readonly_fields(self, request, obj=None):
        readonly = ["last_login", "date_joined", "temporary_access"]
        if obj is not None and is_themselves(self._principal(request), obj):
            # Nobody changes their own access; another administrator does.
            readonly += [*sorted(ACCESS_FIELDS), "access_groups"]
        return readonly

    @admin.display(description="temporary access")
    def temporary_access(self, obj):
        return temporary_access_of(obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = employee_create(
                actor=self.actor(request),
                channel=Channel.ADMIN,
                tenant=self.tenant_for(request, form, None),
                username=data["username"],
                password=data["password1"],
            )
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        # Only what this form changed; the service compares it with the stored row (locked)
        # and writes only what differs, so a concurrent password change is never undone.
        groups = data.get("access_groups")
        employee_update(
            actor=self.actor(request),
            channel=Channel.ADMIN,
            employee_pk=obj.pk,
            fields={
                name: data[name] for name in form.changed_data if name in EMPLOYEE_EDITABLE_FIELDS
            },
            access_groups=list(groups) if "access_groups" in form.changed_data else None,
        )

    def user_change_password(self, request, id, form_url=""):
        """Django's page, but the new password is saved by the identity service (locked row,
        only the password and the token generation written, the change audited)."""
        if request.method != "POST":
            return super().user_change_password(request, id, form_url)
        employee = self.get_object(request, unquote(id))
        if employee is None:
            raise Http404("Not found.")
        if not self.has_change_permission(request, employee):
            raise PermissionDenied
        form = self.change_password_form(employee, request.POST)
        if not form.is_valid():
            return super().user_change_password(request, id, form_url)  # shows the errors
        usable = form.cleaned_data.get("set_usable_password", True)
        page = request.get_full_path()
        if not usable and "unset-password" not in request.POST:
            # As Django's page: disabling password login needs its own button.
            messages.error(request, "Conflicting form data submitted. Please try again.")
            return HttpResponseRedirect(page)
        try:
            saved = employee_set_password(
                actor=self.actor(request),
                channel=Channel.ADMIN,
                employee_pk=employee.pk,
                password=form.cleaned_data["password1"] if usable else None,
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(page)
        self.log_change(request, saved, [{"changed": {"fields": ["password"]}}])
        messages.success(
            request,
            "Password changed successfully." if usable else "Password-based login was disabled.",
        )
        if saved.pk == request.user.pk:
            update_session_auth_hash(request, saved)
        return HttpResponseRedirect(reverse("admin:accounts_employee_change", args=[saved.pk]))

    def save_related(self, request, form, formsets, change):
        # Access groups were saved by employee_update; only inline formsets remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "access_groups":
            kwargs["queryset"] = AccessGroup.objects.administered_by(self._principal(request))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(AccessChange)
class AccessChangeAdmin(ReadOnlyAdminMixin, TenantAdministrationAdmin):
    """Who changed which identity's access, how and when (tenant administrators: their own
    tenant; superusers: every tenant and the platform's own superusers)."""

    list_display = [
        "changed_at",
        "subject_kind",
        "subject_name",
        "action",
        "what_changed",
        "by",
        "channel",
        "marked",
    ]
    list_filter = ["action", "subject_kind", "channel", "actor_kind", "break_glass"]
    search_fields = ["subject_name", "subject_id", "actor_name", "actor_id"]
    search_help_text = "An identity's or an actor's name (or client id / employee number)."
    date_hierarchy = "changed_at"
    list_select_related = False
    readonly_fields = [
        "changed_at",
        "tenant",
        "subject_kind",
        "subject_id",
        "subject_name",
        "action",
        "before",
        "after",
        "actor_kind",
        "actor_id",
        "actor_name",
        "channel",
        "break_glass",
    ]

    @admin.display(description="break-glass")
    def marked(self, obj):
        return BREAK_GLASS_MARK if obj.break_glass else ""

    @admin.display(description="by", ordering="actor_name")
    def by(self, obj) -> str:
        name = obj.actor_name or obj.actor_id
        kind = obj.get_actor_kind_display()
        return name if name == obj.actor_kind else f"{name} ({kind})"

    @admin.display(description="change")
    def what_changed(self, obj) -> str:
        return describe(obj.before, obj.after)

    def get_exclude(self, request, obj=None):
        return []
