"""Back-office bulk actions that outgrow one request run as background jobs.

A selection above ``settings.BULK_JOB_THRESHOLD`` customers is not processed in the request: the
confirmation stores a :class:`~customers.models.Job` (the selection as a domain value,
:class:`~customers.selection.CustomerSelection`: the ids ticked, or the search term and list
filters behind "select all") and enqueues :func:`run_job` through Django's Tasks API. The worker
rebuilds the selection through the one restriction filter with the same search and filter code
the page used, for the requester as they are *now* (a deactivated employee's queued job changes
nothing), and runs the same services as the in-request action in audited, atomic batches.
Progress commits with each batch, so a worker killed mid-job leaves whole batches only and the
job can be resumed.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.admin.models import DELETION, LogEntry
from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone
from django_tasks import task

from accounts import rowsecurity
from accounts.principal import Principal
from core.errors import NotPermitted, ServiceError
from customers import services
from customers.models import Channel, Job, JobKind, JobRestriction, JobStatus
from customers.selection import CustomerSelection

logger = logging.getLogger(__name__)


class JobTakenOver(Exception):
    """Another run owns the job now (it was resumed while this one was still going)."""


def jobs_start(
    *,
    requested_by,
    kind: str,
    selections: list[tuple[Principal, CustomerSelection, QuerySet]],
    target: str | None = None,
    reason: str = "",
) -> list[Job]:
    """One job per tenant: each ``(actor, selection, its customers now)``; enqueued when the
    caller's transaction commits. ``requested_by`` is the employee whose rights the job runs
    with (as they are when it runs)."""
    jobs = []
    for actor, selection, customers in selections:
        counts = restriction_counts(customers)
        involved = set(counts)
        if kind == JobKind.ASSIGN_RESTRICTION:
            involved.add(target)
        with transaction.atomic():
            job = Job.objects.create(
                tenant_id=actor.tenant_id,
                kind=kind,
                requested_by=requested_by,
                requested_by_name=requested_by.get_username(),
                target=target,
                reason=reason,
                selection=selection.to_json(),
                selection_label=selection.label()[:500],
                total=sum(counts.values()),
            )
            JobRestriction.objects.bulk_create(
                JobRestriction(tenant_id=job.tenant_id, job=job, restriction=value)
                for value in involved
            )
            _enqueue(job)
        jobs.append(job)
    return jobs


def restriction_counts(customers: QuerySet) -> dict[str | None, int]:
    """How many of ``customers`` carry each restriction: one ``GROUP BY`` in the database."""
    grouped = customers.order_by().values_list("restriction").annotate(n=Count("pk"))
    return dict(grouped.values_list("restriction", "n"))


def _enqueue(job: Job) -> None:
    transaction.on_commit(lambda: run_job.enqueue(job.pk))


@task()
def run_job(job_id: int) -> str:
    # The job's own row first (claim, progress, result): all tenants, for this job only; its
    # customers under the requester's own rights (_execute).
    reason = f"background job {job_id} (claiming and recording it)"
    with rowsecurity.session_context(rowsecurity.ALL_TENANTS, reason=reason):
        return job_run(job_id)


def job_run(job_id: int) -> str:
    """Claim a queued job and run it to the end; returns the job's final status."""
    token = secrets.token_hex(8)
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, run_token=token, heartbeat_at=now, message=""
    )
    if not claimed:
        return "not claimed"
    Job.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    # (the tenant and the requester read on their own: a job's table may be distributed, and
    # Citus 13.2 crashes on a join of it with the coordinator's own tables)
    job = Job.objects.get(pk=job_id)
    try:
        message = _execute(job, token)
        status = JobStatus.SUCCEEDED
    except JobTakenOver:
        return "taken over"
    except ServiceError as exc:
        message, status = exc.message, JobStatus.FAILED
    except Exception:  # recorded on the job for the staff, the details in the log
        logger.exception("Background job %s failed", job_id)
        message, status = (
            "The job stopped on an unexpected error; resume it to retry.",
            (JobStatus.FAILED),
        )
    Job.objects.filter(pk=job_id, run_token=token).update(
        status=status, message=message, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    return status


def _requester(job: Job) -> Principal:
    """The requester as they are now: a deactivated or demoted employee runs nothing."""
    employee = job.requested_by
    if employee is None or not (employee.is_active and employee.is_staff):
        raise NotPermitted(
            "The employee who started this job no longer has access; nothing more was changed."
        )
    try:
        return Principal.for_employee(employee, job.tenant)
    except ValueError as exc:
        raise NotPermitted("The employee who started this job left its tenant.") from exc


def job_selection(job: Job, actor: Principal) -> QuerySet:
    """The job's customers in its tenant, as ``actor`` (the requester now) may read them."""
    selection = CustomerSelection.from_json(job.selection)
    return selection.visible_customers(actor).filter(tenant_id=job.tenant_id)


def _execute(job: Job, token: str) -> str:
    actor = _requester(job)
    with rowsecurity.session_context(rowsecurity.RowContext.of(actor), reason=None):
        return _execute_as(job, token, actor)


def _execute_as(job: Job, token: str, actor: Principal) -> str:
    customers = job_selection(job, actor)

    def record(matched: int, changed: int, last_pk: int) -> None:
        updated = Job.objects.filter(pk=job.pk, run_token=token).update(
            done=F("done") + matched,
            changed=F("changed") + changed,
            last_pk=last_pk,
            heartbeat_at=timezone.now(),
        )
        if not updated:
            raise JobTakenOver

    def pause(*_) -> None:
        if settings.BULK_JOB_BATCH_PAUSE:
            time.sleep(settings.BULK_JOB_BATCH_PAUSE)

    batch_size = settings.BULK_JOB_BATCH_SIZE
    if job.kind == JobKind.ASSIGN_RESTRICTION:
        services.restriction_assign(
            actor=actor,
            customers=customers,
            value=job.target,
            channel=Channel.ADMIN,
            batch_size=batch_size,
            after_pk=job.last_pk,
            in_batch=record,
            on_batch=pause,
        )
    elif job.kind == JobKind.ERASE_CUSTOMERS:
        _erase_in_batches(job, actor, customers, batch_size, record, pause)
    else:
        _delete_in_batches(job, actor, customers, batch_size, record, pause)
    job.refresh_from_db(fields=["done", "changed"])
    if job.kind == JobKind.ASSIGN_RESTRICTION:
        return assignment_summary(job.target, job.changed, job.done - job.changed)
    done = f"{job.changed:,} customer{'s' if job.changed != 1 else ''}"
    if job.kind == JobKind.ERASE_CUSTOMERS:
        return f"Erased the personal data of {done}."
    return f"Deleted {done}."


def _delete_in_batches(job, actor, customers, batch_size, record, pause) -> None:
    services.customer_delete_check(actor=actor, customers=customers)
    ordered = customers.order_by("pk").only("pk", "customer_number", "first_name", "last_name")

    def step(last_pk: int) -> tuple[int, int, int | None]:
        batch = list(ordered.filter(pk__gt=last_pk).select_for_update()[:batch_size])
        if not batch:
            return 0, 0, None
        LogEntry.objects.log_actions(job.requested_by_id, batch, DELETION)
        deleted = services.customer_delete_many(
            actor=actor, customers=customers.filter(pk__in=[c.pk for c in batch])
        )
        return len(batch), deleted, batch[-1].pk

    services.run_in_batches(step, after_pk=job.last_pk, in_batch=record, on_batch=pause)


def _erase_in_batches(job, actor, customers, batch_size, record, pause) -> None:
    """Each batch erased in its transaction (``customers_erase``: set-based, all of the batch or
    none); a selection that has become partly unerasable stops the job there, as it started."""
    from customers.services.privacy import customers_erase, customers_erase_check

    customers_erase_check(actor=actor, customers=customers)
    ordered = customers.order_by("pk").values_list("pk", flat=True)

    def step(last_pk: int) -> tuple[int, int, int | None]:
        batch = list(ordered.filter(pk__gt=last_pk)[:batch_size])
        if not batch:
            return 0, 0, None
        erased = customers_erase(
            actor=actor,
            channel=Channel.ADMIN,
            customers=customers.filter(pk__in=batch),
            reason=job.reason,
        )
        return len(batch), erased, batch[-1]

    services.run_in_batches(step, after_pk=job.last_pk, in_batch=record, on_batch=pause)


def assignment_summary(target: str | None, changed: int, unchanged: int) -> str:
    return (
        f"Restriction {target or '— none —'} assigned: {changed:,} changed, "
        f"{unchanged:,} already had it."
    )


def job_resumable(job: Job) -> bool:
    """Failed jobs, and queued or running jobs whose worker has been silent too long."""
    if job.status == JobStatus.FAILED:
        return True
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        last_sign = job.heartbeat_at or job.created_at
        stale = timedelta(seconds=settings.BULK_JOB_STALE_SECONDS)
        return last_sign <= timezone.now() - stale
    return False


def job_resume(job: Job) -> bool:
    """Queue the job again from its last committed batch; False when it may not be resumed."""
    if not job_resumable(job):
        return False
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status=job.status, run_token=job.run_token).update(
            status=JobStatus.QUEUED, run_token="", heartbeat_at=timezone.now()
        )
        if updated:
            _enqueue(job)
    return bool(updated)
