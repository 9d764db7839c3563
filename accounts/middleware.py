"""Back-office requests run bound to what the signed-in employee may see (row-level security,
see accounts.rowsecurity)."""

from __future__ import annotations

from accounts import rowsecurity
from accounts.admin_principal import admin_principal


class RowSecurityMiddleware:
    """A request of a signed-in staff user runs in one transaction (PostgreSQL) bound to the
    employee's rights; a platform superuser's to all tenants, which is logged. Other requests
    pass through (the API binds its token's principal itself)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        principal = admin_principal(request)
        if principal is None:
            return self.get_response(request)
        reason = None
        if principal.sees_every_tenant:
            reason = f"platform superuser {principal.name} in the back office"
        with rowsecurity.row_context(rowsecurity.RowContext.of(principal), reason=reason):
            return self.get_response(request)
