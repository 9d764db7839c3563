"""Bearer-token authentication: a verified JWT becomes a :class:`Principal`.

Immediate revocation costs one indexed query per request: the token's API client or employee
is looked up and must still be active (and still belong to the token's tenant); the same query
brings its current scopes, which limit the token's.
"""

from __future__ import annotations

import json

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts import rowsecurity
from accounts.models import AccessGroup, ApiClient, Employee, TemporaryGrant, grants_of_groups
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


# The two lookups are fixed-shape statements run on every request, so they are written once in
# SQL instead of being built and compiled by the ORM each time (about half a millisecond each).
# Temporary grants join on their window (``now`` is a parameter): outside it they bring nothing,
# whether or not ``expire_access`` has tidied them yet.
_CLIENT_LOOKUP = """
SELECT c.tenant_id, c.name, c.scopes, t.tree_version, tg.scope
FROM {client} c JOIN {tenant} t ON t.id = c.tenant_id
LEFT JOIN {temporary} tg
  ON tg.api_client_id = c.id AND tg.valid_from <= %s AND tg.valid_until > %s
WHERE c.client_id = %s AND c.is_active = %s AND t.code = %s AND c.token_generation = %s
"""
# One row per standing or temporary access group or temporary scope (LEFT JOIN), or one row
# with none.
_EMPLOYEE_LOOKUP = """
SELECT e.tenant_id, t.code, e.is_superuser, e.username, t.tree_version,
       g.tenant_id AS group_tenant_id, g.scopes, g.restrictions, held.scope
FROM {employee} e
LEFT JOIN {tenant} t ON t.id = e.tenant_id
LEFT JOIN (
  SELECT m.accessgroup_id AS group_id, '' AS scope FROM {membership} m WHERE m.employee_id = %s
  UNION ALL
  SELECT tg.group_id, tg.scope FROM {temporary} tg
  WHERE tg.employee_id = %s AND tg.valid_from <= %s AND tg.valid_until > %s
) held ON TRUE
LEFT JOIN {group} g ON g.id = held.group_id
WHERE e.id = %s AND e.is_active = %s AND e.token_generation = %s
"""
_TABLES = {
    "client": ApiClient._meta.db_table,
    "tenant": Tenant._meta.db_table,
    "employee": Employee._meta.db_table,
    "membership": Employee.access_groups.through._meta.db_table,
    "group": AccessGroup._meta.db_table,
    "temporary": TemporaryGrant._meta.db_table,
}
CLIENT_LOOKUP = _CLIENT_LOOKUP.format(**_TABLES)
EMPLOYEE_LOOKUP = _EMPLOYEE_LOOKUP.format(**_TABLES)


def _now(using: str = "default"):
    """This moment as the database compares it with a datetime column."""
    return connections[using].ops.adapt_datetimefield_value(timezone.now())


def _json(value):
    """A JSON column as the raw cursor hands it over (text on both engines)."""
    return json.loads(value) if isinstance(value, str) else value


def principal_from_claims(claims: TokenClaims) -> Principal | None:
    """The token's principal, or None when it no longer qualifies (immediate revocation).

    One indexed query fetches the principal with its current scopes, so the token's scopes are
    limited at once to what the client or employee still holds (a scope removed in the admin
    stops working on the next request, not when the token expires). Inside an API request on
    PostgreSQL the same statement binds the row-security context this principal had last time
    (accounts.rowsecurity.lookup); the view binds again only if it has changed.
    """
    token_grants = Grants.from_strings(claims.scopes)
    if claims.subject.startswith(CLIENT_SUBJECT_PREFIX):
        client_id = claims.subject.removeprefix(CLIENT_SUBJECT_PREFIX)
        key = rowsecurity.principal_key(API_CLIENT, client_id, claims.tenant)
        now = _now()
        rows = rowsecurity.lookup(
            CLIENT_LOOKUP, [now, now, client_id, True, claims.tenant, claims.generation], key
        )
        if not rows:
            return None
        tenant_id, name, scopes, tree_version = rows[0][:4]
        held = [*_json(scopes), *(row[4] for row in rows if row[4] is not None)]
        # Both sides in the tenant's tree: a token for --EU whose client now holds --DE reads DE.
        below = restriction_tree(tenant_id, tree_version)
        grants = token_grants.expanded(below) & Grants.from_strings(held).expanded(below)
        return Principal(tenant_id, claims.tenant, grants, API_CLIENT, client_id, name)
    if claims.subject.startswith(EMPLOYEE_SUBJECT_PREFIX):
        employee_id = claims.subject.removeprefix(EMPLOYEE_SUBJECT_PREFIX)
        if not (employee_id.isascii() and employee_id.isdigit() and len(employee_id) < 19):
            return None
        return _employee_principal(claims, employee_id, token_grants)
    return None


def _employee_principal(claims: TokenClaims, employee_id: str, token_grants: Grants):
    key = rowsecurity.principal_key(EMPLOYEE, employee_id, claims.tenant)
    pk, now = int(employee_id), _now()
    rows = rowsecurity.lookup(EMPLOYEE_LOOKUP, [pk, pk, now, now, pk, True, claims.generation], key)
    if not rows:
        return None
    tenant_id, tenant_code, is_superuser, username, tree_version = rows[0][:5]
    if is_superuser:
        current = Grants.everything()
    else:
        groups = [
            AccessGroup(scopes=_json(scopes), restrictions=_json(restrictions))
            for _, _, _, _, _, group_tenant, scopes, restrictions, _ in rows
            if group_tenant is not None and group_tenant == tenant_id
        ]
        scopes = [row[8] for row in rows if row[8]]  # temporary scopes (a group's row has '')
        current = grants_of_groups(groups) | Grants.from_strings(scopes)
    if tenant_code != claims.tenant:
        if not is_superuser:
            return None
        # A platform superuser's token names the tenant it was issued for.
        tenants = Tenant.objects.using(DEFAULT_DB_ALIAS)  # (identity: always the primary's)
        found = tenants.filter(code=claims.tenant).values_list("pk", "tree_version").first()
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
