from accounts.commands import TenantCommand
from accounts.services.identities import api_client_by_client_id, api_client_deactivate
from core.channels import Channel


class Command(TenantCommand):
    help = "Deactivate an API client; its tokens stop working at once (immediate revocation)."

    def add_tenant_argument(self, parser):
        parser.add_argument("client_id", help="The client's id (cl_…); its tenant is the one.")

    def tenant(self, options):
        return api_client_by_client_id(options["client_id"]).tenant

    def handle_tenant(self, tenant, actor, options):
        client = api_client_by_client_id(options["client_id"])
        api_client_deactivate(actor=actor, channel=Channel.COMMAND, client_pk=client.pk)
        self.stdout.write(f"Revoked API client {client.client_id} ({client.name}).")
