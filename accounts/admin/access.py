"""Access over time in the back office: temporary access, requests (and break-glass), access
reviews and their lines. Every write goes through ``accounts.services.temporary_access`` and
``accounts.services.reviews``; the pages only show and ask."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin.identities import BREAK_GLASS_MARK, TenantAdministrationAdmin, administered_by
from accounts.admin_principal import admin_principal, sees_every_tenant
from accounts.api.documents import REPORT_FIELDS, line_document, report_row, review_document
from accounts.holdings import tenant_administrators
from accounts.models import (
    AccessGroup,
    AccessRequest,
    AccessReview,
    AccessReviewLine,
    ApiClient,
    Employee,
    TemporaryGrant,
)
from accounts.principal import Principal
from accounts.services.reviews import (
    access_review_start,
    review_lines_decide,
    review_reminders_send,
)
from accounts.services.temporary_access import (
    access_request_create,
    access_request_decide,
    access_request_withdraw,
    break_glass_acknowledge,
    temporary_grant_create,
    temporary_grant_revoke,
)
from core.admin import GuardedAdmin, ReadOnlyAdminMixin
from core.channels import Channel
from core.datetimes import iso_formatter, remaining, span, until
from core.errors import ServiceError
from core.spreadsheets import SpreadsheetWriter
from tenancy.models import Restriction


def _refusals(admin_page, request, refused: list[str]) -> None:
    for message in refused[:10]:
        admin_page.message_user(request, message, messages.ERROR)
    if len(refused) > 10:
        admin_page.message_user(request, f"… and {len(refused) - 10} more.", messages.ERROR)


# --- temporary access -------------------------------------------------------------------------


class TemporaryGrantForm(forms.ModelForm):
    class Meta:
        model = TemporaryGrant
        fields = ["employee", "api_client", "group", "scope", "valid_from", "valid_until", "reason"]
        help_texts = {
            "valid_from": "Empty: from now.",
            "valid_until": "When it stops granting anything, tokens included.",
        }

    valid_from = forms.SplitDateTimeField(
        required=False, widget=admin.widgets.AdminSplitDateTime, help_text="Empty: from now."
    )


@admin.register(TemporaryGrant)
class TemporaryGrantAdmin(TenantAdministrationAdmin):
    """Access that ends by itself: who holds what until when (and how long is left)."""

    form = TemporaryGrantForm
    list_display = [
        "holder_name",
        "what",
        "valid_from",
        "valid_until",
        "time_left",
        "marked",
        "granted_by_name",
    ]
    list_filter = ["break_glass"]
    search_fields = ["employee__username", "api_client__name", "group__name", "scope"]
    list_select_related = ["employee", "api_client", "group"]

    def has_change_permission(self, request, obj=None):
        return obj is None and self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request)  # revoking; the service checks the holder

    @admin.display(description="holder")
    def holder_name(self, obj):
        return obj.holder_name

    @admin.display(description="access")
    def what(self, obj):
        return obj.what

    @admin.display(description="time left")
    def time_left(self, obj):
        return remaining(obj.valid_from, obj.valid_until)

    @admin.display(description="break-glass")
    def marked(self, obj):
        return BREAK_GLASS_MARK if obj.break_glass else ""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        principal = self._principal(request)
        choices = {
            "employee": lambda: Employee.objects.administered_by(principal).filter(
                is_active=True, is_superuser=False
            ),
            "api_client": lambda: ApiClient.objects.administered_by(principal).filter(
                is_active=True
            ),
            "group": lambda: AccessGroup.objects.administered_by(principal),
        }.get(db_field.name)
        if choices is not None:
            kwargs["queryset"] = choices()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        grant = temporary_grant_create(
            actor=self.actor(request),
            channel=Channel.ADMIN,
            employee_pk=data["employee"].pk if data.get("employee") else None,
            client_pk=data["api_client"].pk if data.get("api_client") else None,
            group=data.get("group"),
            scope=data.get("scope") or "",
            valid_from=data.get("valid_from"),
            valid_until=data["valid_until"],
            reason=data.get("reason") or "",
        )
        obj.pk = grant.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        temporary_grant_revoke(actor=self.actor(request), channel=Channel.ADMIN, grant_pk=obj.pk)

    def delete_queryset(self, request, queryset):
        actor = self.actor(request)
        refused = []
        for grant in queryset:
            try:
                temporary_grant_revoke(actor=actor, channel=Channel.ADMIN, grant_pk=grant.pk)
            except ServiceError as exc:
                refused.append(f"{grant}: {exc.message}")
        _refusals(self, request, refused)


# --- requests ---------------------------------------------------------------------------------


class GroupChoiceField(forms.ModelChoiceField):
    """An access group as someone asking for it reads it: what it grants, and whether it may be
    activated at once in an emergency."""

    def label_from_instance(self, group):
        granted = ", ".join(group.scopes) or "nothing"
        where = f" for {', '.join(group.restrictions)}" if group.restrictions else ""
        emergency = " · emergency self-activation (break-glass)" if group.break_glass else ""
        return f"{group.name}: {granted}{where}{emergency}"


class AccessRequestForm(forms.ModelForm):
    hours = forms.DecimalField(
        min_value=Decimal("0.25"),
        max_digits=5,
        decimal_places=2,
        initial=Decimal(4),
        help_text="How long you need it (at most your tenant's maximum, usually 8 hours).",
    )
    activate_now = forms.BooleanField(
        required=False,
        label="Emergency: activate it now (break-glass)",
        help_text="Only for groups marked for emergency self-activation. Granted at once; every "
        "tenant administrator is told, and it is marked in the log and the next review.",
    )

    class Meta:
        model = AccessRequest
        fields = ["group", "scope", "reason"]
        field_classes = {"group": GroupChoiceField}
        help_texts = {
            "group": "The access group you need, or name one scope below instead.",
            "scope": "E.g. customer.customer_read--FR.",
            "reason": "Why you need it: the administrators decide on this.",
        }


class RequestStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return AccessRequest.Status.choices

    def queryset(self, request, queryset):
        if self.value() in AccessRequest.Status.values:
            return queryset.filter(status=self.value())
        return queryset


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged (break-glass)"
    parameter_name = "acknowledged"

    def lookups(self, request, model_admin):
        return [("no", "not yet"), ("yes", "acknowledged")]

    def queryset(self, request, queryset):
        activations = queryset.filter(status=AccessRequest.Status.ACTIVATED)
        if self.value() == "no":
            return activations.filter(acknowledged_at__isnull=True)
        if self.value() == "yes":
            return activations.filter(acknowledged_at__isnull=False)
        return queryset


def _by_tenant(requests) -> dict:
    grouped: dict = {}
    for access_request in requests:
        grouped.setdefault(access_request.tenant, []).append(access_request.pk)
    return grouped


@admin.register(AccessRequest)
class AccessRequestAdmin(GuardedAdmin):
    """ "Requests": every staff employee asks for temporary access and sees their own requests;
    tenant administrators see their tenant's and approve or deny them (never their own)."""

    scope_base = True

    form = AccessRequestForm
    list_display = [
        "created_at",
        "requester",
        "what",
        "for_how_long",
        "reason",
        "shown_status",
        "decided_by_name",
        "valid_until",
    ]
    list_filter = [RequestStatusFilter, "break_glass", AcknowledgedFilter]
    list_select_related = ["requester", "group"]
    actions = ["approve", "deny", "acknowledge", "withdraw"]

    # -- who sees what
    def _principal(self, request) -> Principal | None:
        return admin_principal(request)

    def _administrates(self, request) -> bool:
        principal = self._principal(request)
        return principal is not None and principal.grants.can_manage_tenant()

    def scoped_queryset(self, request, queryset):
        return queryset.visible_to(self._principal(request), employee_id=request.user.pk)

    def has_module_permission(self, request):
        return self._principal(request) is not None

    def has_view_permission(self, request, obj=None):
        return self._principal(request) is not None

    def has_add_permission(self, request):
        principal = self._principal(request)
        return principal is not None and principal.tenant_id is not None

    def has_change_permission(self, request, obj=None):
        return False  # decided through the actions; a request itself is a record

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._administrates(request):
            actions.pop("approve", None)
            actions.pop("deny", None)
            actions.pop("acknowledge", None)
        return actions

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "group":
            # (an employee asks within their own tenant; the platform, which has none, cannot)
            principal = self._principal(request)
            own = AccessGroup.objects.in_tenant_of(principal)
            kwargs["queryset"] = own.none() if principal.sees_every_tenant else own
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="access")
    def what(self, obj):
        return obj.what

    @admin.display(description="status", ordering="status")
    def shown_status(self, obj):
        if obj.status == AccessRequest.Status.ACTIVATED:
            return format_html("{} activated", BREAK_GLASS_MARK)  # (the mark says break-glass)
        return obj.get_status_display()

    @admin.display(description="for", ordering="duration")
    def for_how_long(self, obj):
        return span(obj.duration)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = access_request_create(
            actor=admin_principal(request),
            channel=Channel.ADMIN,
            group=data.get("group"),
            scope=data.get("scope") or "",
            duration=timedelta(hours=float(data["hours"])),
            reason=data.get("reason") or "",
            break_glass=data.get("activate_now", False),
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        if obj.status == AccessRequest.Status.ACTIVATED:
            self.message_user(
                request,
                f"Emergency access to {obj.what} is active {until(obj.valid_until)}; every "
                "tenant administrator has been told.",
                messages.WARNING,
            )
        else:
            self.message_user(
                request,
                f"Your request for {obj.what} waits for a tenant administrator's decision.",
                messages.SUCCESS,
            )
        return self.response_post_save_add(request, obj)

    def _decide(self, request, queryset, approve: bool):
        actor = admin_principal(request)
        done, refused = 0, []
        for access_request in queryset:
            try:
                access_request_decide(
                    actor=actor.in_tenant(access_request.tenant),
                    channel=Channel.ADMIN,
                    request_pk=access_request.pk,
                    approve=approve,
                )
                done += 1
            except ServiceError as exc:
                refused.append(f"{access_request}: {exc.message}")
        verb = "Approved" if approve else "Denied"
        if done:
            self.message_user(request, f"{verb} {done} request{pluralize(done)}.", messages.SUCCESS)
        _refusals(self, request, refused)

    @admin.action(description="Approve the selected requests (grants the access now)")
    def approve(self, request, queryset):
        self._decide(request, queryset.select_related("tenant"), approve=True)

    @admin.action(description="Deny the selected requests")
    def deny(self, request, queryset):
        self._decide(request, queryset.select_related("tenant"), approve=False)

    @admin.action(description="Acknowledge the selected emergency activations")
    def acknowledge(self, request, queryset):
        selected = list(
            queryset.filter(status=AccessRequest.Status.ACTIVATED).select_related("tenant")
        )
        actor = admin_principal(request)
        done = 0
        for tenant, pks in _by_tenant(selected).items():
            done += break_glass_acknowledge(actor=actor.in_tenant(tenant), request_pks=pks)
        self.message_user(
            request, f"Acknowledged {done} emergency activation{pluralize(done)}.", messages.SUCCESS
        )
        if len(selected) - done:
            self.message_user(
                request,
                f"{len(selected) - done} left as they were: acknowledged already, or your own "
                "(another tenant administrator acknowledges those).",
                messages.WARNING,
            )

    @admin.action(description="Withdraw my selected requests")
    def withdraw(self, request, queryset):
        withdrawn, refused = 0, []
        actor = admin_principal(request)
        for access_request in queryset.filter(requester_id=request.user.pk):
            try:
                access_request_withdraw(actor=actor, request_pk=access_request.pk)
                withdrawn += 1
            except ServiceError as exc:
                refused.append(f"{access_request}: {exc.message}")
        self.message_user(request, f"Withdrew {withdrawn} request{pluralize(withdrawn)}.")
        _refusals(self, request, refused)


# --- access reviews ---------------------------------------------------------------------------


class AccessReviewForm(forms.ModelForm):
    reviewers = forms.ModelMultipleChoiceField(
        queryset=Employee.objects.none(),
        required=False,
        widget=admin.widgets.FilteredSelectMultiple("reviewers", is_stacked=False),
        help_text="Tenant administrators who decide the lines (each identity's lines go to one "
        "of them, never their own). Empty: you.",
    )

    class Meta:
        model = AccessReview
        fields = ["tenant", "name"]

    # (Its help on the form only: a started review shows its name read-only.)
    name = forms.CharField(
        required=False, max_length=200, help_text="Empty: “Access review” and today's date."
    )


@admin.register(AccessReview)
class AccessReviewAdmin(TenantAdministrationAdmin):
    """Start a review (a snapshot of who holds what) and follow it; its report as CSV or JSON."""

    form = AccessReviewForm
    list_display = ["name", "tenant", "status", "progress", "started_by_name", "started_at"]
    list_filter = ["status"]
    readonly_fields = ["status", "started_by_name", "started_at", "closed_at", "links"]
    actions = ["send_reminders"]

    def has_change_permission(self, request, obj=None):
        return obj is None and self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return False  # a review is a record

    def narrow_queryset(self, request, queryset):
        return queryset.annotate(
            total=Count("lines"), decided=Count("lines", filter=~Q(lines__decision=""))
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                f
                for f in ["tenant", "name", "reviewers"]
                if f != "tenant" or sees_every_tenant(request)
            ]
        return ["name", "status", "started_by_name", "started_at", "closed_at", "links"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["name", *self.readonly_fields]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None and "reviewers" in form.base_fields:
            principal = self._principal(request)
            if principal is not None and principal.tenant_id is not None:
                # Only whom the review accepts: the tenant's administrators.
                reviewers = tenant_administrators(principal.tenant_id)
            else:
                reviewers = Employee.objects.administered_by(principal).filter(
                    is_active=True, is_superuser=False
                )
            form.base_fields["reviewers"].queryset = reviewers
        return form

    @admin.display(description="decided")
    def progress(self, obj):
        return f"{obj.decided} of {obj.total}"

    @admin.display(description="lines and report")
    def links(self, obj):
        lines = reverse("admin:accounts_accessreviewline_changelist")
        return format_html(
            '<a href="{}?review__id__exact={}">{}</a> · '
            '<a href="{}">Report (CSV)</a> · <a href="{}">Report (JSON)</a>',
            lines,
            obj.pk,
            "Decide the lines" if obj.status == AccessReview.Status.OPEN else "The decided lines",
            reverse("admin:accounts_accessreview_report", args=[obj.pk, "csv"]),
            reverse("admin:accounts_accessreview_report", args=[obj.pk, "json"]),
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        reviewers = list(data.get("reviewers") or [])
        review = access_review_start(
            actor=admin_principal(request).in_tenant(self.tenant_for(request, form, None)),
            channel=Channel.ADMIN,
            tenant=self.tenant_for(request, form, None),
            name=data.get("name") or "",
            reviewers=reviewers or None,
        )
        obj.pk = review.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        """(The reviewers are the service's, not a relation of the review.)"""

    def get_urls(self):
        report = path(
            "<path:object_id>/report.<str:fmt>",
            self.admin_site.admin_view(self.report_view),
            name="accounts_accessreview_report",
        )
        return [report, *super().get_urls()]

    def report_view(self, request, object_id, fmt):
        review = self.get_object(request, unquote(object_id))
        if review is None or fmt not in ("csv", "json"):
            raise Http404("Not found.")
        if not self.has_view_permission(request, review):
            raise PermissionDenied
        lines = (
            AccessReviewLine.objects.administered_by(self._principal(request))
            .filter(review=review)
            .order_by("pk")
        )
        iso = iso_formatter()
        filename = f"access-review-{review.pk}.{fmt}"
        if fmt == "json":
            counts = {"total": review.total, "decided": review.decided}
            body = {
                **review_document(review, iso, counts),
                "lines": [line_document(line, iso) for line in lines.iterator(chunk_size=2000)],
            }
            response = HttpResponse(
                json.dumps(body, indent=1), content_type="application/json; charset=utf-8"
            )
        else:
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            writer = SpreadsheetWriter(response)
            writer.writerow(REPORT_FIELDS)
            for line in lines.iterator(chunk_size=2000):
                writer.writerow(report_row(line, iso))
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.action(description="E-mail the reviewers of undecided lines")
    def send_reminders(self, request, queryset):
        actor = admin_principal(request)
        sent, refused = 0, []
        for review in queryset.select_related("tenant"):
            try:
                review_reminders_send(actor=actor.in_tenant(review.tenant), review_pk=review.pk)
                sent += 1
            except ServiceError as exc:
                refused.append(f"{review}: {exc.message}")
        if sent:
            self.message_user(
                request, f"Reminders of {sent} review{pluralize(sent)} are on their way."
            )
        _refusals(self, request, refused)


class LineRestrictionFilter(admin.SimpleListFilter):
    title = "restriction"
    parameter_name = "restriction"

    def lookups(self, request, model_admin):
        principal = admin_principal(request)
        values = administered_by(Restriction.objects.all(), principal)
        return [(code, code) for code in sorted(set(values.values_list("code", flat=True)))]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(restriction_words__contains=f" {self.value()} ")
        return queryset


class LineGroupFilter(admin.SimpleListFilter):
    title = "group"
    parameter_name = "group"

    def lookups(self, request, model_admin):
        names = model_admin.get_queryset(request).exclude(group_name="")
        names = names.order_by("group_name").values_list("group_name", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(group_name=self.value())
        return queryset


class DecisionFilter(admin.SimpleListFilter):
    title = "decision"
    parameter_name = "decision"

    def lookups(self, request, model_admin):
        return [("undecided", "undecided"), ("keep", "keep"), ("revoke", "revoke")]

    def queryset(self, request, queryset):
        value = {"undecided": ""}.get(self.value(), self.value())
        if value in AccessReviewLine.Decision.values:
            return queryset.filter(decision=value)
        return queryset


@admin.register(AccessReviewLine)
class AccessReviewLineAdmin(ReadOnlyAdminMixin, TenantAdministrationAdmin):
    """The lines of the reviews, a page at a time: filter (review, decision, reviewer, group,
    restriction), tick, keep or revoke. Revokes apply at once through the identity services."""

    # What a reviewer acts on first (at 1,400 px nothing of it is behind a scroll): who, what
    # they hold, the decision, who made it and what changed; the details after.
    list_display = [
        "subject_name",
        "held",
        "decision_shown",
        "decided_by_name",
        "outcome",
        "restriction_list",
        "until",
        "marked",
        "reviewer_name",
        "last_token_at",
        "subject_kind",
    ]
    list_filter = [
        ("review", admin.RelatedOnlyFieldListFilter),
        DecisionFilter,
        ("reviewer", admin.RelatedOnlyFieldListFilter),
        LineGroupFilter,
        LineRestrictionFilter,
        "holding",
        "subject_kind",
        "break_glass",
    ]
    search_fields = ["subject_name", "group_name"]
    list_select_related = False
    list_per_page = 100
    actions = ["keep", "revoke"]

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def get_actions(self, request):
        # ReadOnlyAdminMixin takes away deleting; the decisions stay.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="holds")
    def held(self, obj):
        return obj.held

    @admin.display(description="restrictions")
    def restriction_list(self, obj):
        return " ".join(obj.restrictions) or "all"

    @admin.display(description="temporary", ordering="valid_until")
    def until(self, obj):
        if obj.valid_until is None:
            return "standing"
        until = timezone.localtime(obj.valid_until).strftime("%Y-%m-%d %H:%M")
        if obj.valid_from is None:  # (a line of a review started before lines had a start)
            return until
        return f"{timezone.localtime(obj.valid_from):%Y-%m-%d %H:%M} to {until}"

    @admin.display(description="break-glass")
    def marked(self, obj):
        return BREAK_GLASS_MARK if obj.break_glass else ""

    @admin.display(description="decision", ordering="decision")
    def decision_shown(self, obj):
        return obj.get_decision_display()

    def _decide(self, request, queryset, decision: str):
        actor = admin_principal(request)
        by_review: dict[int, list[int]] = {}
        for review_id, pk in queryset.order_by().values_list("review_id", "pk"):
            by_review.setdefault(review_id, []).append(pk)
        kept = revoked = 0
        refused, closed = [], 0
        for review_id, pks in by_review.items():
            review = (
                AccessReview.objects.administered_by(actor)
                .select_related("tenant")
                .get(pk=review_id)
            )
            try:
                result = review_lines_decide(
                    actor=actor.in_tenant(review.tenant),
                    review_pk=review_id,
                    line_pks=pks,
                    decision=decision,
                )
            except ServiceError as exc:
                refused.append(f"{review}: {exc.message}")
                continue
            kept, revoked = kept + result.kept, revoked + result.revoked
            refused += result.skipped
            closed += result.closed
        if decision == "keep":
            self.message_user(request, f"Kept {kept} line{pluralize(kept)}.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                f"Revoked {revoked} line{pluralize(revoked)}: the access is gone now.",
                messages.SUCCESS,
            )
        if closed:
            self.message_user(
                request, "Every line is decided: the review is closed and its report is final."
            )
        _refusals(self, request, refused)

    @admin.action(description="Keep the selected lines")
    def keep(self, request, queryset):
        self._decide(request, queryset, "keep")

    @admin.action(description="Revoke the selected lines (takes the access away now)")
    def revoke(self, request, queryset):
        self._decide(request, queryset, "revoke")
