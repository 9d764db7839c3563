"""Explain what an employee or API client may do with a customer (or a restriction value)."""

from __future__ import annotations

from accounts.commands import TenantCommand
from accounts.models import ApiClient, Employee
from core.errors import InvalidInput
from customers.access import explain_access
from customers.models import Customer


class Command(TenantCommand):
    help = (
        "Whether an employee or API client may read, manage and change the restriction of a "
        "customer (or of customers with a restriction value), and which access group or scope "
        "decides it."
    )

    operator_name = "explain_access"

    def add_command_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--employee", help="Username.")
        who.add_argument("--client", help="API client id (cl_…).")
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--customer", help="Customer number.")
        what.add_argument("--restriction", help="A restriction value; 'null' for none.")

    def handle_tenant(self, tenant, actor, options):
        if options["employee"]:
            identity = Employee.objects.filter(tenant=tenant, username=options["employee"]).first()
            if identity is None:
                raise InvalidInput(f"No employee {options['employee']!r} in {tenant.code}.")
        else:
            identity = ApiClient.objects.filter(tenant=tenant, client_id=options["client"]).first()
            if identity is None:
                raise InvalidInput(f"No API client {options['client']!r} in {tenant.code}.")
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
        elif options["restriction"] != "null":
            restriction = options["restriction"]
            if not tenant.restrictions.filter(code=restriction).exists():
                raise InvalidInput(f"{restriction!r} is not a restriction of {tenant.code}.")

        explanation = explain_access(
            identity=identity, tenant=tenant, customer=customer, restriction=restriction
        )
        self.stdout.write(f"{explanation.subject} and {explanation.target}:")
        for verdict in explanation.verdicts:
            self.stdout.write(f"  may {verdict.label}: {'yes' if verdict.allowed else 'no'}")
            for reason in verdict.reasons:
                self.stdout.write(f"    - {reason}")
