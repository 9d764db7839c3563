"""The back office for customers: the same querysets and services as the API.

``RestrictionAwareModelAdmin`` owns every read path (queryset, object lookup, history, delete
confirmation, autocomplete, filters, counts) through ``Customer.objects.visible_to`` and every
write through :mod:`customers.services`. Platform superusers see every tenant.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin_principal import admin_principal, is_platform_superuser, principal_in_tenant
from accounts.principal import Principal
from config.admin import ReadOnlyAdminMixin, ScopedAdminMixin
from config.errors import ServiceError
from customers import services
from customers.admin_access import explain_access_view, may_explain
from customers.admin_jobs import assignment_summary, jobs_start, restriction_counts
from customers.models import Account, Address, Channel, Customer, JobKind, RestrictionChange
from tenancy.models import Restriction, Site, Tenant

NONE_VALUE = "__none__"
NONE_LABEL = "— none —"


def _tenant_restrictions(request, tenant_id: int | None = None) -> list[str]:
    """The employee's tenant's valid restrictions (a superuser: ``tenant_id``'s, or all)."""
    principal = admin_principal(request)
    if principal is not None:
        tenant_id = principal.tenant_id
    codes = Restriction.objects.order_by("code").values_list("code", flat=True).distinct()
    if tenant_id is not None:
        codes = codes.filter(tenant_id=tenant_id)
    return list(codes)


def may(request, right: str, restriction: str | object | None = services.UNSET) -> bool:
    """Whether the session's employee holds ``right`` ("read", "manage", "assign"), over
    ``restriction`` when given. Platform superusers hold everything."""
    if is_platform_superuser(request):
        return True
    principal = admin_principal(request)
    if principal is None:
        return False
    coverage = {
        "read": principal.grants.readable,
        "manage": principal.grants.manageable,
        "assign": principal.grants.assignable,
    }[right]()
    if restriction is services.UNSET:
        return not coverage.is_empty
    return coverage.covers(restriction)


class RestrictionAwareModelAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Base for admins of customers and what hangs off them. Subclasses give
    ``scoped_queryset(request, principal)`` and ``restriction_of(obj)``."""

    def scoped_queryset(self, request, principal: Principal) -> QuerySet:
        return self.model._default_manager.none()

    def restriction_of(self, obj) -> str | None:
        return obj.restriction

    def get_queryset(self, request):
        if is_platform_superuser(request):
            return super().get_queryset(request)
        principal = admin_principal(request)
        if principal is None:
            return self.model._default_manager.none()
        return self.scoped_queryset(request, principal)

    def get_search_results(self, request, queryset, search_term):
        # PostgreSQL refuses NUL in text parameters; nothing stored can contain one anyway.
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))

    def has_module_permission(self, request):
        return may(request, "read")

    def has_view_permission(self, request, obj=None):
        return may(request, "read")

    def has_add_permission(self, request):
        return may(request, "manage")

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return may(request, "manage")
        return may(request, "manage", self.restriction_of(obj))

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Foreign-key choices go through the filter too: only manageable customers."""
        if db_field.related_model is Customer and not is_platform_superuser(request):
            kwargs["queryset"] = Customer.objects.manageable_by(admin_principal(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_assign_restriction_permission(self, request):
        return may(request, "assign")


class ParentScopedInline:
    """Inline permissions follow the parent customer ``obj`` (already scoped by its admin)."""

    def has_view_permission(self, request, obj=None):
        return may(request, "read")

    def has_add_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return may(request, "manage")
        return may(request, "manage", obj.restriction)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


class ReadOnlyInline(ReadOnlyAdminMixin, ParentScopedInline):
    """Shown with the customer, never edited there."""


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
    # Each row reads as a sentence (the change's own text), with its time beside it.
    fields = ["changed_at"]
    readonly_fields = fields
    ordering = ["-changed_at", "-pk"]
    verbose_name = "restriction change"
    verbose_name_plural = "restriction history (newest first)"


class RestrictionListFilter(admin.SimpleListFilter):
    """Offers only the values the employee may read (never hints at others)."""

    title = "restriction"
    parameter_name = "restriction"

    def lookups(self, request, model_admin):
        principal = admin_principal(request)
        codes = _tenant_restrictions(request)
        if principal is None or principal.grants.readable().everything:
            return [(NONE_VALUE, NONE_LABEL), *[(code, code) for code in codes]]
        readable = principal.grants.readable().restrictions
        return [(code, code) for code in codes if code in readable]

    def queryset(self, request, queryset):
        value = self.value()
        if value == NONE_VALUE:
            return queryset.filter(restriction__isnull=True)
        if value:
            return queryset.filter(restriction=value)
        return queryset


class PreferredSiteListFilter(admin.SimpleListFilter):
    title = "preferred site"
    parameter_name = "preferred_site"

    def lookups(self, request, model_admin):
        principal = admin_principal(request)
        sites = Site.objects.order_by("code").values_list("code", flat=True).distinct()
        if principal is not None:
            sites = sites.filter(tenant_id=principal.tenant_id)
        return [(code, code) for code in sites]

    def queryset(self, request, queryset):
        return queryset.filter(preferred_site=self.value()) if self.value() else queryset


class AssignRestrictionForm(forms.Form):
    restriction = forms.ChoiceField(label="New restriction")


@admin.register(Customer)
class CustomerAdmin(RestrictionAwareModelAdmin):
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
    search_fields = [
        "customer_number__exact",
        "first_name__ilike",
        "last_name__ilike",
        "contact_email__ilike",
        "company__ilike",
    ]
    list_filter = [RestrictionListFilter, "active", PreferredSiteListFilter]
    list_per_page = 50
    show_full_result_count = True
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    ordering = ["-created_at", "-pk"]
    inlines = [AddressInline, AccountInline, RestrictionHistoryInline]
    actions = ["assign_restriction", "delete_selected_customers"]
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

    def scoped_queryset(self, request, principal):
        return Customer.objects.visible_to(principal)

    def get_list_display(self, request):
        if is_platform_superuser(request):  # customers of every tenant side by side
            return [self.list_display[0], "tenant", *self.list_display[1:]]
        return self.list_display

    def get_list_filter(self, request):
        if is_platform_superuser(request):
            return [("tenant", admin.RelatedOnlyFieldListFilter), *self.list_filter]
        return self.list_filter

    def get_list_select_related(self, request):
        return ["tenant"] if is_platform_superuser(request) else False

    def get_urls(self):
        explain = self.admin_site.admin_view(lambda request: explain_access_view(request, self))
        return [
            path("explain-access/", explain, name="customers_explain_access"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {**(extra_context or {}), "can_explain_access": may_explain(request)}
        return super().changelist_view(request, extra)

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
        if is_platform_superuser(request):
            return fieldsets
        first = dict(fieldsets[0][1])
        first["fields"] = [f for f in first["fields"] if f != "tenant"]
        return [(None, first), *fieldsets[1:]]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["version", "created_at", "modified_at"]
        if obj is not None:
            readonly += ["tenant", "customer_number"]
        can_set = may(request, "assign") if obj is None else may(request, "assign", obj.restriction)
        if not can_set:
            readonly.append("restriction")
        return readonly

    def restriction_choices(self, request, obj) -> list[tuple[str, str]]:
        """Only values the employee may assign, plus the current value (unchanged)."""
        principal = admin_principal(request)
        codes = _tenant_restrictions(request, obj.tenant_id if obj is not None else None)
        if principal is None:  # platform superuser
            allowed, none_allowed = codes, True
        else:
            assignable = principal.grants.assignable()
            manageable = principal.grants.manageable()
            allowed = [c for c in codes if assignable.covers(c) and manageable.covers(c)]
            none_allowed = assignable.everything and manageable.everything
        current = obj.restriction if obj is not None else None
        choices = []
        if obj is None:
            choices.append(("", "— default for new customers —"))
        if none_allowed or (obj is not None and current is None):
            choices.append((NONE_VALUE, NONE_LABEL))
        choices += [(code, code) for code in allowed]
        if current is not None and current not in allowed:
            choices.append((current, current))
        return choices

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "restriction" in form.base_fields:
            form.base_fields["restriction"] = forms.ChoiceField(
                choices=self.restriction_choices(request, obj),
                required=False,
                initial=(obj.restriction or NONE_VALUE) if obj is not None else "",
            )
        principal = admin_principal(request)
        if "preferred_site" in form.base_fields and principal is not None:
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
        tenant = obj.tenant if obj.tenant_id else request.user.tenant
        actor = principal_in_tenant(request, tenant)
        data = form.cleaned_data
        profile = {name: data[name] for name in services.PROFILE_DEFAULTS if name in data}
        raw_restriction = data.get("restriction", "")
        restriction = None if raw_restriction == NONE_VALUE else raw_restriction
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
                restriction=restriction if raw_restriction else services.UNSET,
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

    # -- actions -------------------------------------------------------------------------------
    # Both actions confirm first, then run in the request up to BULK_JOB_THRESHOLD customers and
    # as a background job (customers.admin_jobs) above it, through the same services.

    def _per_tenant(self, request, queryset) -> list[tuple[Principal, QuerySet]]:
        """The selection split by tenant, with the actor there: an employee's one tenant, or
        for a superuser the tenants holding part of it (one index probe per tenant)."""
        principal = admin_principal(request)
        if principal is not None:
            return [(principal, queryset)]
        tenants = Tenant.objects.filter(Exists(queryset.filter(tenant_id=OuterRef("pk"))))
        return [
            (principal_in_tenant(request, tenant), queryset.filter(tenant_id=tenant.pk))
            for tenant in tenants.order_by("pk")
        ]

    def _action_context(self, request, action: str, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "action": action,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "as_job": extra.get("count", 0) > settings.BULK_JOB_THRESHOLD,
            **extra,
        }

    def _started_jobs_message(self, request, jobs) -> None:
        total = sum(job.total for job in jobs)
        self.message_user(
            request,
            format_html(
                "Started a background job for {} customers. Follow it on the "
                '<a href="{}">Jobs</a> page.',
                total,
                reverse("admin:customers_job_changelist"),
            ),
            messages.SUCCESS,
        )

    @admin.action(description="Delete selected customers…", permissions=["delete"])
    def delete_selected_customers(self, request, queryset):
        selection = queryset.order_by()
        try:
            for actor, customers in self._per_tenant(request, selection):
                services.customer_delete_check(actor=actor, customers=customers)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        count = selection.count()
        if request.POST.get("post") != "yes":
            context = self._action_context(
                request,
                "delete_selected_customers",
                title="Delete customers",
                count=count,
                addresses=selection.aggregate(n=Count("addresses"))["n"],
                accounts=selection.aggregate(n=Count("accounts"))["n"],
            )
            return TemplateResponse(
                request, "admin/customers/customer/delete_selected_confirmation.html", context
            )
        if count > settings.BULK_JOB_THRESHOLD:
            self._started_jobs_message(
                request,
                jobs_start(
                    request,
                    kind=JobKind.DELETE_CUSTOMERS,
                    selections=self._per_tenant(request, selection),
                ),
            )
            return None
        deleted = 0
        try:
            with transaction.atomic():
                for actor, customers in self._per_tenant(request, selection):
                    self.log_deletions(request, customers)
                    deleted += services.customer_delete_many(actor=actor, customers=customers)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        self.message_user(
            request, f"Deleted {deleted} customer{pluralize(deleted)}.", messages.SUCCESS
        )
        return None

    @admin.action(description="Assign restriction…", permissions=["assign_restriction"])
    def assign_restriction(self, request, queryset):
        selection = queryset.order_by()
        form = AssignRestrictionForm(request.POST if "restriction" in request.POST else None)
        form.fields["restriction"].choices = [
            ("", "— choose —"),
            *(choice for choice in self.restriction_choices(request, None) if choice[0]),
        ]
        if not form.is_valid():
            context = self._action_context(
                request,
                "assign_restriction",
                title="Assign restriction",
                form=form,
                count=selection.count(),
                confirming=False,
            )
            return TemplateResponse(
                request, "admin/customers/customer/assign_restriction.html", context
            )
        raw = form.cleaned_data["restriction"]
        target = None if raw == NONE_VALUE else raw
        try:
            for actor, customers in self._per_tenant(request, selection):
                services.restriction_assign_check(actor=actor, customers=customers, value=target)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        counts = restriction_counts(selection)
        count = sum(counts.values())
        if request.POST.get("confirm") == "yes":
            if count > settings.BULK_JOB_THRESHOLD:
                self._started_jobs_message(
                    request,
                    jobs_start(
                        request,
                        kind=JobKind.ASSIGN_RESTRICTION,
                        selections=self._per_tenant(request, selection),
                        target=target,
                    ),
                )
                return None
            return self._apply_assignment(request, selection, target)
        moves = sorted((old or NONE_LABEL, n) for old, n in counts.items() if old != target)
        context = self._action_context(
            request,
            "assign_restriction",
            title="Assign restriction",
            form=form,
            count=count,
            confirming=True,
            target_label=target or NONE_LABEL,
            moves=moves,
            changing=sum(n for _, n in moves),
            unchanged=counts.get(target, 0),
        )
        return TemplateResponse(
            request, "admin/customers/customer/assign_restriction.html", context
        )

    def _apply_assignment(self, request, selection, target):
        changed = matched = 0
        try:
            for actor, customers in self._per_tenant(request, selection):
                result = services.restriction_assign(
                    actor=actor, customers=customers, value=target, channel=Channel.ADMIN
                )
                changed += result.changed
                matched += result.matched
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        self.message_user(
            request, assignment_summary(target, changed, matched - changed), messages.SUCCESS
        )
        return None


@admin.register(Account)
class AccountAdmin(RestrictionAwareModelAdmin):
    """Login accounts, reached through their customer's visibility."""

    list_display = ["email", "customer", "created_at"]
    search_fields = ["email"]
    autocomplete_fields = ["customer"]
    fields = ["email", "customer"]
    list_select_related = ["customer"]

    def scoped_queryset(self, request, principal):
        return Account.objects.visible_to(principal)

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


@admin.register(RestrictionChange)
class RestrictionChangeAdmin(ReadOnlyAdminMixin, RestrictionAwareModelAdmin):
    """The audit log, read-only, limited to customers the employee may read."""

    list_display = [
        "changed_at",
        "customer_number",
        "old_value",
        "new_value",
        "actor_name",
        "actor_kind",
        "channel",
    ]
    list_filter = ["channel", "actor_kind"]
    search_fields = ["customer_number", "actor_name"]
    date_hierarchy = "changed_at"
    ordering = ["-changed_at", "-pk"]
    show_full_result_count = False

    def scoped_queryset(self, request, principal):
        return RestrictionChange.objects.visible_to(principal)
