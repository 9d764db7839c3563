"""Back-office requests run bound to what the signed-in employee may see (row-level security,
see accounts.rowsecurity)."""

from __future__ import annotations

from accounts import rowsecurity
from accounts.admin_principal import admin_principal
from accounts.tokens import EMPLOYEE_SUBJECT_PREFIX
from core import replicas
from core.replicas import READ_ONLY_METHODS


class RowSecurityMiddleware:
    """A request of a signed-in staff user runs in one transaction (PostgreSQL) bound to the
    employee's rights; a platform superuser's to all tenants, which is logged. A page that only
    reads is served from a read replica when one is usable and the employee has not just saved
    something (core.replicas). Other requests pass through (the API binds its token's principal
    itself)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        principal = admin_principal(request)  # (the session and the employee: the primary's)
        if principal is None:
            return self.get_response(request)
        reason = None
        if principal.sees_every_tenant:
            reason = f"platform superuser {principal.name} in the back office"
        context = rowsecurity.RowContext.of(principal)
        writer = f"{principal.tenant_code}:{EMPLOYEE_SUBJECT_PREFIX}{principal.id}"
        read_only = request.method in READ_ONLY_METHODS

        def handle(alias: str):
            with (
                replicas.reading_from(alias),
                rowsecurity.row_context(context, reason=reason, using=alias),
            ):
                return self.get_response(request)

        response = replicas.serve(read_only, writer, handle)
        if not read_only:
            replicas.remember_write(writer)  # its next pages: the primary's
        return response
