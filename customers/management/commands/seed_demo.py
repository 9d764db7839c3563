"""A demo tenant to click through and call. Safe to run again: it keeps what exists
and issues fresh secrets for the demo API clients."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import AccessGroup, ApiClient, Employee
from accounts.services import api_client_create, api_client_rotate_secret
from config.commands import bad_input
from customers.demo import seed_customers
from customers.models import Customer
from tenancy.models import Restriction, Site, Tenant

TENANT = "demo"
RESTRICTIONS = ["DE", "FR", "US"]
GROUPS = {
    "de-agents": (["customer.customer_read", "customer.customer_manage"], ["DE"]),
    "fr-agents": (["customer.customer_read", "customer.customer_manage"], ["FR"]),
    "restriction-managers": (["restriction.restriction_manage"], []),
    "admins": (
        [
            "customer.customer_read",
            "customer.customer_manage",
            "restriction.restriction_manage",
            "customer.import_manage",
            "tenant.tenant_manage",
        ],
        [],
    ),
}
# Demo-only passwords, printed on purpose; never use seed_demo on a production database.
EMPLOYEES = {
    "admin": ("demo-admin-pass", ["admins"]),
    "de_agent": ("demo-de-pass", ["de-agents"]),
    "fr_agent": ("demo-fr-pass", ["fr-agents"]),
}
CLIENTS = {
    "demo-unrestricted": [
        "customer.customer_read",
        "customer.customer_manage",
        "restriction.restriction_manage",
        "customer.import_manage",
    ],
    "demo-de-only": ["customer.customer_read--DE", "customer.customer_manage--DE"],
}


class Command(BaseCommand):
    help = "Seed the demo tenant: restrictions, sites, groups, employees, API clients, customers."

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers",
            type=int,
            default=0,
            help="The demo tenant ends up with at least this many customers.",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        tenant, _ = Tenant.objects.get_or_create(
            code=TENANT, defaults={"name": "Demo Tenant", "sync_restrictions_with_sites": True}
        )
        for code in ["main", *RESTRICTIONS]:
            Site.objects.get_or_create(tenant=tenant, code=code)
        for code in RESTRICTIONS:
            Restriction.objects.get_or_create(tenant=tenant, code=code)
        groups = {
            name: AccessGroup.objects.update_or_create(
                tenant=tenant, name=name, defaults={"scopes": scopes, "restrictions": restrictions}
            )[0]
            for name, (scopes, restrictions) in GROUPS.items()
        }
        for username, (password, group_names) in EMPLOYEES.items():
            employee, _ = Employee.objects.get_or_create(
                username=username, defaults={"tenant": tenant, "is_staff": True}
            )
            employee.set_password(password)
            employee.save()
            employee.access_groups.set([groups[name] for name in group_names])
        secrets = {}
        for name, scopes in CLIENTS.items():
            client = ApiClient.objects.filter(tenant=tenant, name=name).first()
            if client is None:
                new = api_client_create(tenant=tenant, name=name, scopes=scopes)
                client, secret = new.client, new.secret
            else:
                secret = api_client_rotate_secret(client=client)
            secrets[name] = (client.client_id, secret)

        created = self.seed_customers(tenant, options["customers"])
        self.report(secrets, created)

    def seed_customers(self, tenant, count: int) -> int:
        """Top the demo tenant up to ``count`` customers (running again adds none)."""
        if count < 0:
            raise bad_input("--customers must be 0 or more.")
        missing = count - Customer.objects.filter(tenant=tenant).count()
        return seed_customers(tenant, missing) if missing > 0 else 0

    def report(self, secrets, created: int) -> None:
        write = self.stdout.write
        write(f"Demo tenant '{TENANT}' ready ({created} customers added).")
        write("")
        write("Admin (http://127.0.0.1:8000/admin/):")
        for username, (password, groups) in EMPLOYEES.items():
            write(f"  {username:10} / {password:16} groups: {', '.join(groups)}")
        write("")
        write("API clients (secrets are new on every run):")
        for name, (client_id, secret) in secrets.items():
            write(f"  {name}: client_id={client_id} client_secret={secret}")
        client_id, secret = secrets["demo-unrestricted"]
        write("")
        write("Get a token and list customers:")
        write(
            "  curl -s -X POST http://127.0.0.1:8000/oauth/token "
            f"-d grant_type=client_credentials -d client_id={client_id} "
            f"-d client_secret={secret}"
        )
        write(
            "  curl -s -H 'X-Total-Count: true' -H \"Authorization: Bearer $TOKEN\" "
            f"http://127.0.0.1:8000/customer/{TENANT}/customers"
        )
