"""The admin builds the same Principal as the API, from the session's employee."""

from __future__ import annotations

from accounts.principal import Principal

_CACHE_ATTRIBUTE = "_admin_principal"


def admin_principal(request) -> Principal | None:
    """The employee's Principal in their own tenant; None for superusers (platform-wide, use
    :func:`principal_in_tenant`) and for anyone who is not an active staff employee."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if user.is_superuser or user.tenant_id is None:
        return None
    if not hasattr(request, _CACHE_ATTRIBUTE):
        setattr(request, _CACHE_ATTRIBUTE, Principal.for_employee(user, user.tenant))
    return getattr(request, _CACHE_ATTRIBUTE)


def principal_in_tenant(request, tenant) -> Principal:
    """The actor for a write in ``tenant``: the employee, or a superuser acting there."""
    principal = admin_principal(request)
    if principal is not None:
        return principal
    if not request.user.is_superuser:
        raise PermissionError("Only employees and superusers act in the admin.")
    return Principal.for_employee(request.user, tenant)
