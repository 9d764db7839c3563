"""The tenant's sign-in provider (OpenID Connect) and the mapping of its groups onto access
groups. Saved by ``accounts.services.sign_in``: configuring the provider hands whoever controls
it every employee's sign-in, and a mapping hands an access group to whoever the provider names,
so both need the administrator to hold what they hand over."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.admin.identities import TenantAdministrationAdmin, TenantBoundForm
from accounts.models import AccessGroup, ProviderGroup, SignInProvider
from accounts.principal import in_tree
from accounts.scopes import Grants
from accounts.services.sign_in import (
    provider_delete,
    provider_group_delete,
    provider_group_save,
    provider_save,
)
from core.channels import Channel

PROVIDER_FORM_FIELDS = [
    "name",
    "issuer",
    "client_id",
    "client_secret",
    "username_claim",
    "groups_claim",
    "required",
    "create_employees",
]


class SignInProviderForm(TenantBoundForm):
    acting = None  # (the administering principal: the stored secret is read through it)
    issuer = forms.URLField(
        assume_scheme="https",
        max_length=500,
        help_text=SignInProvider._meta.get_field("issuer").help_text,
    )
    client_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Stored, never shown again. Leave empty to keep the stored secret.",
    )

    class Meta:
        model = SignInProvider
        fields = ["tenant", *PROVIDER_FORM_FIELDS]

    def clean_client_secret(self):
        secret = self.cleaned_data.get("client_secret", "")
        if secret:
            return secret
        if self.instance.pk is None:
            raise forms.ValidationError("The provider's client secret is required.")
        # (empty on a change: the stored one stays)
        stored = SignInProvider.objects.in_tenant_of(self.acting).filter(pk=self.instance.pk)
        return stored.values_list("client_secret", flat=True).first() or ""


@admin.register(SignInProvider)
class SignInProviderAdmin(TenantAdministrationAdmin):
    form = SignInProviderForm
    list_display = ["name", "tenant", "issuer", "required", "create_employees"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.acting = self._principal(request)
        return form

    def grants_of(self, obj) -> Grants:
        return Grants()  # (the services decide: the provider can sign in as any employee)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = provider_save(
            actor=self.actor(request),
            channel=Channel.ADMIN,
            tenant=self.tenant_for(request, form, obj if change else None),
            fields={name: data[name] for name in PROVIDER_FORM_FIELDS},
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        provider_delete(actor=self.actor(request), channel=Channel.ADMIN, tenant=obj.tenant)

    def delete_queryset(self, request, queryset):
        for provider in queryset.select_related("tenant"):
            self.delete_model(request, provider)


class ProviderGroupForm(TenantBoundForm):
    class Meta:
        model = ProviderGroup
        fields = ["tenant", "name", "access_group"]


@admin.register(ProviderGroup)
class ProviderGroupAdmin(TenantAdministrationAdmin):
    form = ProviderGroupForm
    list_display = ["name", "access_group", "tenant"]
    list_select_related = ["tenant", "access_group"]
    search_fields = ["name"]

    def grants_of(self, obj) -> Grants:
        return in_tree(obj.access_group.grants(), obj.tenant)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "access_group":
            kwargs["queryset"] = AccessGroup.objects.administered_by(self._principal(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = provider_group_save(
            actor=self.actor(request),
            channel=Channel.ADMIN,
            tenant=self.tenant_for(request, form, obj if change else None),
            mapping_pk=obj.pk if change else None,
            name=data["name"],
            access_group=data["access_group"],
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        provider_group_delete(actor=self.actor(request), channel=Channel.ADMIN, mapping=obj)

    def delete_queryset(self, request, queryset):
        for mapping in queryset:
            self.delete_model(request, mapping)


def own_access_panel(request, principal) -> dict:
    """The home page's "Your access": the signed-in employee's access groups and what they
    hold now (after a company sign-in, what the provider's groups mapped to)."""
    user = request.user
    if principal is None or principal.is_platform or getattr(user, "tenant_id", None) is None:
        return {}
    groups = user.access_groups.filter(tenant_id=user.tenant_id).order_by("name")
    return {
        "own_groups": list(groups.values_list("name", flat=True)),
        "own_scopes": principal.grants.scope_strings(),
    }


admin.site.index_panels.append(own_access_panel)
