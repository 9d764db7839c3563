"""The base class of every tenant API view: authentication, tenant match and scopes.

Subclasses declare ``required_scope`` (per HTTP method) and ``scoped_queryset(principal)``; the
methods that enforce the rules are owned here and cannot be overridden (checked at class
creation, after PostHog's ``TeamAndOrgViewSetMixin``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.views import APIView

from accounts import rowsecurity
from accounts.api.authentication import BearerTokenAuthentication
from accounts.principal import Principal
from accounts.scopes import (
    AUDIT_READ,
    CUSTOMER_MANAGE,
    CUSTOMER_READ,
    IMPORT_MANAGE,
    IMPORT_READ,
    PRIVACY_MANAGE,
    SCIM_MANAGE,
    Coverage,
    Grants,
)
from accounts.tokens import PROVISIONING, writer_of, writer_of_token
from core import replicas
from core.api_errors import error_response
from core.database import is_refused_at_commit
from core.errors import first_or_not_found
from core.guards import refuse_overrides
from core.replicas import READ_ONLY_METHODS

logger = logging.getLogger(__name__)

REFUSED_AT_COMMIT = (
    "The change was refused as it was saved: data it refers to changed at the same time (for "
    "example its tenant was removed). Nothing of it was kept; read the current state and try "
    "again."
)


def can_read(grants: Grants) -> bool:
    return not grants.readable().is_empty


def can_manage(grants: Grants) -> bool:
    return not grants.manageable().is_empty


def can_import(grants: Grants) -> bool:
    return grants.can_import()


def can_read_import_configuration(grants: Grants) -> bool:
    return grants.can_read_import_configuration()


def can_configure_import(grants: Grants) -> bool:
    return grants.can_configure_import()


def can_audit(grants: Grants) -> bool:
    return not grants.auditable().is_empty


def can_audit_access(grants: Grants) -> bool:
    return grants.can_audit_access()


def can_manage_privacy(grants: Grants) -> bool:
    return not grants.privacy_manageable().is_empty


def can_provision(grants: Grants) -> bool:
    return grants.can_provision()


# The scope each check stands for: in the OpenAPI document (suffixed forms also qualify), and
# as a refusal says what was missing.
REQUIRED_SCOPES: dict[Callable[[Grants], bool], tuple[str, str]] = {
    can_audit: (AUDIT_READ, AUDIT_READ),
    can_audit_access: (AUDIT_READ, f"{AUDIT_READ} without a restriction suffix"),
    can_read: (CUSTOMER_READ, f"{CUSTOMER_READ} (or {CUSTOMER_MANAGE})"),
    can_manage: (CUSTOMER_MANAGE, CUSTOMER_MANAGE),
    can_import: (IMPORT_MANAGE, IMPORT_MANAGE),
    can_read_import_configuration: (IMPORT_READ, f"{IMPORT_READ} (or {IMPORT_MANAGE})"),
    can_configure_import: (IMPORT_MANAGE, f"{IMPORT_MANAGE} without a restriction suffix"),
    can_manage_privacy: (PRIVACY_MANAGE, PRIVACY_MANAGE),
    can_provision: (SCIM_MANAGE, f"{SCIM_MANAGE} without a restriction suffix"),
}


class TenantMatchesToken(BasePermission):
    """The path's tenant must be the token's tenant; the answer reveals nothing more."""

    message = "The access token is not valid for this tenant."
    code = "wrong_tenant"

    def has_permission(self, request, view) -> bool:
        return request.user.tenant_code == view.kwargs.get("tenant")


class HoldsRequiredScope(BasePermission):
    message = "The access token lacks the scope this operation requires."

    def has_permission(self, request, view) -> bool:
        check = view.required_scope.get(request.method)
        if check is None:
            # No handler for this method (every handler must declare a scope, checked at class
            # creation), so DRF answers 405.
            return True
        if check(request.user.grants):
            return True
        needed = REQUIRED_SCOPES[check][1]
        self.message = f"The access token lacks the scope this operation requires: {needed}."
        return False


class TenantApiView(APIView):
    required_scope: dict[str, Callable[[Grants], bool]] = {}
    # Whether a long-lived provisioning token (accounts.tokens.PROVISIONING) may call the view.
    accepts_provisioning_tokens = False
    # What the request reads, for row-level security, when not the customers of its read right.
    reads: Callable[[Grants], Coverage] | None = None

    _owned = frozenset(
        {
            "get_permissions",
            "get_authenticators",
            "check_permissions",
            "initial",
            "get_queryset",
            "get_object",
            "_dispatch_on",
        }
    )

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        refuse_overrides(
            cls, cls._owned, "TenantApiView (scoping and permissions)", "implement scoped_queryset"
        )
        handlers = {m.upper() for m in cls.http_method_names if m != "options"} & {
            name.upper() for name in dir(cls)
        }
        undeclared = handlers - set(cls.required_scope)
        if undeclared:
            raise TypeError(f"{cls.__name__} declares no required_scope for {sorted(undeclared)}.")

    def dispatch(self, request, *args, **kwargs):
        """The request runs in one transaction on PostgreSQL, bound to the principal's rights
        once it is known (:meth:`initial`): the row-level security policies see the same
        coverage the querysets filter by (accounts.rowsecurity). A request that only reads
        runs on a read replica when one is configured and healthy, unless its principal has
        just written (core.replicas); should the replica fail under it, the primary answers."""
        read_only = request.method in READ_ONLY_METHODS
        writer = None
        if read_only and replicas.replica_aliases():
            writer = writer_of_token(get_authorization_header(request))
        return replicas.serve(
            read_only, writer, lambda alias: self._dispatch_on(alias, request, *args, **kwargs)
        )

    def _dispatch_on(self, alias: str, request, *args, **kwargs):
        self._writer = None
        answered = False
        try:
            with (
                replicas.reading_from(alias),
                rowsecurity.request_transaction(using=alias) as transaction_of_request,
            ):
                response = super().dispatch(request, *args, **kwargs)
                transaction_of_request.close(response)
                answered = True
        except DatabaseError as error:
            # Raised by the request's COMMIT (the handler's own errors became its answer): the
            # database refused what the request did as the data stands now, and kept nothing.
            if not (answered and is_refused_at_commit(error)):
                raise
            logger.warning("%s %s refused at commit: %s", request.method, request.path, error)
            return error_response(request.path, 409, REFUSED_AT_COMMIT)
        if self._writer is not None:
            replicas.remember_write(self._writer)  # its next reads: the primary's
        return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and the scope checks
        principal = self.principal
        reads = self.reads(principal.grants) if self.reads is not None else None
        rowsecurity.bind_request(
            rowsecurity.RowContext.of(principal, reads=reads),
            rowsecurity.principal_key(principal.kind, principal.id, principal.tenant_code),
        )
        if request.method not in READ_ONLY_METHODS:
            self._writer = writer_of(request.auth)
        if request.auth.use == PROVISIONING and not self.accepts_provisioning_tokens:
            raise PermissionDenied("A provisioning token is accepted by the SCIM endpoints only.")
        self.check_request(request)

    def check_request(self, request) -> None:
        """What every request of the view must carry, checked once the principal is known and
        before any handler reads or writes (a refusal here leaves nothing half done)."""

    def get_authenticators(self):
        return [BearerTokenAuthentication()]

    def get_permissions(self):
        return [IsAuthenticated(), TenantMatchesToken(), HoldsRequiredScope()]

    @property
    def principal(self) -> Principal:
        return self.request.user

    def scoped_queryset(self, principal: Principal):
        raise ImproperlyConfigured(f"{type(self).__name__} defines no scoped_queryset")

    def get_queryset(self):
        return self.scoped_queryset(self.principal)

    def get_object(self, **lookup):
        """One record of the scoped queryset; invisible and nonexistent answer the same 404."""
        return first_or_not_found(self.get_queryset().filter(**lookup), self.not_found_message)

    not_found_message = "Not found."
