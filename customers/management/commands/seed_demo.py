"""A demo tenant to click through and call. Safe to run again: it keeps what exists, and the
demo API clients keep their secrets (derived from SECRET_KEY, so a running server's tokens keep
working) unless ``--rotate-secrets``; ``--reset`` starts the demo customers over."""

import json
import os
import sys
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils.crypto import salted_hmac
from tqdm import tqdm

from accounts import rowsecurity
from accounts.models import (
    AccessGroup,
    AccessRequest,
    AccessReview,
    ApiClient,
    Employee,
    ProviderGroup,
)
from accounts.principal import Principal
from accounts.services.identities import (
    access_group_save,
    api_client_create,
    api_client_rotate_secret,
    employee_create,
)
from accounts.services.reviews import access_review_start
from accounts.services.sign_in import provider_group_save, provider_save
from accounts.services.temporary_access import access_request_create
from core.channels import Channel
from core.commands import bad_input
from customers.demo import demo_customer_count, demo_reset, seed_customers
from tenancy.models import Restriction, Site, Tenant
from tenancy.services import restriction_parents, tree_changed

TENANT = "demo"


def demo_secret(name: str) -> str:
    """The demo client's secret: derived from SECRET_KEY, so it is the same on every run of
    one installation and unknown to any other."""
    return salted_hmac("seed_demo.client-secret", name, algorithm="sha256").hexdigest()[:43]


# The demo's restriction tree: EU over DE and FR, US on its own.
RESTRICTIONS = {"EU": None, "DE": "EU", "FR": "EU", "US": None}
SITES = ["main", "DE", "FR", "US"]
GROUPS = {
    "de-agents": (["customer.customer_read", "customer.customer_manage"], ["DE"]),
    "fr-agents": (["customer.customer_read", "customer.customer_manage"], ["FR"]),
    "restriction-managers": (["restriction.restriction_manage"], []),
    # A suffix covers the value and everything below it: --EU reads EU, DE and FR customers.
    "eu-leads": (["customer.customer_read"], ["EU"]),
    # Manages DE and FR customers and may move them between the two (not to US, not to none).
    "de-fr-movers": (
        ["customer.customer_read", "customer.customer_manage", "restriction.restriction_manage"],
        ["DE", "FR"],
    ),
    # Employees may activate it themselves in an emergency (break-glass), for a few hours.
    "incident-response": (["customer.customer_read"], ["US"]),
    "admins": (
        [
            "customer.customer_read",
            "customer.customer_manage",
            "restriction.restriction_manage",
            "customer.import_manage",
            "tenant.tenant_manage",
            # (so that the administrators may create audit and provisioning clients: nobody
            # grants beyond their own)
            "audit.audit_read",
            "iam.scim_manage",
        ],
        [],
    ),
}
# Demo-only passwords, printed on purpose; never use seed_demo on a production database.
EMPLOYEES = {
    "admin": ("demo-admin-pass", ["admins"], "tenant administrator: everything in demo"),
    "admin2": ("demo-admin2-pass", ["admins"], "a second tenant administrator (reviews admin)"),
    "de_agent": ("demo-de-pass", ["de-agents"], "reads and manages DE customers"),
    "fr_agent": ("demo-fr-pass", ["fr-agents"], "reads and manages FR customers"),
    "mover": ("demo-mover-pass", ["de-fr-movers"], "manages DE and FR, moves between them"),
    "eu_lead": ("demo-eu-pass", ["eu-leads"], "reads EU and what is below it: DE and FR"),
}
BREAK_GLASS_GROUPS = {"incident-response"}
# What a newcomer finds on the Requests and Access reviews pages.
DEMO_REQUEST = ("fr_agent", "de-agents", "Covering the DE desk while Jana is on holiday.")
DEMO_REVIEW = "Demo access review"
CLIENTS = {
    "demo-unrestricted": [
        "customer.customer_read",
        "customer.customer_manage",
        "restriction.restriction_manage",
        "customer.import_manage",
    ],
    "demo-de-only": ["customer.customer_read--DE", "customer.customer_manage--DE"],
    # Compliance tooling: the audit API (access changes, reviews, restriction history).
    "demo-auditor": ["audit.audit_read"],
    # An identity provider keeping employees and groups in step over SCIM; it may put people
    # into groups that grant DE reading and managing, nothing more.
    "demo-provisioner": [
        "iam.scim_manage",
        "customer.customer_read--DE",
        "customer.customer_manage--DE",
    ],
}


