"""Run daily (cron or a scheduler): the read-access log's upkeep."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from customers import read_log_store


class Command(BaseCommand):
    help = (
        "File the read-access log's waiting lines, make its monthly partitions ahead, and drop "
        "each month whose lines are all past their tenant's retention (PostgreSQL, as the "
        "owner of MIGRATION_DATABASE_URL when set; on SQLite the past lines are deleted). "
        "Running it again, or twice at once, is harmless."
    )

    def handle(self, *args, **options):
        self.stdout.write(str(read_log_store.keep()))
