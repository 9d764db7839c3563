"""The back office's edge: the signed-in staff member becomes one Principal, the same value the
API builds from a token."""

from __future__ import annotations

from accounts.principal import Principal

_CACHE_ATTRIBUTE = "_admin_principal"


def admin_principal(request) -> Principal | None:
    """The platform principal for a platform superuser, the employee's own in their tenant
    otherwise; None (nobody) for anyone who is not an active staff member."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if not hasattr(request, _CACHE_ATTRIBUTE):
        if user.is_superuser:
            principal = Principal.platform(user)
        elif user.tenant_id is None:
            principal = None
        else:
            principal = Principal.for_employee(user, user.tenant)
        setattr(request, _CACHE_ATTRIBUTE, principal)
    return getattr(request, _CACHE_ATTRIBUTE)


def sees_every_tenant(request) -> bool:
    principal = admin_principal(request)
    return principal is not None and principal.sees_every_tenant


def principal_in_tenant(request, tenant) -> Principal:
    """The actor for a write in ``tenant``."""
    principal = admin_principal(request)
    if principal is None:
        raise PermissionError("Only staff act in the back office.")
    return principal.in_tenant(tenant)
