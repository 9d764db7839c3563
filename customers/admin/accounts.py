"""Login accounts, reached through their customer's visibility."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_principal import principal_in_tenant
from customers import services
from customers.admin.base import RestrictionAwareModelAdmin
from customers.models import Account


@admin.register(Account)
class AccountAdmin(RestrictionAwareModelAdmin):
    """Login accounts, reached through their customer's visibility."""

    list_display = ["email", "customer", "created_at"]
    search_fields = ["email"]
    autocomplete_fields = ["customer"]
    fields = ["email", "customer"]
    list_select_related = ["customer"]

    def restriction_of(self, obj):
        return obj.customer.restriction

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        customer = form.cleaned_data["customer"]
        saved = services.account_assign(
            actor=principal_in_tenant(request, customer.tenant),
            customer_number=customer.customer_number,
            email=form.cleaned_data["email"],
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None):
        return False
