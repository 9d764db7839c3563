"""Issue and verify access tokens with simplejwt's machinery (algorithm pinned, issuer set)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt
from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.scopes import split_scope_string

CLIENT_SUBJECT_PREFIX = "client:"
EMPLOYEE_SUBJECT_PREFIX = "employee:"
# A long-lived token an identity provider keeps for SCIM provisioning: accepted by the SCIM
# endpoints only (its ``use`` claim), revoked like every token of its client.
PROVISIONING = "scim"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    tenant: str
    scopes: list[str]
    generation: int
    use: str | None = None  # PROVISIONING: a SCIM provisioning token


def issue_token(
    *,
    subject: str,
    tenant_code: str,
    scopes: list[str],
    generation: int,
    use: str | None = None,
    lifetime: timedelta | None = None,
) -> IssuedToken:
    """``generation``: the principal's current token generation; a new secret or password, or
    a deactivation, moves the principal to the next one and every earlier token is refused.
    ``use`` and ``lifetime``: a token for one use only (a provisioning token), valid that long."""
    token = AccessToken()  # sets token_type, exp, iat and jti; the backend adds iss when signing
    token["sub"] = subject
    token["tenant"] = tenant_code
    token["scope"] = " ".join(scopes)
    token["gen"] = generation
    if use is not None:
        token["use"] = use
    lifetime = lifetime or settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    token.set_exp(lifetime=lifetime)
    return IssuedToken(str(token), int(lifetime.total_seconds()), token["scope"])


def verify_token(raw: str) -> TokenClaims:
    """Signature, algorithm, issuer, expiry and token type are checked by simplejwt/PyJWT."""
    try:
        token = AccessToken(raw)
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc
    except (TypeError, ValueError, OverflowError) as exc:
        # A validly signed token with a malformed claim (an ``exp`` that is a string or 10**30)
        raise InvalidToken("Token has a malformed claim.") from exc
    subject, tenant, scope = token.get("sub"), token.get("tenant"), token.get("scope", "")
    generation, use = token.get("gen"), token.get("use")
    if not isinstance(subject, str) or not isinstance(tenant, str) or not isinstance(scope, str):
        raise InvalidToken("Token is missing required claims.")
    if type(generation) is not int or use not in (None, PROVISIONING):
        raise InvalidToken("Token is missing required claims.")
    return TokenClaims(subject, tenant, split_scope_string(scope), generation, use)


def writer_of(claims: TokenClaims) -> str:
    """The name under which a principal's recent writes are remembered (core.replicas)."""
    return f"{claims.tenant}:{claims.subject}"


def writer_of_token(header: bytes) -> str | None:
    """:func:`writer_of` for an ``Authorization: Bearer`` header, read *without* verifying
    the token: only to choose where a read is served from (authentication follows, and a forged
    token can at most choose the primary)."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    try:
        payload = jwt.decode(parts[1], options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    subject, tenant = payload.get("sub"), payload.get("tenant")
    if not isinstance(subject, str) or not isinstance(tenant, str):
        return None
    return f"{tenant}:{subject}"
