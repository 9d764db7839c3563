"""E-mails about access, sent by the task worker after the change has committed: tenant
administrators hear of requests and break-glass activations, requesters of decisions, reviewers
of the lines still waiting for them. A mail server that is slow or down never fails or holds
the change itself."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Count
from django.utils import timezone
from django_tasks import task

from accounts import rowsecurity
from accounts.holdings import tenant_administrators
from accounts.models import AccessRequest, AccessReview, AccessReviewLine, Employee
from core.datetimes import span

logger = logging.getLogger(__name__)


# A break-glass e-mail that could not be sent is tried again after 1, 2, 4 … minutes (at most
# an hour apart), up to 12 times (about seven hours); the activation stays on the back office's
# index page until an administrator acknowledges it, sent or not.
NOTICE_ATTEMPTS = 12


class MailNotSent(Exception):
    """The mail server refused or could not be reached; the task is tried again later."""


def _send(subject: str, body: str, recipients: list[str], *, must_send: bool = False) -> int:
    recipients = sorted({address for address in recipients if address})
    if not recipients:
        return 0
    try:
        send_mail(
            subject=subject,
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    except OSError as exc:  # smtplib's errors and socket timeouts are OSErrors
        if must_send:
            raise MailNotSent(str(exc)) from exc
        logger.warning("Access e-mail %r not sent: %s", subject, exc)
        return 0
    return len(recipients)


def _records():
    """The tasks read and mark access records of whichever tenant they were given: the
    platform's row-security context, one transaction at a time (audited)."""
    return rowsecurity.row_context(rowsecurity.ALL_TENANTS, reason="an access e-mail")


def retry_delay(attempt: int) -> timedelta:
    """How long after the ``attempt``-th failed try the next one runs."""
    return timedelta(minutes=min(60, 2 ** (attempt - 1)))


def _break_glass_notice(request: AccessRequest, subject: str, body: str, recipients) -> int:
    """Send, or schedule the next try and fail this one (the task's result says why)."""
    attempt = request.notice_attempts + 1
    with _records():
        AccessRequest.objects.filter(pk=request.pk).update(notice_attempts=attempt)
    try:
        sent = _send(subject, body, recipients, must_send=True)
    except MailNotSent:
        if attempt < NOTICE_ATTEMPTS:
            send_access_request_email.using(
                run_after=timezone.now() + retry_delay(attempt)
            ).enqueue(request.pk, "break_glass")
            logger.warning(
                "Break-glass e-mail for request %s not sent (try %s); trying again later",
                request.pk,
                attempt,
            )
        else:
            logger.error("Break-glass e-mail for request %s never sent", request.pk)
        raise
    with _records():
        AccessRequest.objects.filter(pk=request.pk).update(notified_at=timezone.now())
    return sent


def _local(moment) -> str:
    """A date-time as the reader's back office shows it (the service's time zone, named)."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def _lines_wait(count: int) -> str:
    return f"{count:,} line waits" if count == 1 else f"{count:,} lines wait"


def _admin_url(path: str) -> str:
    return f"{settings.BACK_OFFICE_URL.rstrip('/')}{path}"


@task()
def send_access_request_email(request_id: int, event: str) -> int:
    """``asked`` and ``break_glass`` go to every tenant administrator but the requester;
    ``approved`` and ``denied`` to the requester. Returns how many were addressed."""
    with _records():
        request = (
            AccessRequest.objects.select_related("requester", "group", "tenant")
            .filter(pk=request_id)
            .first()
        )
    if request is None:
        return 0
    who, what = request.requester.username, request.what
    link = _admin_url(f"/admin/accounts/accessrequest/{request.pk}/change/")
    if event in ("asked", "break_glass"):
        administrators = tenant_administrators(request.tenant_id).exclude(pk=request.requester_id)
        recipients = list(administrators.values_list("email", flat=True))
        if event == "asked":
            subject = f"[{request.tenant.code}] {who} asks for {what}"
            body = (
                f"{who} asks for {what} for {span(request.duration)} in tenant "
                f"{request.tenant.code}.\n"
                f"Reason: {request.reason}\n\nApprove or deny it on the Requests page: {link}\n"
            )
        else:
            subject = f"[{request.tenant.code}] BREAK-GLASS: {who} activated {what}"
            body = (
                f"{who} activated {what} for themselves in an emergency, until "
                f"{_local(request.valid_until)}.\nReason: {request.reason}\n\n"
                f"It is marked in the access-change log and in the next access review. "
                f"Details: {link}\n"
            )
        if event == "break_glass":
            return _break_glass_notice(request, subject, body, recipients)
        return _send(subject, body, recipients)
    decision = "approved" if event == "approved" else "denied"
    subject = f"[{request.tenant.code}] Your request for {what} was {decision}"
    body = f"{request.decided_by_name} {decision} your request for {what}.\n"
    if event == "approved":
        body += f"You hold it until {_local(request.valid_until)}.\n"
    if request.decision_note:
        body += f"Note: {request.decision_note}\n"
    return _send(subject, body, [request.requester.email])


@task()
def send_review_reminders(review_id: int) -> int:
    """One e-mail per reviewer with undecided lines of an open review (how many, and where);
    lines without a reviewer are for every tenant administrator. Returns the mails sent."""
    with _records():
        review = AccessReview.objects.filter(pk=review_id, status=AccessReview.Status.OPEN).first()
        if review is None:
            return 0
        waiting = list(
            AccessReviewLine.objects.filter(review=review, decision="")
            .values("reviewer_id")
            .annotate(n=Count("pk"))
            .order_by()
        )
    link = _admin_url(f"/admin/accounts/accessreviewline/?review__id__exact={review.pk}")
    sent = 0
    for row in waiting:
        if row["reviewer_id"] is None:
            recipients = list(
                tenant_administrators(review.tenant_id).values_list("email", flat=True)
            )
        else:
            recipients = list(
                Employee.objects.filter(pk=row["reviewer_id"], is_active=True).values_list(
                    "email", flat=True
                )
            )
        sent += bool(
            _send(
                f"Access review “{review.name}”: {_lines_wait(row['n'])} for your decision",
                f"In the access review “{review.name}”, {_lines_wait(row['n'])} for a decision "
                f"(keep or revoke).\n\n{link}\n",
                recipients,
            )
        )
    return sent
