"""E-mails to customers, sent by a background task after the request has committed, so a mail
server that is slow or down never fails (or holds) the request that created the account."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.utils import timezone
from django_tasks import task

from accounts import rowsecurity
from customers.models import Account, MassReadAlert

logger = logging.getLogger(__name__)

PASSWORD_RESET_SALT = "customers.password-reset"  # noqa: S105 - a namespace, not a secret


# Why the customer is asked to choose a password.
REASONS = {
    "created": ("Set your password", "An account was created for you."),
    "migration_ended": (
        "Choose a new password",
        "Your account moved to a new system, and the password you had before no longer works.",
    ),
}


@task()
def send_password_reset_email(account_id: int, reason: str = "created") -> bool:
    """Mail the account a link to choose its password; False when the account is gone or the
    mail could not be sent (logged with the customer number; the task is not retried)."""
    bound_for = f"a password e-mail to account {account_id}"
    with rowsecurity.session_context(rowsecurity.ALL_TENANTS, reason=bound_for):
        account = Account.objects.select_related("customer").filter(pk=account_id).first()
    if account is None:
        return False
    subject, why = REASONS[reason]
    token = signing.dumps({"account": account.pk}, salt=PASSWORD_RESET_SALT)
    try:
        send_mail(
            subject=subject,
            message=(
                f"{why} Choose your password here:\n\n"
                f"{settings.PASSWORD_RESET_URL.format(token=token)}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[account.email],
        )
    except OSError as exc:  # smtplib's errors and socket timeouts are OSErrors
        logger.warning(
            "Password-reset e-mail for customer %s not sent: %s",
            account.customer.customer_number,
            exc,
        )
        return False
    return True


NOTICE_ATTEMPTS = 12


@task()
def send_mass_read_alert(alert_id: int) -> int:
    """Tell the tenant's administrators of a mass read; a failed send is tried again later
    (1, 2, 4 … minutes, at most 60; 12 tries), and the alert stays on their home page until one
    of them acknowledges it. Returns how many were addressed."""
    from accounts.holdings import tenant_administrators
    from accounts.mail import retry_delay

    bound_for = f"the e-mail of mass-read alert {alert_id}"
    with rowsecurity.session_context(rowsecurity.ALL_TENANTS, reason=bound_for):
        alert = MassReadAlert.objects.prefetch_related("tenant").filter(pk=alert_id).first()
        if alert is None or alert.notified_at is not None:
            return 0
        recipients = sorted(
            {e for e in tenant_administrators(alert.tenant_id).values_list("email", flat=True) if e}
        )
        who = f"{alert.actor_name or alert.actor_id} ({alert.get_actor_kind_display()})"
        link = (
            f"{settings.BACK_OFFICE_URL.rstrip('/')}/admin/customers/customerview/"
            f"?q={alert.actor_id}"
        )
        shown = ", ".join(alert.sample[:20])
        more = f" and {alert.customers - 20:,} more" if alert.customers > 20 else ""
        body = (
            f"{who} read {alert.customers:,} different customers within "
            f"{alert.window_minutes} minutes in tenant {alert.tenant.code}, more than the "
            f"tenant's limit.\n\nAmong them: {shown}{more}.\n\nWhat they read: {link}\n"
        )
        attempt = alert.notice_attempts + 1
        try:
            if recipients:
                send_mail(
                    subject=f"[{alert.tenant.code}] Mass read: {who} read {alert.customers:,} "
                    "customers",
                    message=body,
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    recipient_list=recipients,
                )
        except OSError as exc:
            MassReadAlert.objects.filter(pk=alert.pk).update(notice_attempts=attempt)
            if attempt < NOTICE_ATTEMPTS:
                send_mass_read_alert.using(run_after=timezone.now() + retry_delay(attempt)).enqueue(
                    alert.pk
                )
            logger.warning("Mass-read alert %s not e-mailed (try %s): %s", alert.pk, attempt, exc)
            return 0
        MassReadAlert.objects.filter(pk=alert.pk).update(
            notified_at=timezone.now(), notice_attempts=attempt
        )
        return len(recipients)
