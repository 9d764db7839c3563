"""E-mails to customers, sent by a background task after the request has committed, so a mail
server that is slow or down never fails (or holds) the request that created the account."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django_tasks import task

from accounts import rowsecurity
from customers.models import Account

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