# The demo's company sign-in (make run starts the test identity provider of tools/oidc-provider
# when Node.js is there): who the provider knows, their groups there, and where those map.
SSO_CLIENT = ("customer-service-demo", "demo-identity-provider-secret")
SSO_ACCOUNTS = {
    "ingrid": {
        "email": "ingrid@demo.example",
        "given_name": "Ingrid",
        "family_name": "Desk",
        "groups": ["DE desk"],
    },
}
SSO_GROUPS = {"DE desk": "de-agents", "FR desk": "fr-agents"}


class Command(BaseCommand):
    help = "Seed the demo tenant: restrictions, sites, groups, employees, API clients, customers."

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers",
            type=int,
            default=0,
            help="The demo tenant ends up with at least this many customers.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Remove the customers seeding made (and their history) first: the demo as new. "
            "Customers you created, jobs and identities stay.",
        )
        parser.add_argument(
            "--rotate-secrets",
            action="store_true",
            help="Give the demo API clients new random secrets (their tokens stop working).",
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the server answers, for the printed URLs.",
        )
        parser.add_argument(
            "--identity-provider",
            metavar="ISSUER",
            help="Sign the demo's staff in through the test identity provider at ISSUER (make "
            "run starts it), and write its configuration to --identity-provider-config.",
        )
        parser.add_argument(
            "--identity-provider-config",
            default=".demo-identity-provider.json",
            help="Where the test identity provider's configuration is written.",
        )

    def handle(self, *args, **options):
        if options["customers"] < 0:
            raise bad_input("--customers must be 0 or more.")
        # (the demo tenant may not exist yet: its identities and their access-change log are
        # written in the platform's context, audited)
        with rowsecurity.row_context(rowsecurity.ALL_TENANTS, reason="seed_demo's identities"):
            tenant, secrets = self.seed_access(rotate=options["rotate_secrets"])
        context = rowsecurity.RowContext.whole_tenant(tenant.pk)
        with rowsecurity.session_context(context, reason="seed_demo"):
            if options["reset"]:
                removed = demo_reset(tenant)
                self.stdout.write(f"Demo reset: {removed:,} customers removed.")
            created = self.seed_customers(tenant, options["customers"])
        if options["identity_provider"]:
            with rowsecurity.row_context(rowsecurity.ALL_TENANTS, reason="seed_demo's sign-in"):
                self.seed_sign_in(
                    tenant,
                    options["identity_provider"].rstrip("/"),
                    options["base_url"].rstrip("/"),
                    options["identity_provider_config"],
                )
        try:
            with rowsecurity.row_context(context, reason="seed_demo's summary"):
                self.report(tenant, secrets, created, options["base_url"].rstrip("/"))
            self.stdout.flush()  # a closed reader shows here, not at interpreter exit
        except BrokenPipeError:
            # The reader went away (``seed_demo | head -1``): what was seeded stays committed;
            # send the rest of the output nowhere so the exit-time flush cannot fail either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def seed_access(self, *, rotate: bool):
        tenant, _ = Tenant.objects.get_or_create(
            code=TENANT, defaults={"name": "Demo Tenant", "sync_restrictions_with_sites": True}
        )
        for code in SITES:
            Site.objects.get_or_create(tenant=tenant, code=code)
        values = {
            code: Restriction.objects.get_or_create(tenant=tenant, code=code)[0]
            for code in RESTRICTIONS
        }
        if restriction_parents(tenant.pk) != RESTRICTIONS:
            for code, parent in RESTRICTIONS.items():
                values[code].parent = values[parent] if parent else None
                values[code].save(update_fields=["parent"])
            tree_changed(tenant.pk)
        # Demo identities are made through the identity services (recorded, as the operator
        # seed_demo) when missing; what exists is left as it is, whoever changed it since.
        operator = Principal.operator(tenant, "seed_demo")
        groups = {}
        for name, (scopes, restrictions) in GROUPS.items():
            group = AccessGroup.objects.in_tenant_of(operator).filter(name=name).first()
            groups[name] = group or access_group_save(
                actor=operator,
                channel=Channel.COMMAND,
                tenant=tenant,
                group_pk=None,
                name=name,
                scopes=scopes,
                restrictions=restrictions,
                break_glass=name in BREAK_GLASS_GROUPS,
            )
        existing = set(Employee.objects.in_tenant_of(operator).values_list("username", flat=True))
        for username, (password, group_names, _) in EMPLOYEES.items():
            if username not in existing:
                employee_create(
                    actor=operator,
                    channel=Channel.COMMAND,
                    tenant=tenant,
                    username=username,
                    password=password,
                    groups=[groups[name] for name in group_names],
                    is_staff=True,
                    email=f"{username}@demo.example",
                )
        secrets = {}
        for name, scopes in CLIENTS.items():
            client = ApiClient.objects.filter(tenant=tenant, name=name).first()
            wanted = None if rotate else demo_secret(name)
            if client is None:
                new = api_client_create(
                    actor=operator,
                    channel=Channel.COMMAND,
                    tenant=tenant,
                    name=name,
                    scopes=scopes,
                    secret=wanted,
                )
                client, secret = new.client, new.secret
            elif wanted is not None and client.check_secret(wanted):
                secret = wanted  # unchanged: tokens already handed out keep working
            else:
                secret = api_client_rotate_secret(
                    actor=operator, channel=Channel.COMMAND, client_pk=client.pk, secret=wanted
                )
            secrets[name] = (client.client_id, secret)
        self.seed_access_over_time(tenant, groups)
        return tenant, secrets

    def seed_access_over_time(self, tenant, groups) -> None:
        """One request waiting for the administrator and one open review (unless there are)."""
        username, group, reason = DEMO_REQUEST
        requester = Employee.objects.get(username=username)
        asked = AccessRequest.objects.filter(requester=requester, group=groups[group])
        if not asked.exists():  # (once: a decided request stays decided)
            access_request_create(
                actor=Principal.for_employee(requester, tenant),
                channel=Channel.COMMAND,
                group=groups[group],
                duration=timedelta(hours=4),
                reason=reason,
            )
        reviews = AccessReview.objects.filter(tenant=tenant, status=AccessReview.Status.OPEN)
        if (
            not reviews.exists()
            and not AccessReview.objects.filter(tenant=tenant, name=DEMO_REVIEW).exists()
        ):
            # Two reviewers: each administrator's line goes to the other, so it can close.
            admins = list(Employee.objects.filter(tenant=tenant, username__in=["admin", "admin2"]))
            access_review_start(
                actor=Principal.for_employee(admins[0], tenant),
                channel=Channel.COMMAND,
                tenant=tenant,
                name=DEMO_REVIEW,
                reviewers=admins,
            )

    def seed_customers(self, tenant, count: int) -> int:
        """Top the demo tenant up to ``count`` customers (running again adds none), one
        committed batch at a time, with a progress bar on a terminal."""
        missing = count - demo_customer_count(tenant)
        if missing <= 0:
            return 0
        with tqdm(total=missing, unit="customer", file=sys.stderr, disable=None) as progress:
            return seed_customers(tenant, missing, on_batch=progress.update)

    def seed_sign_in(self, tenant, issuer: str, base: str, config_path: str) -> None:
        """The demo tenant signs in through the test identity provider (passwords still work);
        its groups map onto the demo's desks; someone new is created on first sign-in."""
        operator = Principal.operator(tenant, "seed_demo")
        client_id, secret = SSO_CLIENT
        provider_save(
            actor=operator,
            channel=Channel.COMMAND,
            tenant=tenant,
            fields={
                "name": "Demo IdP",
                "issuer": issuer,
                "client_id": client_id,
                "client_secret": secret,
                "create_employees": True,
            },
        )
        mapped = set(
            ProviderGroup.objects.in_tenant_of(operator).values_list("name", "access_group__name")
        )
        for provider_group, group_name in SSO_GROUPS.items():
            if (provider_group, group_name) not in mapped:
                provider_group_save(
                    actor=operator,
                    channel=Channel.COMMAND,
                    tenant=tenant,
                    mapping_pk=None,
                    name=provider_group,
                    access_group=AccessGroup.objects.in_tenant_of(operator).get(name=group_name),
                )
        port = int(issuer.rsplit(":", 1)[1]) if issuer.count(":") == 2 else 80
        config = {
            "port": port,
            "issuer": issuer,
            "clients": [
                {
                    "client_id": client_id,
                    "client_secret": secret,
                    "redirect_uris": [f"{base}/sso/{TENANT}/callback"],
                }
            ],
            "accounts": SSO_ACCOUNTS,
        }
        with open(config_path, "w", encoding="utf-8") as file:
            json.dump(config, file, indent=2)
        self.sign_in_note = (
            f"Company sign-in ({base}/sso/{TENANT}/, or 'Company sign-in' on the sign-in page "
            f"with tenant code {TENANT}): 'Sign in with Demo IdP', then log in at the provider "
            "as ingrid (any password): she becomes an employee with the DE desk's access."
        )

    def report(self, tenant, secrets, created: int, base: str) -> None:
        write = self.stdout.write
        write(f"Demo tenant '{TENANT}' ready ({created:,} customers added).")
        write("")
        write(f"Back office ({base}/admin/):")
        for username, (password, _, role) in EMPLOYEES.items():
            write(f"  {username:10} / {password:16} {role}")
        pending = AccessRequest.objects.filter(tenant=tenant, status=AccessRequest.Status.PENDING)
        for request in pending.select_related("requester", "group").order_by("pk")[:3]:
            write(
                f"  Waiting for a tenant administrator: {request.requester.username}'s request "
                f"for {request.what} ({base}/admin/accounts/accessrequest/)."
            )
        open_reviews = AccessReview.objects.filter(
            tenant=tenant, status=AccessReview.Status.OPEN
        ).order_by("pk")
        for review in open_reviews[:3]:
            write(
                f"  Open access review “{review.name}” ({base}/admin/accounts/accessreview/)"
                + (
                    ": admin and admin2 decide each other's lines."
                    if review.name == DEMO_REVIEW
                    else "."
                )
            )
        write("")
        write("API clients (the same secrets on every run; seed_demo --rotate-secrets for new):")
        for name, (client_id, secret) in secrets.items():
            write(f"  {name}: client_id={client_id} client_secret={secret}")
        client_id, secret = secrets["demo-unrestricted"]
        write("")
        write("Get a token into $TOKEN and list customers (paste line by line):")
        write(
            f"  TOKEN=$(curl -s -X POST {base}/oauth/token -d grant_type=client_credentials "
            f"-d client_id={client_id} -d client_secret={secret} "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
        )
        write(
            "  curl -s -H 'X-Total-Count: true' -H \"Authorization: Bearer $TOKEN\" "
            f"{base}/customer/{TENANT}/customers?pageSize=2"
        )
        client_id, secret = secrets["demo-auditor"]
        write("")
        write("The audit API, as compliance tooling calls it (demo-auditor: audit.audit_read):")
        write(
            f"  AUDIT=$(curl -s -X POST {base}/oauth/token -d grant_type=client_credentials "
            f"-d client_id={client_id} -d client_secret={secret} "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
        )
        write(
            f'  curl -s -H "Authorization: Bearer $AUDIT" {base}/iam/{TENANT}/access-changes'
            "?pageSize=3"
        )
        client_id, secret = secrets["demo-provisioner"]
        write("")
        write("SCIM provisioning, as an identity provider calls it (demo-provisioner):")
        write(
            f"  SCIM=$(curl -s -X POST {base}/oauth/token -d grant_type=client_credentials "
            f"-d client_id={client_id} -d client_secret={secret} "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
        )
        write(
            f'  curl -s -H "Authorization: Bearer $SCIM" '
            f"'{base}/scim/v2/{TENANT}/Users?filter=userName%20eq%20%22de_agent%22'"
        )
        if getattr(self, "sign_in_note", None):
            write("")
            write(self.sign_in_note)
        write("")
        write(f"API documentation: {base}/api/docs/   (the walkthrough: README.md)")
