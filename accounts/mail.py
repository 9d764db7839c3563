"""E-mails about access, sent by the task worker after the change has committed: tenant
administrators hear of requests and break-glass activations, requesters of decisions, reviewers
of the lines still waiting for them. A mail server that is slow or down never fails or holds
the change itself."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Count
from django_tasks import task

from accounts.models import AccessRequest, AccessReview, AccessReviewLine, Employee

logger = logging.getLogger(__name__)


def _send(subject: str, body: str, recipients: list[str]) -> int:
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
        logger.warning("Access e-mail %r not sent: %s", subject, exc)
        return 0
    return len(recipients)


def _admin_url(path: str) -> str:
    return f"{settings.BACK_OFFICE_URL.rstrip('/')}{path}"


@task()
def send_access_request_email(request_id: int, event: str) -> int:
    """``asked`` and ``break_glass`` go to every tenant administrator but the requester;
    ``approved`` and ``denied`` to the requester. Returns how many were addressed."""
    from accounts.temporary_access import tenant_administrators

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
                f"{who} asks for {what} for {request.duration} in tenant {request.tenant.code}.\n"
                f"Reason: {request.reason}\n\nApprove or deny it on the Requests page: {link}\n"
            )
        else:
            subject = f"[{request.tenant.code}] BREAK-GLASS: {who} activated {what}"
            body = (
                f"{who} activated {what} for themselves in an emergency, until "
                f"{request.valid_until:%Y-%m-%d %H:%M %Z}.\nReason: {request.reason}\n\n"
                f"It is marked in the access-change log and in the next access review. "
                f"Details: {link}\n"
            )
        return _send(subject, body, recipients)
    decision = "approved" if event == "approved" else "denied"
    subject = f"[{request.tenant.code}] Your request for {what} was {decision}"
    body = f"{request.decided_by_name} {decision} your request for {what}.\n"
    if event == "approved":
        body += f"You hold it until {request.valid_until:%Y-%m-%d %H:%M %Z}.\n"
    if request.decision_note:
        body += f"Note: {request.decision_note}\n"
    return _send(subject, body, [request.requester.email])


@task()
def send_review_reminders(review_id: int) -> int:
    """One e-mail per reviewer with undecided lines of an open review (how many, and where);
    lines without a reviewer are for every tenant administrator. Returns the mails sent."""
    from accounts.temporary_access import tenant_administrators

    review = AccessReview.objects.filter(pk=review_id, status=AccessReview.Status.OPEN).first()
    if review is None:
        return 0
    waiting = (
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
                f"Access review “{review.name}”: {row['n']} line(s) wait for your decision",
                f"{row['n']} line(s) of the access review “{review.name}” wait for a decision "
                f"(keep or revoke).\n\n{link}\n",
                recipients,
            )
        )
    return sent
