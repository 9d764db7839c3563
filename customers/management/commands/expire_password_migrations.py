"""Run daily: clear the legacy credentials of tenants whose password-migration window ended."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import rowsecurity
from customers import services


class Command(BaseCommand):
    help = (
        "Where a tenant's password-migration retention window has ended, clear the imported "
        "legacy credentials and (when the tenant's migration e-mails are on) send those "
        "customers a link to choose a new password. Run it daily; running it again is harmless."
    )

    def handle(self, *args, **options):
        context = rowsecurity.ALL_TENANTS
        with rowsecurity.session_context(context, reason="expire_password_migrations"):
            cleared = services.password_migrations_expire()
        for code, count in sorted(cleared.items()):
            self.stdout.write(f"{code}: cleared legacy credentials of {count} accounts")
        self.stdout.write(f"cleared={sum(cleared.values())} tenants={len(cleared)}")
