"""Bearer-token authentication: a verified JWT becomes a :class:`Principal`.

R9 (immediate revocation) costs one indexed query per request: the token's API client or employee
is looked up and must still be active (and still belong to the token's tenant).
"""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import ApiClient, Employee
from accounts.principal import API_CLIENT, EMPLOYEE, Principal
from accounts.scopes import Grants
from accounts.tokens import (
    CLIENT_SUBJECT_PREFIX,
    EMPLOYEE_SUBJECT_PREFIX,
    InvalidToken,
    TokenClaims,
    verify_token,
)
from tenancy.models import Tenant

INVALID_TOKEN_MESSAGE = "The access token is invalid, expired or revoked."  # noqa: S105


def principal_from_claims(claims: TokenClaims) -> Principal | None:
    grants = Grants.from_strings(claims.scopes)
    if claims.subject.startswith(CLIENT_SUBJECT_PREFIX):
        client_id = claims.subject.removeprefix(CLIENT_SUBJECT_PREFIX)
        row = (
            ApiClient.objects.filter(
                client_id=client_id, is_active=True, tenant__code=claims.tenant
            )
            .values_list("tenant_id", "name")
            .first()
        )
        if row is None:
            return None
        return Principal(row[0], claims.tenant, grants, API_CLIENT, client_id, row[1])
    if claims.subject.startswith(EMPLOYEE_SUBJECT_PREFIX):
        employee_id = claims.subject.removeprefix(EMPLOYEE_SUBJECT_PREFIX)
        if not (employee_id.isascii() and employee_id.isdigit()):
            return None
        row = (
            Employee.objects.filter(pk=employee_id, is_active=True)
            .values_list("tenant_id", "tenant__code", "is_superuser", "username")
            .first()
        )
        if row is None:
            return None
        tenant_id, tenant_code, is_superuser, username = row
        if tenant_code != claims.tenant:
            if not is_superuser:
                return None
            # A platform superuser's token names the tenant it was issued for.
            tenant_id = (
                Tenant.objects.filter(code=claims.tenant).values_list("pk", flat=True).first()
            )
            if tenant_id is None:
                return None
        return Principal(tenant_id, claims.tenant, grants, EMPLOYEE, employee_id, username)
    return None


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            claims = verify_token(header[1].decode("ascii"))
        except (InvalidToken, UnicodeDecodeError) as exc:
            raise AuthenticationFailed(INVALID_TOKEN_MESSAGE) from exc
        principal = principal_from_claims(claims)
        if principal is None:
            raise AuthenticationFailed(INVALID_TOKEN_MESSAGE)
        return principal, claims

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="customer-service"'
