"""Issue and verify access tokens with simplejwt's machinery (algorithm pinned, issuer set)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.scopes import split_scope_string

CLIENT_SUBJECT_PREFIX = "client:"
EMPLOYEE_SUBJECT_PREFIX = "employee:"


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


def issue_token(
    *, subject: str, tenant_code: str, scopes: list[str], generation: int
) -> IssuedToken:
    """``generation``: the principal's current token generation; a new secret or password, or
    a deactivation, moves the principal to the next one and every earlier token is refused."""
    token = AccessToken()  # sets token_type, exp, iat and jti; the backend adds iss when signing
    token["sub"] = subject
    token["tenant"] = tenant_code
    token["scope"] = " ".join(scopes)
    token["gen"] = generation
    lifetime = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
    return IssuedToken(str(token), lifetime, token["scope"])


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
    generation = token.get("gen")
    if not isinstance(subject, str) or not isinstance(tenant, str) or not isinstance(scope, str):
        raise InvalidToken("Token is missing required claims.")
    if type(generation) is not int:
        raise InvalidToken("Token is missing required claims.")
    return TokenClaims(subject, tenant, split_scope_string(scope), generation)
