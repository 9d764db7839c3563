"""The Jobs page: background jobs of the back office, read-only, with "Resume"."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html

from accounts.admin_principal import admin_principal
from core.admin import GuardedAdmin, ReadOnlyAdminMixin
from customers.jobs import job_resume
from customers.models import Job, JobStatus


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, GuardedAdmin):
    """The Jobs page: read-only, each employee's own jobs (a tenant administrator: the
    tenant's), and only jobs whose every restriction the viewer may read
    (``Job.objects.visible_to``)."""

    scope_base = True

    list_display = [
        "created_at",
        "description",
        "requested_by_name",
        "status",
        "progress",
        "message",
    ]
    list_filter = ["status", "kind"]
    ordering = ["-created_at", "-pk"]
    actions = ["resume"]
    fields = [
        "description",
        "requested_by_name",
        "status",
        "progress",
        "message",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/customers/job/change_form.html"
    change_list_template = "admin/customers/job/change_list.html"

    def changelist_view(self, request, extra_context=None):
        active = self.get_queryset(request).filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        return super().changelist_view(
            request, {**(extra_context or {}), "refresh": active.exists()}
        )

    def scoped_queryset(self, request, queryset):
        # (the tenant by a query of its own: a join would reach a coordinator-only table from
        # the distributed jobs, which Citus refuses)
        return queryset.prefetch_related("tenant").visible_to(
            admin_principal(request), employee_id=request.user.pk
        )

    def has_module_permission(self, request):
        principal = admin_principal(request)
        return principal is not None and not principal.grants.readable().is_empty

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_resume_permission(self, request):
        return self.has_module_permission(request)

    @admin.display(description="job")
    def description(self, obj):
        return str(obj)

    @admin.display(description="progress")
    def progress(self, obj):
        return format_html(
            '<progress value="{}" max="{}"></progress> <span class="job-progress">{}/{}</span>',
            min(obj.done, obj.total),
            max(obj.total, 1),
            f"{obj.done:,}",
            f"{obj.total:,}",
        )

    @admin.action(description="Resume (finish the remaining customers)", permissions=["resume"])
    def resume(self, request, queryset):
        resumed = skipped = 0
        for job in queryset.filter(~Q(status=JobStatus.SUCCEEDED)):
            if job_resume(job):
                resumed += 1
            else:
                skipped += 1
        skipped += queryset.filter(status=JobStatus.SUCCEEDED).count()
        self.message_user(
            request,
            f"Resumed {resumed} job{'s' if resumed != 1 else ''}; {skipped} could not be resumed "
            "(finished, or still running).",
            messages.SUCCESS if resumed else messages.WARNING,
        )
