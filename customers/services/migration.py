"""The tenant's password-migration retention window: how long imported legacy credentials
(``Account.legacy_auth``) may be kept."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.principal import Principal
from core.errors import InvalidInput, NotPermitted, first_or_not_found
from customers.mail import send_password_reset_email
from customers.models import Account, PasswordMigrationRetention

REMINDER_LEAD = timedelta(days=7)
EXPIRY_BATCH = 5_000


def _require_configurer(actor: Principal) -> None:
    if not actor.grants.can_configure_import():
        raise NotPermitted("Configuring imports needs the unsuffixed customer.import_manage.")


def password_migration_get(*, actor: Principal) -> PasswordMigrationRetention:
    if not actor.grants.can_read_import_configuration():
        raise NotPermitted("Reading the import configuration needs customer.import_read.")
    return first_or_not_found(
        PasswordMigrationRetention.objects.filter(tenant_id=actor.tenant_id),
        "No password migration retention is configured for this tenant.",
    )


def active_password_migration(tenant_id: int) -> PasswordMigrationRetention | None:
    """The tenant's window when it has not ended (its end date is today or later)."""
    return PasswordMigrationRetention.objects.filter(
        tenant_id=tenant_id, retention_end_date__gte=timezone.localdate()
    ).first()


@transaction.atomic
def password_migration_configure(
    *,
    actor: Principal,
    retention_end_date: date,
    email_reminder_date: date | None = None,
    email_notifications_enabled: bool = True,
) -> PasswordMigrationRetention:
    """Create or replace the window. The end lies in the future; the reminder, on or after
    today and before the end, defaults to a week before it (tomorrow when that has passed)."""
    _require_configurer(actor)
    today = timezone.localdate()
    if retention_end_date <= today:
        raise InvalidInput("retentionEndDate must be a future date.", field="retentionEndDate")
    if email_reminder_date is None:
        email_reminder_date = retention_end_date - REMINDER_LEAD
        if email_reminder_date <= today:
            email_reminder_date = today + timedelta(days=1)
    elif not today <= email_reminder_date < retention_end_date:
        raise InvalidInput(
            "emailReminderDate must be on or after today and before retentionEndDate.",
            field="emailReminderDate",
        )
    config, _ = PasswordMigrationRetention.objects.update_or_create(
        tenant_id=actor.tenant_id,
        defaults={
            "retention_end_date": retention_end_date,
            "email_reminder_date": email_reminder_date,
            "email_notifications_enabled": email_notifications_enabled,
        },
    )
    return config


@transaction.atomic
def password_migration_remove(*, actor: Principal) -> None:
    """Remove the window; refused while any account of the tenant still holds legacy
    credentials (they must not be kept without one)."""
    _require_configurer(actor)
    config = (
        PasswordMigrationRetention.objects.select_for_update()
        .filter(tenant_id=actor.tenant_id)
        .first()
    )
    if config is None:
        return
    if Account.objects.filter(tenant_id=actor.tenant_id, legacy_auth__isnull=False).exists():
        raise InvalidInput(
            "Accounts still hold legacy credentials: the retention window cannot be removed "
            "until the migration has ended (its end date may be moved earlier)."
        )
    config.delete()


def password_migrations_expire(*, today: date | None = None) -> dict[str, int]:
    """Maintenance, run daily (``manage.py expire_password_migrations``): where a tenant's
    window has ended, clear the legacy credentials still stored and, when its e-mails are
    enabled, send those customers a link to choose a new password. In batches, each committed
    with its e-mails; running it again finishes an interrupted run. Returns cleared accounts
    per tenant code."""
    today = today or timezone.localdate()
    cleared: dict[str, int] = {}
    ended = PasswordMigrationRetention.objects.filter(retention_end_date__lt=today)
    for config in ended.select_related("tenant"):
        legacy = Account.objects.filter(tenant_id=config.tenant_id, legacy_auth__isnull=False)
        while True:
            with transaction.atomic():
                ids = list(legacy.order_by("pk").values_list("pk", flat=True)[:EXPIRY_BATCH])
                if not ids:
                    break
                Account.objects.filter(pk__in=ids).update(legacy_auth=None)
                if config.email_notifications_enabled:
                    transaction.on_commit(lambda ids=ids: _send_new_password_links(ids))
            cleared[config.tenant.code] = cleared.get(config.tenant.code, 0) + len(ids)
    return cleared


def _send_new_password_links(account_ids: list[int]) -> None:
    for account_id in account_ids:
        send_password_reset_email.enqueue(account_id, "migration_ended")
