from django.core.management.base import BaseCommand

from accounts.services import api_client_revoke
from core.commands import bad_input
from core.errors import ServiceError


class Command(BaseCommand):
    help = "Deactivate an API client; its tokens stop working at once (immediate revocation)."

    def add_arguments(self, parser):
        parser.add_argument("client_id")

    def handle(self, *args, **options):
        try:
            client = api_client_revoke(client_id=options["client_id"])
        except ServiceError as exc:
            raise bad_input(exc) from exc
        self.stdout.write(f"Revoked API client {client.client_id} ({client.name}).")
