"""Bulk actions on the customer list: assign a restriction, delete."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin_principal import admin_principal, principal_in_tenant
from accounts.principal import Principal
from core.errors import ServiceError
from customers import services
from customers.admin.base import NONE_LABEL, RestrictionChoiceField
from customers.admin.views import may_export
from customers.jobs import assignment_summary, jobs_start, restriction_counts
from customers.models import Channel, JobKind
from customers.selection import CustomerSelection
from customers.services import privacy
from tenancy.models import Tenant


def selection_of(request, customers: QuerySet) -> CustomerSelection:
    """What the employee selected: the ids ticked, or, for "select all", the changelist's
    search and list filters (which the job rebuilds through the same code as the page)."""
    if request.POST.get("select_across") == "1":
        return CustomerSelection.of_changelist(request.GET.dict())
    return CustomerSelection(ids=tuple(sorted(customers.values_list("pk", flat=True))))


class AssignRestrictionForm(forms.Form):
    restriction = RestrictionChoiceField(label="New restriction", required=True)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept with the record of each customer (at most 500 characters).",
    )

    def clean_reason(self):
        try:
            return privacy.checked_reason(self.cleaned_data["reason"])
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from exc


class CustomerActions:
    """The customer list's actions. Both confirm first, then run in the request up to
    ``BULK_JOB_THRESHOLD`` customers and as a background job (:mod:`customers.jobs`) above it,
    through the same services."""

    def _per_tenant(self, request, queryset) -> list[tuple[Principal, QuerySet]]:
        """The selection split by tenant, with the actor there: an employee's one tenant, or
        for a superuser the tenants holding part of it (one index probe per tenant)."""
        principal = admin_principal(request)
        if not principal.sees_every_tenant:
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

    def _run_as_jobs(
        self, request, selection, kind: str, target: str | None = None, reason: str = ""
    ) -> None:
        """Hand the selection to background jobs (one per tenant) and say where to follow them."""
        jobs = jobs_start(
            requested_by=request.user,
            kind=kind,
            selections=[
                (actor, selection_of(request, customers), customers)
                for actor, customers in self._per_tenant(request, selection)
            ],
            target=target,
            reason=reason,
        )
        self.message_user(
            request,
            format_html(
                "Started a background job for {} customers. Follow it on the "
                '<a href="{}">Jobs</a> page.',
                f"{sum(job.total for job in jobs):,}",
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
            self._run_as_jobs(request, selection, JobKind.DELETE_CUSTOMERS)
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
            request, f"Deleted {deleted:,} customer{pluralize(deleted)}.", messages.SUCCESS
        )
        return None

    @admin.action(description="Assign restriction…", permissions=["assign_restriction"])
    def assign_restriction(self, request, queryset):
        selection = queryset.order_by()
        form = AssignRestrictionForm(request.POST if "restriction" in request.POST else None)
        codes, none = self.assignable_values(request, None)
        form.fields["restriction"].offer(codes, none=none, blank="— choose —")
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
        target = form.cleaned_data["restriction"]
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
                self._run_as_jobs(request, selection, JobKind.ASSIGN_RESTRICTION, target)
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

    # -- data-subject requests (customer.privacy_manage) -------------------------------------

    def has_privacy_permission(self, request):
        return may_export(request)  # (the same right: customer.privacy_manage, any coverage)

    def _privacy_actor(self, request, queryset) -> Principal | None:
        """The actor in the selection's one tenant (a data-subject request is a tenant's)."""
        per_tenant = self._per_tenant(request, queryset)
        if len(per_tenant) != 1:
            self.message_user(request, "Select customers of one tenant at a time.", messages.ERROR)
            return None
        return per_tenant[0][0]

    @admin.action(
        description="Erase personal data of the selected customers…", permissions=["privacy"]
    )
    def erase_selected_customers(self, request, queryset):
        selection = queryset.order_by()
        actor = self._privacy_actor(request, selection)
        if actor is None:
            return None
        try:
            privacy.customers_erase_check(actor=actor, customers=selection)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        count = selection.count()
        form = ReasonForm(request.POST if request.POST.get("post") == "yes" else None)
        if not form.is_valid():
            context = self._action_context(
                request,
                "erase_selected_customers",
                title="Erase personal data",
                count=count,
                form=form,
            )
            return TemplateResponse(
                request, "admin/customers/customer/erase_confirmation.html", context
            )
        reason = form.cleaned_data["reason"]
        if count > settings.BULK_JOB_THRESHOLD:
            self._run_as_jobs(request, selection, JobKind.ERASE_CUSTOMERS, reason=reason)
            return None
        try:
            erased = privacy.customers_erase(
                actor=actor, channel=Channel.ADMIN, customers=selection, reason=reason
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        self.message_user(
            request,
            f"Erased the personal data of {erased:,} customer{pluralize(erased)}; their numbers "
            "stay taken and the erasure is recorded.",
            messages.SUCCESS,
        )
        return None

    @admin.action(
        description="Put the selected customers under a legal hold…", permissions=["privacy"]
    )
    def hold_selected_customers(self, request, queryset):
        selection = queryset.order_by()
        actor = self._privacy_actor(request, selection)
        if actor is None:
            return None
        form = ReasonForm(request.POST if request.POST.get("post") == "yes" else None)
        if not form.is_valid():
            context = self._action_context(
                request,
                "hold_selected_customers",
                title="Legal hold",
                count=selection.count(),
                form=form,
                holding=True,
            )
            return TemplateResponse(
                request, "admin/customers/customer/erase_confirmation.html", context
            )
        return self._set_holds(request, actor, selection, form.cleaned_data["reason"])

    @admin.action(
        description="Lift the legal hold of the selected customers", permissions=["privacy"]
    )
    def release_selected_customers(self, request, queryset):
        selection = queryset.order_by()
        actor = self._privacy_actor(request, selection)
        if actor is None:
            return None
        return self._set_holds(request, actor, selection, None)

    def _set_holds(self, request, actor, selection, reason: str | None):
        try:
            changed = privacy.legal_holds_set(actor=actor, customers=selection, reason=reason)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        what = "put under a legal hold" if reason else "released from their legal hold"
        self.message_user(
            request, f"{changed:,} customer{pluralize(changed)} {what}.", messages.SUCCESS
        )
        return None
