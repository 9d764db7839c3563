from django.core.management.base import BaseCommand

from accounts.principal import Principal
from accounts.services import api_client_by_client_id, api_client_deactivate
from core.channels import Channel
from core.commands import bad_input
from core.errors import ServiceError


class Command(BaseCommand):
    help = "Deactivate an API client; its tokens stop working at once (immediate revocation)."

    def add_arguments(self, parser):
        parser.add_argument("client_id")
        parser.add_argument("--actor", default="operator", help="Who runs it, for the audit.")

    def handle(self, *args, **options):
        try:
            client = api_client_by_client_id(options["client_id"])
            api_client_deactivate(
                actor=Principal.operator(client.tenant, options["actor"]),
                channel=Channel.COMMAND,
                client_pk=client.pk,
            )
        except ServiceError as exc:
            raise bad_input(exc) from exc
        self.stdout.write(f"Revoked API client {client.client_id} ({client.name}).")
