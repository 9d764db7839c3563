"""Bearer-token authentication: a verified JWT becomes a :class:`Principal`.

Immediate revocation costs one indexed query per request: the token's API client or employee
is looked up and must still be active (and still belong to the token's tenant); the same query
brings its current scopes, which limit the token's.
"""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import AccessGroup, ApiClient, Employee, grants_of_groups
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
from tenancy.services import restriction_tree

INVALID_TOKEN_MESSAGE = "The access token is invalid, expired or revoked."  # noqa: S105


def principal_from_claims(claims: TokenClaims) -> Principal | None:
    """The token's principal, or None when it no longer qualifies (immediate revocation).

    One indexed query fetches the principal with its current scopes, so the token's scopes are
    limited at once to what the client or employee still holds (a scope removed in the admin
    stops working on the next request, not when the token expires).
    """
    token_grants = Grants.from_strings(claims.scopes)
    if claims.subject.startswith(CLIENT_SUBJECT_PREFIX):
        client_id = claims.subject.removeprefix(CLIENT_SUBJECT_PREFIX)
        row = (
            ApiClient.objects.filter(
                client_id=client_id,
                is_active=True,
                tenant__code=claims.tenant,
                token_generation=claims.generation,
            )
            .values_list("tenant_id", "name", "scopes", "tenant__tree_version")
            .first()
        )
        if row is None:
            return None
        tenant_id, name, scopes, tree_version = row
        # Both sides in the tenant's tree: a token for --EU whose client now holds --DE reads DE.
        below = restriction_tree(tenant_id, tree_version)
        grants = token_grants.expanded(below) & Grants.from_strings(scopes).expanded(below)
        return Principal(tenant_id, claims.tenant, grants, API_CLIENT, client_id, name)
    if claims.subject.startswith(EMPLOYEE_SUBJECT_PREFIX):
        employee_id = claims.subject.removeprefix(EMPLOYEE_SUBJECT_PREFIX)
        if not (employee_id.isascii() and employee_id.isdigit()):
            return None
        return _employee_principal(claims, employee_id, token_grants)
    return None


def _employee_principal(claims: TokenClaims, employee_id: str, token_grants: Grants):
    # One row per access group (LEFT JOIN), or one row with no group.
    rows = list(
        Employee.objects.filter(
            pk=employee_id, is_active=True, token_generation=claims.generation
        ).values_list(
            "tenant_id",
            "tenant__code",
            "is_superuser",
            "username",
            "tenant__tree_version",
            "access_groups__tenant_id",
            "access_groups__scopes",
            "access_groups__restrictions",
        )
    )
    if not rows:
        return None
    tenant_id, tenant_code, is_superuser, username, tree_version = rows[0][:5]
    if is_superuser:
        current = Grants.everything()
    else:
        groups = [
            AccessGroup(scopes=scopes, restrictions=restrictions)
            for _, _, _, _, _, group_tenant, scopes, restrictions in rows
            if group_tenant is not None and group_tenant == tenant_id
        ]
        current = grants_of_groups(groups)
    if tenant_code != claims.tenant:
        if not is_superuser:
            return None
        # A platform superuser's token names the tenant it was issued for.
        found = Tenant.objects.filter(code=claims.tenant).values_list("pk", "tree_version").first()
        if found is None:
            return None
        tenant_id, tree_version = found
    below = restriction_tree(tenant_id, tree_version) if tenant_id is not None else None
    grants = token_grants.expanded(below) & current.expanded(below)
    return Principal(tenant_id, claims.tenant, grants, EMPLOYEE, employee_id, username)


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
