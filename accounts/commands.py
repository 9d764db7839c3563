"""The management commands' edge: one tenant, one principal, row security bound for the run.

A :class:`TenantCommand` takes ``--tenant CODE`` and ``--actor USERNAME`` (an active employee of
that tenant, or a platform superuser; without it, the tenant's operator, who holds every scope).
It resolves them to one :class:`Principal` (:func:`command_principal`), binds the database's
row security to that principal for the whole run, and hands both to ``handle_tenant``. Every
refusal — an unknown tenant or actor, a service's refusal — ends the command with exit status 2
and one message, never a traceback. Subclasses cannot redefine ``handle``: a command that forgot
to bind would work on SQLite and see nothing on PostgreSQL.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import rowsecurity
from accounts.models import Employee
from accounts.principal import Principal
from core.commands import bad_input
from core.errors import InvalidInput, ServiceError
from core.guards import refuse_overrides
from tenancy.models import Tenant


def command_principal(tenant: Tenant, username: str | None, operator: str = "operator"):
    """The principal a command acts as in ``tenant``: the named employee with their rights
    now, or the tenant's operator."""
    if not username:
        return Principal.operator(tenant, operator)
    with rowsecurity.signing_in():  # (row security: the actor is not known yet)
        employee = Employee.objects.filter(username=username, is_active=True).first()
        if employee is None or not (employee.is_superuser or employee.tenant_id == tenant.pk):
            raise InvalidInput(f"Unknown actor {username!r} in tenant {tenant.code}.")
        return Principal.for_employee(employee, tenant)


class TenantCommand(BaseCommand):
    operator_name = "operator"  # the audit's name for the operator (no --actor)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        refuse_overrides(cls, frozenset({"handle"}), "TenantCommand", "implement handle_tenant")

    def add_arguments(self, parser):
        self.add_tenant_argument(parser)
        parser.add_argument(
            "--actor",
            help="Username of the employee to act as, with their rights (default: the "
            "tenant's operator, who holds every scope).",
        )
        self.add_command_arguments(parser)

    def add_tenant_argument(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's code.")

    def add_command_arguments(self, parser):
        """The command's own arguments."""

    def tenant(self, options) -> Tenant:
        tenant = Tenant.objects.filter(code=options["tenant"]).first()
        if tenant is None:
            raise InvalidInput(f"Unknown tenant {options['tenant']!r}.")
        return tenant

    def handle(self, *args, **options):
        try:
            tenant = self.tenant(options)
            actor = command_principal(tenant, options["actor"], self.operator_name)
            context = rowsecurity.RowContext.of(actor)
            reason = f"{self.command_name()} as {actor.kind} {actor.name or actor.id}"
            with rowsecurity.session_context(context, reason=reason):
                return self.handle_tenant(tenant, actor, options)
        except ServiceError as exc:
            raise bad_input(exc) from exc

    def handle_tenant(self, tenant: Tenant, actor: Principal, options: dict):
        raise NotImplementedError

    def command_name(self) -> str:
        return type(self).__module__.rpartition(".")[2]
