"""A demo tenant to click through and call. Safe to run again: it keeps what exists
and issues fresh secrets for the demo API clients."""

import os
import sys

from django.core.management.base import BaseCommand
from django.db import transaction
from tqdm import tqdm

from accounts import rowsecurity
from accounts.models import AccessGroup, ApiClient, Employee
from accounts.principal import Principal
from accounts.services import api_client_create, api_client_rotate_secret
from core.channels import Channel
from core.commands import bad_input
from customers.demo import demo_customer_count, seed_customers
from tenancy.models import Restriction, Site, Tenant

TENANT = "demo"
RESTRICTIONS = ["DE", "FR", "US"]
GROUPS = {
    "de-agents": (["customer.customer_read", "customer.customer_manage"], ["DE"]),
    "fr-agents": (["customer.customer_read", "customer.customer_manage"], ["FR"]),
    "restriction-managers": (["restriction.restriction_manage"], []),
    # Manages DE and FR customers and may move them between the two (not to US, not to none).
    "de-fr-movers": (
        ["customer.customer_read", "customer.customer_manage", "restriction.restriction_manage"],
        ["DE", "FR"],
    ),
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
    "admin": ("demo-admin-pass", ["admins"], "tenant administrator: everything in demo"),
    "de_agent": ("demo-de-pass", ["de-agents"], "reads and manages DE customers"),
    "fr_agent": ("demo-fr-pass", ["fr-agents"], "reads and manages FR customers"),
    "mover": ("demo-mover-pass", ["de-fr-movers"], "manages DE and FR, moves between them"),
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

    def handle(self, *args, **options):
        if options["customers"] < 0:
            raise bad_input("--customers must be 0 or more.")
        with transaction.atomic():
            tenant, secrets = self.seed_access()
        context = rowsecurity.RowContext.whole_tenant(tenant.pk)
        with rowsecurity.session_context(context, reason="seed_demo"):
            created = self.seed_customers(tenant, options["customers"])
        try:
            self.report(secrets, created)
            self.stdout.flush()  # a closed reader shows here, not at interpreter exit
        except BrokenPipeError:
            # The reader went away (``seed_demo | head -1``): what was seeded stays committed;
            # send the rest of the output nowhere so the exit-time flush cannot fail either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def seed_access(self):
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
        for username, (password, group_names, _) in EMPLOYEES.items():
            employee, _ = Employee.objects.get_or_create(
                username=username, defaults={"tenant": tenant, "is_staff": True}
            )
            employee.set_password(password)
            employee.save()
            employee.access_groups.set([groups[name] for name in group_names])
        secrets = {}
        operator = Principal.operator(tenant, "seed_demo")
        for name, scopes in CLIENTS.items():
            client = ApiClient.objects.filter(tenant=tenant, name=name).first()
            if client is None:
                new = api_client_create(
                    actor=operator, channel=Channel.COMMAND, tenant=tenant, name=name, scopes=scopes
                )
                client, secret = new.client, new.secret
            else:
                secret = api_client_rotate_secret(
                    actor=operator, channel=Channel.COMMAND, client_pk=client.pk
                )
            secrets[name] = (client.client_id, secret)
        return tenant, secrets

    def seed_customers(self, tenant, count: int) -> int:
        """Top the demo tenant up to ``count`` customers (running again adds none), one
        committed batch at a time, with a progress bar on a terminal."""
        missing = count - demo_customer_count(tenant)
        if missing <= 0:
            return 0
        with tqdm(total=missing, unit="customer", file=sys.stderr, disable=None) as progress:
            return seed_customers(tenant, missing, on_batch=progress.update)

    def report(self, secrets, created: int) -> None:
        write = self.stdout.write
        write(f"Demo tenant '{TENANT}' ready ({created} customers added).")
        write("")
        write("Admin (http://127.0.0.1:8000/admin/):")
        for username, (password, _, role) in EMPLOYEES.items():
            write(f"  {username:10} / {password:16} {role}")
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
