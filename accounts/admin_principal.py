"""The back office's edge: the signed-in staff member becomes one Principal, the same value the
API builds from a token."""

from __future__ import annotations

from contextlib import nullcontext

from django.contrib.auth import SESSION_KEY

from accounts import rowsecurity
from accounts.principal import Principal

_CACHE_ATTRIBUTE = "_admin_principal"


def admin_principal(request) -> Principal | None:
    """The platform principal for a platform superuser, the employee's own in their tenant
    otherwise; None (nobody) for anyone who is not an active staff member. The session's
    employee and what they hold are read under the sign-in context (row-level security: the
    principal is not known yet)."""
    principal = getattr(request, _CACHE_ATTRIBUTE, None)
    if principal is None:
        # Without a signed-in session the user is anonymous: nothing to read, nothing to bind.
        signed_in = SESSION_KEY in getattr(request, "session", ())
        with rowsecurity.signing_in() if signed_in else nullcontext():
            principal = _principal_of(request.user)
        if principal is not None:
            setattr(request, _CACHE_ATTRIBUTE, principal)
    return principal


def _principal_of(user) -> Principal | None:
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if user.is_superuser:
        return Principal.platform(user)
    if user.tenant_id is None:
        return None
    return Principal.for_employee(user, user.tenant)


def sees_every_tenant(request) -> bool:
    principal = admin_principal(request)
    return principal is not None and principal.sees_every_tenant


def principal_in_tenant(request, tenant) -> Principal:
    """The actor for a write in ``tenant``."""
    principal = admin_principal(request)
    if principal is None:
        raise PermissionError("Only staff act in the back office.")
    return principal.in_tenant(tenant)
