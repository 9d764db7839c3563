"""Explain what an employee or API client may do with a customer (or a restriction value)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import rowsecurity
from accounts.models import ApiClient, Employee
from accounts.principal import Principal
from core.commands import bad_input
from customers.access import explain_access
from customers.models import Customer
from tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Whether an employee or API client may read, manage and change the restriction of a "
        "customer (or of customers with a restriction value), and which access group or scope "
        "decides it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--employee", help="Username.")
        who.add_argument("--client", help="API client id (cl_…).")
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--customer", help="Customer number.")
        what.add_argument("--restriction", help="A restriction value; 'null' for none.")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(code=options["tenant"]).first()
        if tenant is None:
            raise bad_input(f"Unknown tenant {options['tenant']!r}.")
        if options["employee"]:
            identity = Employee.objects.filter(tenant=tenant, username=options["employee"]).first()
            if identity is None:
                raise bad_input(f"No employee {options['employee']!r} in {tenant.code}.")
        else:
            identity = ApiClient.objects.filter(tenant=tenant, client_id=options["client"]).first()
            if identity is None:
                raise bad_input(f"No API client {options['client']!r} in {tenant.code}.")

        context = rowsecurity.RowContext.whole_tenant(tenant.pk)
        with rowsecurity.session_context(context, reason="explain_access"):
            self.explain(tenant, identity, options)

    def explain(self, tenant, identity, options) -> None:
        customer = restriction = None
        if options["customer"]:
            # The operator sees the whole tenant; the command is the operator's, not the subject's.
            operator = Principal.operator(tenant, "explain_access")
            customer = (
                Customer.objects.visible_to(operator)
                .filter(customer_number=options["customer"])
                .first()
            )
            if customer is None:
                raise bad_input(f"No customer {options['customer']!r} in {tenant.code}.")
        elif options["restriction"] != "null":
            restriction = options["restriction"]
            if not tenant.restrictions.filter(code=restriction).exists():
                raise bad_input(f"{restriction!r} is not a restriction of {tenant.code}.")

        explanation = explain_access(
            identity=identity, tenant=tenant, customer=customer, restriction=restriction
        )
        self.stdout.write(f"{explanation.subject} and {explanation.target}:")
        for verdict in explanation.verdicts:
            self.stdout.write(f"  may {verdict.label}: {'yes' if verdict.allowed else 'no'}")
            for reason in verdict.reasons:
                self.stdout.write(f"    - {reason}")
