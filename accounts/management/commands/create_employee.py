import sys

from accounts.commands import TenantCommand
from accounts.services.identities import GroupSpec, employee_create
from core.channels import Channel


class Command(TenantCommand):
    help = "Create an employee of a tenant with access groups; the password is read from stdin."

    def add_command_arguments(self, parser):
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

    def handle_tenant(self, tenant, actor, options):
        password = sys.stdin.readline().rstrip("\r\n")
        employee = employee_create(
            actor=actor,
            channel=Channel.COMMAND,
            tenant=tenant,
            username=options["username"],
            password=password,
            groups=[GroupSpec.parse(text) for text in options["group"]],
            is_staff=options["staff"],
            email=options["email"],
        )
        self.stdout.write(
            f"Created employee {employee.username} in {tenant.code} with scopes: "
            f"{' '.join(employee.scope_strings()) or '(none)'}"
        )
