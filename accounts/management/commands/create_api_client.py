import json

from django.core.management.base import BaseCommand

from accounts.principal import Principal
from accounts.scopes import split_scope_string
from accounts.services import api_client_create, tenant_by_code
from core.channels import Channel
from core.commands import bad_input
from core.errors import ServiceError


class Command(BaseCommand):
    help = "Create an API client; prints its client_id and client_secret (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help='Space-separated, e.g. "s1 s2--DE".')
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
        parser.add_argument("--actor", default="operator", help="Who runs it, for the audit.")

    def handle(self, *args, **options):
        try:
            tenant = tenant_by_code(options["tenant"])
            created = api_client_create(
                actor=Principal.operator(tenant, options["actor"]),
                channel=Channel.COMMAND,
                tenant=tenant,
                name=options["name"],
                scopes=split_scope_string(options["scopes"]),
            )
        except ServiceError as exc:
            raise bad_input(exc) from exc
        result = {
            "client_id": created.client.client_id,
            "client_secret": created.secret,
            "tenant": created.client.tenant.code,
            "scopes": created.client.scopes,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"client_id={result['client_id']}")
            self.stdout.write(f"client_secret={result['client_secret']}")
