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
        tenant_id = (
            ApiClient.objects.filter(
                client_id=client_id, is_active=True, tenant__code=claims.tenant
            )
            .values_list("tenant_id", flat=True)
            .first()
        )
        if tenant_id is None:
            return None
        return Principal(tenant_id, claims.tenant, grants, API_CLIENT, client_id)
    if claims.subject.startswith(EMPLOYEE_SUBJECT_PREFIX):
        employee_id = claims.subject.removeprefix(EMPLOYEE_SUBJECT_PREFIX)
        if not employee_id.isdigit():
            return None
        tenant_id = (
            Tenant.objects.filter(
                code=claims.tenant, employees__pk=employee_id, employees__is_active=True
            )
            .values_list("pk", flat=True)
            .first()
        )
        if tenant_id is None:
            tenant_id = _superuser_tenant(employee_id, claims.tenant)
        if tenant_id is None:
            return None
        return Principal(tenant_id, claims.tenant, grants, EMPLOYEE, employee_id)
    return None


def _superuser_tenant(employee_id: str, tenant_code: str) -> int | None:
    if not Employee.objects.filter(pk=employee_id, is_active=True, is_superuser=True).exists():
        return None
    return Tenant.objects.filter(code=tenant_code).values_list("pk", flat=True).first()


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
