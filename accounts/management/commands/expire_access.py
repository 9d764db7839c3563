"""Run daily (or from the task worker): tidy temporary grants whose window has passed."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts.services.temporary_access import expire_access


class Command(BaseCommand):
    help = (
        "Delete temporary grants whose window has ended and record each as expired in the "
        "access-change log. An expired grant already grants nothing; this only tidies. Running "
        "it again, or twice at once, is harmless."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"expired={expire_access()}")
