"""The base of every admin over customers and what hangs off them.

``RestrictionAwareModelAdmin`` owns every read path (queryset, object lookup, history, delete
confirmation, autocomplete, filters, counts): each starts from the model's ``visible_to`` for
the signed-in principal (the one restriction filter; every tenant for the platform principal),
which a subclass may only narrow (``narrow_queryset``).
"""

from __future__ import annotations

from django import forms

from accounts.admin_principal import admin_principal
from accounts.scopes import Right
from core.admin import GuardedAdmin, ReadOnlyAdminMixin
from customers import services
from customers.models import Customer
from customers.selection import NONE_VALUE
from tenancy.models import Restriction

NONE_LABEL = "— none —"


class RestrictionChoiceField(forms.ChoiceField):
    """A restriction value chosen in the back office: one of ``codes``, "no restriction" when
    ``none`` (the null sentinel, labelled ``none_label``), and a blank first choice when
    ``blank`` names one. Cleans to the code, ``None`` for no restriction, ``""`` for blank."""

    def __init__(
        self,
        *,
        codes=(),
        none: bool = True,
        blank: str | None = None,
        none_label: str = NONE_LABEL,
        **kwargs,
    ):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.none_label = none_label
        self.offer(codes, none=none, blank=blank)

    def offer(self, codes, *, none: bool, blank: str | None = None) -> None:
        """Set the values offered."""
        choices = [("", blank)] if blank is not None else []
        if none:
            choices.append((NONE_VALUE, self.none_label))
        self.choices = choices + [(code, code) for code in codes]

    def clean(self, value):
        value = super().clean(value)
        return None if value == NONE_VALUE else value


def tenant_restrictions(request, tenant_id: int | None = None) -> list[str]:
    """The employee's tenant's valid restrictions (the platform: ``tenant_id``'s, or all)."""
    principal = admin_principal(request)
    if principal is None:
        return []
    if not principal.sees_every_tenant:
        tenant_id = principal.tenant_id
    codes = Restriction.objects.order_by("code").values_list("code", flat=True).distinct()
    if tenant_id is not None:
        codes = codes.filter(tenant_id=tenant_id)
    return list(codes)


def may(request, right: Right, restriction: str | object | None = services.UNSET) -> bool:
    """Whether the signed-in staff member holds ``right``: over some customer, or over
    ``restriction`` when given. The platform holds everything; nobody signed in, nothing."""
    principal = admin_principal(request)
    if principal is None:
        return False
    if restriction is services.UNSET:
        return right.held(principal.grants)
    return right.covers(principal.grants, restriction)


class RestrictionAwareModelAdmin(GuardedAdmin):
    """Base for admins of customers and what hangs off them: the scope is the model's
    ``visible_to(principal)`` (the one restriction filter, the platform principal's every tenant
    included); a subclass may only narrow it (``narrow_queryset``) and gives
    ``restriction_of(obj)``. The customer search (``get_search_results``) is owned here too."""

    scope_base = True
    _owned = frozenset({"get_search_results"})

    def restriction_of(self, obj) -> str | None:
        return obj.restriction

    def scoped_queryset(self, request, queryset):
        return self.model._default_manager.visible_to(admin_principal(request))

    # A subclass may give its search as a function of the term (a Q), shared with whatever
    # replays the page's selection (background jobs); otherwise Django's, over search_fields.
    search_condition = None

    def get_search_results(self, request, queryset, search_term):
        if self.search_condition is not None:
            if not search_term.strip():
                return queryset, False
            return queryset.filter(self.search_condition(search_term)), False
        # PostgreSQL refuses NUL in text parameters; nothing stored can contain one anyway.
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))

    def has_module_permission(self, request):
        return may(request, Right.READ)

    def has_view_permission(self, request, obj=None):
        return may(request, Right.READ)

    def has_add_permission(self, request):
        return may(request, Right.MANAGE)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return may(request, Right.MANAGE)
        return may(request, Right.MANAGE, self.restriction_of(obj))

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Foreign-key choices go through the filter too: only manageable customers."""
        if db_field.related_model is Customer:
            kwargs["queryset"] = Customer.objects.manageable_by(admin_principal(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_assign_restriction_permission(self, request):
        return may(request, Right.ASSIGN)


class ParentScopedInline:
    """Inline permissions follow the parent customer ``obj`` (already scoped by its admin)."""

    def has_view_permission(self, request, obj=None):
        return may(request, Right.READ)

    def has_add_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return may(request, Right.MANAGE)
        return may(request, Right.MANAGE, obj.restriction)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


class ReadOnlyInline(ReadOnlyAdminMixin, ParentScopedInline):
    """Shown with the customer, never edited there."""
