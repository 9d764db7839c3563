"""Explain what an employee or API client may do with a customer (or a restriction value);
without an identity, who may read, manage and move it."""

from __future__ import annotations

import json

from accounts.commands import TenantCommand
from accounts.models import ApiClient, Employee
from core.errors import InvalidInput
from customers.access import explain_access, who_has_access
from customers.models import Customer


class Command(TenantCommand):
    help = (
        "Whether an employee or API client may read, manage and change the restriction of a "
        "customer (or of customers with a restriction value), and which access group or scope "
        "decides it. Without --employee or --client: every active employee and API client of "
        "the tenant with its answers (who can see this customer?)."
    )

    operator_name = "explain_access"

    def add_command_arguments(self, parser):
        who = parser.add_mutually_exclusive_group()
        who.add_argument("--employee", help="Username.")
        who.add_argument("--client", help="API client id (cl_…).")
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--customer", help="Customer number.")
        what.add_argument("--restriction", help="A restriction value; 'null' for none.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Without an identity: a JSON list of {kind, name, read, manage, assign, because}.",
        )

    def handle_tenant(self, tenant, actor, options):
        identity = self.identity(actor, options)
        customer = restriction = None
        if options["customer"]:
            # Looked up as the command's actor (the operator sees the whole tenant), not as the
            # identity being explained.
            customer = (
                Customer.objects.visible_to(actor)
                .filter(customer_number=options["customer"])
                .first()
            )
            if customer is None:
                raise InvalidInput(f"No customer {options['customer']!r} in {tenant.code}.")
            restriction = customer.restriction
        elif options["restriction"] != "null":
            restriction = options["restriction"]
            if not tenant.restrictions.filter(code=restriction).exists():
                raise InvalidInput(f"{restriction!r} is not a restriction of {tenant.code}.")
        if identity is None:
            self.everyone(tenant, restriction, options)
            return
        explanation = explain_access(
            identity=identity, tenant=tenant, customer=customer, restriction=restriction
        )
        self.stdout.write(f"{explanation.subject} and {explanation.target}:")
        for verdict in explanation.verdicts:
            self.stdout.write(f"  may {verdict.label}: {'yes' if verdict.allowed else 'no'}")
            for reason in verdict.reasons:
                self.stdout.write(f"    - {reason}")

    def identity(self, actor, options):
        tenant = actor.tenant_code
        if options["employee"]:
            employees = Employee.objects.in_tenant_of(actor)
            identity = employees.filter(username=options["employee"]).first()
            if identity is None:
                raise InvalidInput(f"No employee {options['employee']!r} in {tenant}.")
            return identity
        if options["client"]:
            clients = ApiClient.objects.in_tenant_of(actor)
            identity = clients.filter(client_id=options["client"]).first()
            if identity is None:
                raise InvalidInput(f"No API client {options['client']!r} in {tenant}.")
            return identity
        return None

    def everyone(self, tenant, restriction, options) -> None:
        answers = who_has_access(tenant=tenant, restriction=restriction)
        if options["json"]:
            self.stdout.write(json.dumps([answer.as_dict() for answer in answers], indent=2))
            return
        value = restriction if restriction is not None else "no restriction"
        self.stdout.write(f"Who may do what with customers of {value} in {tenant.code}:")
        for answer in answers:
            rights = [
                name
                for name, allowed in (
                    ("read", answer.read),
                    ("manage", answer.manage),
                    ("change restriction", answer.assign),
                )
                if allowed
            ]
            self.stdout.write(f"  {answer.label}: {', '.join(rights) or 'nothing'}")
            for reason in answer.because:
                self.stdout.write(f"    - {reason}")
