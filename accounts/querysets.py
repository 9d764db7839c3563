"""Identity and audit rows are reached tenant first and fail-closed, like customers.

Every employee, API client, access group, temporary grant, access request, access review, review
line and access-change record belongs to a tenant (an access change or an employee of the
platform to none). Pages, the audit API and commands reach them through these methods with the
acting principal: nobody (``None``) gets no rows; the platform gets every tenant's; anyone else
their own tenant's, and only with the right that the rows ask for. The scoping lint
(``tools/scoping_lint.py``) refuses any other way in outside the identity services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from accounts.principal import Principal


def in_tenant_of(queryset, principal: Principal | None, allowed: bool = True):
    """``queryset``'s rows of the principal's tenant (every tenant's for the platform), or none
    for nobody and for a principal without the right (``allowed``)."""
    if principal is None or not allowed:
        return queryset.none()
    if principal.sees_every_tenant:
        return queryset
    if principal.tenant_id is None:
        return queryset.none()
    return queryset.filter(tenant_id=principal.tenant_id)


def administered(queryset, principal: Principal | None):
    """The rows a tenant administrator (``tenant.tenant_manage``) administers: their tenant's;
    every tenant's for the platform; none for anyone else."""
    allowed = principal is not None and principal.grants.can_manage_tenant()
    return in_tenant_of(queryset, principal, allowed)


class IdentityQuerySet(models.QuerySet):
    def administered_by(self, principal: Principal | None) -> IdentityQuerySet:
        """What a tenant administrator sees and changes (the back office's identity pages)."""
        return administered(self, principal)

    def audited_by(self, principal: Principal | None) -> IdentityQuerySet:
        """What an auditor reads (the audit API: unsuffixed ``audit.audit_read``)."""
        allowed = principal is not None and principal.grants.can_audit_access()
        return in_tenant_of(self, principal, allowed)

    def provisioned_by(self, principal: Principal | None) -> IdentityQuerySet:
        """What a provisioning client (SCIM, unsuffixed ``iam.scim_manage``) reads: its
        tenant's rows."""
        allowed = principal is not None and principal.grants.can_provision()
        return in_tenant_of(self, principal, allowed)

    def in_tenant_of(self, principal: Principal | None) -> IdentityQuerySet:
        """The principal's own tenant's rows, whatever their rights (who is told of what:
        reviewers, requesters); none for nobody."""
        return in_tenant_of(self, principal)


class AccessRequestQuerySet(IdentityQuerySet):
    def visible_to(self, principal: Principal | None, employee_id: int | None):
        """The Requests page: a tenant administrator's tenant's requests; any other employee's
        own (``employee_id``); none for nobody."""
        if principal is not None and principal.grants.can_manage_tenant():
            return self.administered_by(principal)
        if employee_id is None:
            return self.none()
        return self.in_tenant_of(principal).filter(requester_id=employee_id)


class TemporaryGrantQuerySet(IdentityQuerySet):
    def current(self, now=None) -> TemporaryGrantQuerySet:
        """The grants whose window is open at ``now`` (default: this moment)."""
        now = now or timezone.now()
        return self.filter(valid_from__lte=now, valid_until__gt=now)
