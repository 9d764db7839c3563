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
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return self.get_response(request)
        if user.is_superuser:
            context = rowsecurity.ALL_TENANTS
            reason = f"platform superuser {user.get_username()} in the back office"
        else:
            context, reason = rowsecurity.RowContext.of(admin_principal(request)), None
        with rowsecurity.row_context(context, reason=reason):
            return self.get_response(request)
