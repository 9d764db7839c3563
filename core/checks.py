"""System checks about the database the service runs on (``manage.py check --database
default``; ``migrate`` runs them too)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.db import connections

DISTRIBUTED_TABLE = "customers_customer"


@checks.register(checks.Tags.database)
def distributed_as_configured(app_configs=None, databases=None, **kwargs):
    """``DATABASE_DISTRIBUTED`` says whether the customer tables are distributed (Citus): the
    row-security binding depends on it."""
    if not databases or "default" not in databases:
        return []
    connection = connections["default"]
    distributed = connection.vendor == "postgresql" and _distributed(connection)
    if distributed and not settings.DATABASE_DISTRIBUTED:
        return [
            checks.Error(
                "The customer tables are distributed (Citus) but DATABASE_DISTRIBUTED is not "
                "set: the service would bind its row-security context in the same query as "
                "other statements, which Citus would also run on the workers.",
                hint="Set DATABASE_DISTRIBUTED=1 in the service's environment.",
                id="core.E001",
            )
        ]
    if settings.DATABASE_DISTRIBUTED and not distributed:
        return [
            checks.Warning(
                "DATABASE_DISTRIBUTED is set but the customer tables are not distributed: each "
                "request binds its row-security context by a query of its own (one round trip "
                "more than it needs).",
                hint="Run manage.py distribute_tenants on a Citus coordinator, or unset it.",
                id="core.W001",
            )
        ]
    return []


def _distributed(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
        if cursor.fetchone() is None:
            return False
        cursor.execute(
            "SELECT 1 FROM pg_dist_partition WHERE logicalrelid::regclass::text = %s",
            [DISTRIBUTED_TABLE],
        )
        return cursor.fetchone() is not None
