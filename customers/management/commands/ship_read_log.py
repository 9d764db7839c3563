"""Ship the read-access log's journal files left by processes that are gone (after a crash or
a restart; running servers ship their own)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from core.commands import bad_input
from customers import read_log_journal


class Command(BaseCommand):
    help = (
        "Ship into the read-access log the lines waiting in READ_LOG_JOURNAL's files whose "
        "process is gone (a running server ships its own every second). Running it again, or "
        "beside running servers, is harmless: a line is shipped once."
    )

    def handle(self, *args, **options):
        if not read_log_journal.enabled():
            raise bad_input("READ_LOG_JOURNAL is not set: the read log writes no journal.")
        shipped = read_log_journal.ship_orphans()
        self.stdout.write(f"shipped={shipped}")
