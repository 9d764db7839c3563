"""``POST /oauth/token``: client credentials and the employee password grant."""

from __future__ import annotations

import base64
import binascii
from functools import partial

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import rowsecurity, throttling
from accounts.models import ApiClient, Employee
from accounts.principal import in_tree
from accounts.scopes import Grants, split_scope_string
from accounts.services.sign_in import password_refusal
from accounts.tokens import CLIENT_SUBJECT_PREFIX, EMPLOYEE_SUBJECT_PREFIX, issue_token
from core.error_bodies import error_body
from tenancy.models import Tenant


class OAuthError(Exception):
    def __init__(
        self, error: str, description: str, status: int = 400, retry_after: int | None = None
    ):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.retry_after = retry_after


def oauth_error_response(exc: OAuthError) -> Response:
    # RFC 6749 §5.2 fields, plus the service's error body for uniform handling.
    body = {"error": exc.error, "error_description": exc.description}
    body.update(error_body(exc.status, exc.description))
    headers = {"WWW-Authenticate": 'Basic realm="oauth"'} if exc.status == 401 else {}
    if exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    return Response(body, status=exc.status, headers=headers)


TENANT_SCOPE_PREFIX = "tenant="  # Emporix clients name the tenant inside `scope`


def requested_tenant(request) -> str | None:
    """The tenant a token request names: the ``tenant`` parameter or a ``tenant=CODE`` entry of
    ``scope`` (both, when given, must agree)."""
    in_scope = {
        name.removeprefix(TENANT_SCOPE_PREFIX)
        for name in split_scope_string(request.data.get("scope") or "")
        if name.startswith(TENANT_SCOPE_PREFIX)
    }
    parameter = request.data.get("tenant")
    named = in_scope | ({parameter} if parameter else set())
    if len(named) > 1:
        raise OAuthError("invalid_request", "The request names more than one tenant.")
    return next(iter(named), None)


def narrow_scopes(held: Grants, requested: str | None, tenant) -> list[str]:
    """The token's scopes: all held ones, or what the requested ones and the held ones have in
    common (RFC 6749 §3.3: fewer than asked may be granted; the response's ``scope`` says
    which). Names this service does not know are ignored; nothing in common is
    ``invalid_scope``."""
    names = [
        name
        for name in split_scope_string(requested or "")
        if not name.startswith(TENANT_SCOPE_PREFIX)
    ]
    if not names:  # nothing asked for (``scope=tenant=CODE`` only names the tenant)
        return held.scope_strings()
    granted = held & in_tree(Grants.from_strings(names), tenant)
    if not granted.coverage:
        raise OAuthError(
            "invalid_scope", "None of the requested scopes is granted to these credentials."
        )
    return granted.scope_strings()


def client_credentials_from(request) -> tuple[str | None, str | None]:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from exc
        if "\x00" in decoded:
            raise OAuthError("invalid_request", "Credentials must not contain NUL characters.")
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return request.data.get("client_id"), request.data.get("client_secret")


TOKEN_RESPONSE = inline_serializer(
    "TokenResponse",
    {
        "access_token": serializers.CharField(),
        "token_type": serializers.CharField(),
        "expires_in": serializers.IntegerField(),
        "scope": serializers.CharField(),
    },
)
TOKEN_REQUEST = inline_serializer(
    "TokenRequest",
    {
        "grant_type": serializers.ChoiceField(["client_credentials", "password"]),
        "client_id": serializers.CharField(required=False),
        "client_secret": serializers.CharField(required=False),
        "username": serializers.CharField(required=False),
        "password": serializers.CharField(required=False),
        "tenant": serializers.CharField(
            required=False, help_text="Password grant of a platform superuser: the tenant."
        ),
        "scope": serializers.CharField(required=False, help_text="Space-separated subset."),
    },
)


class TokenApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser]

    @extend_schema(
        operation_id="oauthToken",
        summary="Get an access token",
        description=(
            "Client credentials (an API client's `client_id` and `client_secret`, as form fields "
            "or HTTP Basic) or an employee's username and password. The token carries the "
            "requested scopes as far as the caller holds them (all of them without `scope`); the "
            "answer's `scope` names the tenant first, then the granted scopes. Repeated failures "
            "for one client id or username from one address answer 429."
        ),
        tags=["OAuth"],
        auth=[],
        request={"application/x-www-form-urlencoded": TOKEN_REQUEST},
        responses={
            200: TOKEN_RESPONSE,
            400: OpenApiResponse(
                description="invalid_request, unsupported_grant_type, "
                "invalid_scope or invalid_grant"
            ),
            401: OpenApiResponse(description="invalid_client"),
            429: OpenApiResponse(
                description="too_many_requests: too many failed attempts for this client id "
                "or username from this address, from this address, or for this client id or "
                "username from any address (the message says which); see Retry-After"
            ),
        },
    )
    def post(self, request):
        try:
            if any("\x00" in value for value in request.data.values()):
                raise OAuthError("invalid_request", "Parameters must not contain NUL characters.")
            grant_type = request.data.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is required.")
            if grant_type == "client_credentials":
                client_id, secret = client_credentials_from(request)
                check = partial(self._client_credentials, request, client_id, secret)
                limits = self._limits(request, "client id", client_id)
            elif grant_type == "password":
                check = partial(self._password, request)
                limits = self._limits(request, "username", request.data.get("username"))
            else:
                raise OAuthError(
                    "unsupported_grant_type", f"Unsupported grant_type {grant_type!r}."
                )
        except OAuthError as exc:
            return oauth_error_response(exc)
        refusal = throttling.reserve(limits)
        if refusal is not None:
            return oauth_error_response(
                OAuthError(
                    "too_many_requests",
                    refusal.message,
                    status=429,
                    retry_after=refusal.retry_after,
                )
            )
        try:
            with rowsecurity.signing_in():  # (nobody is known yet: row security's sign-in)
                subject, tenant_code, scopes, generation = check()
        except OAuthError as exc:
            if exc.error in ("invalid_client", "invalid_grant"):
                throttling.failed(limits, exc.error)
            else:
                throttling.release(limits)
            return oauth_error_response(exc)
        throttling.succeeded(limits)
        issued = issue_token(
            subject=subject, tenant_code=tenant_code, scopes=scopes, generation=generation
        )
        return Response(
            {
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                # As Emporix answers: the tenant first, then the granted scopes (a client may
                # send the string back as the next request's ``scope``).
                "scope": " ".join([f"{TENANT_SCOPE_PREFIX}{tenant_code}", *issued.scope.split()]),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    @staticmethod
    def _limits(request, what: str, identity: str | None) -> list[throttling.Limit]:
        address = request.META.get("REMOTE_ADDR") or "unknown"
        return throttling.limits_for(address, what, identity or "")

    def _client_credentials(
        self, request, client_id: str | None, secret: str | None
    ) -> tuple[str, str, list[str], int]:
        if not client_id or not secret:
            raise OAuthError("invalid_request", "client_id and client_secret are required.")
        client = (
            ApiClient.objects.select_related("tenant")
            .filter(client_id=client_id, is_active=True)
            .first()
        )
        if client is None or not client.check_secret(secret):
            raise OAuthError("invalid_client", "Client authentication failed.", 401)
        tenant = requested_tenant(request)
        if tenant is not None and tenant != client.tenant.code:
            raise OAuthError("invalid_grant", "The client does not belong to that tenant.")
        held = in_tree(client.grants(), client.tenant)
        scopes = narrow_scopes(held, request.data.get("scope"), client.tenant)
        subject = f"{CLIENT_SUBJECT_PREFIX}{client.client_id}"
        # (for access reviews: when the identity last got a token)
        ApiClient.objects.filter(pk=client.pk).update(last_token_at=timezone.now())
        return subject, client.tenant.code, scopes, client.token_generation

    def _password(self, request) -> tuple[str, str, list[str], int]:
        username, password = request.data.get("username"), request.data.get("password")
        if not username or not password:
            raise OAuthError("invalid_request", "username and password are required.")
        employee: Employee | None = authenticate(request, username=username, password=password)
        if employee is None:
            raise OAuthError("invalid_grant", "Invalid username or password.")
        refusal = password_refusal(employee)
        if refusal:
            raise OAuthError("invalid_grant", refusal)
        named_tenant = requested_tenant(request)
        if employee.is_superuser and employee.tenant_id is None:
            if not named_tenant:
                raise OAuthError("invalid_request", "A platform superuser must name a tenant.")
            tenant = Tenant.objects.filter(code=named_tenant).first()
            if tenant is None:
                raise OAuthError("invalid_grant", "Unknown tenant.")
        else:
            tenant = employee.tenant
            if named_tenant and named_tenant != tenant.code:
                raise OAuthError("invalid_grant", "The employee does not belong to that tenant.")
        held = in_tree(employee.grants(), tenant)
        scopes = narrow_scopes(held, request.data.get("scope"), tenant)
        subject = f"{EMPLOYEE_SUBJECT_PREFIX}{employee.pk}"
        Employee.objects.filter(pk=employee.pk).update(last_token_at=timezone.now())
        return subject, tenant.code, scopes, employee.token_generation
