"""``migrate`` as the tables' owner (``MIGRATION_DATABASE_URL``) when one is configured; the
service's role then gets its row privileges on what the migrations created (core.roles)."""

from django.core.management.commands.migrate import Command as DjangoMigrate

from core.roles import as_database_owner, grant_service_privileges


class Command(DjangoMigrate):
    help = f"{DjangoMigrate.help} Runs as the owner given by MIGRATION_DATABASE_URL, if set."

    def handle(self, *args, **options):
        with as_database_owner(options["database"]) as service_role:
            super().handle(*args, **options)
            if service_role:
                grant_service_privileges(service_role, options["database"])
