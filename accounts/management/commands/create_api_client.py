import json

from accounts.commands import TenantCommand
from accounts.scopes import split_scope_string
from accounts.services.identities import api_client_create
from core.channels import Channel


class Command(TenantCommand):
    help = "Create an API client; prints its client_id and client_secret (shown only once)."

    def add_command_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help='Space-separated, e.g. "s1 s2--DE".')
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle_tenant(self, tenant, actor, options):
        created = api_client_create(
            actor=actor,
            channel=Channel.COMMAND,
            tenant=tenant,
            name=options["name"],
            scopes=split_scope_string(options["scopes"]),
        )
        result = {
            "client_id": created.client.client_id,
            "client_secret": created.secret,
            "tenant": tenant.code,
            "scopes": created.client.scopes,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"client_id={result['client_id']}")
            self.stdout.write(f"client_secret={result['client_secret']}")
