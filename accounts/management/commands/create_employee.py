import sys

from django.core.management.base import BaseCommand

from accounts.principal import Principal
from accounts.services import GroupSpec, employee_create, tenant_by_code
from core.channels import Channel
from core.commands import bad_input
from core.errors import ServiceError


class Command(BaseCommand):
    help = "Create an employee of a tenant with access groups; the password is read from stdin."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--username", required=True)
        parser.add_argument("--password-stdin", action="store_true", required=True)
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            help="NAME (existing group) or NAME:scope,scope[:R1,R2]; repeatable.",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--staff", action="store_true", help="May log into the admin.")
        parser.add_argument("--actor", default="operator", help="Who runs it, for the audit.")

    def handle(self, *args, **options):
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            tenant = tenant_by_code(options["tenant"])
            employee = employee_create(
                actor=Principal.operator(tenant, options["actor"]),
                channel=Channel.COMMAND,
                tenant=tenant,
                username=options["username"],
                password=password,
                groups=[GroupSpec.parse(text) for text in options["group"]],
                is_staff=options["staff"],
                email=options["email"],
            )
        except ServiceError as exc:
            raise bad_input(exc) from exc
        self.stdout.write(
            f"Created employee {employee.username} in {employee.tenant.code} with scopes: "
            f"{' '.join(employee.scope_strings()) or '(none)'}"
        )
