from django.core.management.base import BaseCommand

from core.commands import bad_input
from core.errors import ServiceError
from tenancy.services import tenant_create


def comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Create a tenant with its valid restrictions and sites."

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--name", required=True)
        parser.add_argument("--restrictions", type=comma_list, default=[])
        parser.add_argument("--sites", type=comma_list, default=[])
        parser.add_argument("--sync-restrictions-with-sites", action="store_true")

    def handle(self, *args, **options):
        try:
            tenant = tenant_create(
                code=options["code"],
                name=options["name"],
                restrictions=options["restrictions"],
                sites=options["sites"],
                sync_restrictions_with_sites=options["sync_restrictions_with_sites"],
            )
        except ServiceError as exc:
            raise bad_input(exc) from exc
        self.stdout.write(f"Created tenant {tenant.code}.")
