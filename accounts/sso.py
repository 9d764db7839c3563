"""The OpenID Connect conversation with a tenant's identity provider, through Authlib: the
authorization code flow with PKCE (S256), ``state`` and ``nonce`` kept in the signed-in-to-be
browser's session and used once, the provider's metadata from its discovery document (whose
issuer must be the one configured), the ID token's signature checked against the provider's
published keys and its issuer, audience, expiry and nonce checked by Authlib.

Every way this can fail ends in :class:`SignInFailed` with a sentence for the person signing in;
nothing about the employee changes before the ID token has been verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.django_client import OAuth
from joserfc.errors import JoseError

from accounts.models import SignInProvider

SCOPES = "openid email profile"
TIMEOUT_SECONDS = 10


class SignInFailed(Exception):
    """Signing in through the provider did not work; the message says why, in staff words."""


def _client(provider: SignInProvider):
    return OAuth().register(
        name=f"tenant-{provider.tenant_id}",
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        server_metadata_url=f"{provider.issuer.rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPES,
            "code_challenge_method": "S256",
            "default_timeout": TIMEOUT_SECONDS,
        },
    )


@contextmanager
def _failures(provider: SignInProvider) -> Iterator[None]:
    """The exceptions of a conversation with the provider, as :class:`SignInFailed`."""
    name = provider.name
    not_oidc = f"{name} answered something that is not OpenID Connect."
    try:
        yield
    except requests.exceptions.JSONDecodeError as error:  # (before RequestException: both)
        raise SignInFailed(not_oidc) from error
    except requests.RequestException as error:
        raise SignInFailed(f"{name} could not be reached; try again later.") from error
    except OAuthError as error:
        if error.error == "mismatching_state":
            raise SignInFailed(
                "This sign-in was started in another browser session, already used or has "
                "expired; start again."
            ) from error
        raise SignInFailed(f"{name} refused the sign-in ({error.error}).") from error
    except JoseError as error:
        raise SignInFailed(
            f"{name}'s answer could not be verified ({error.error}); nothing was changed."
        ) from error
    except (ValueError, KeyError, TypeError) as error:
        raise SignInFailed(not_oidc) from error


def start(request, provider: SignInProvider, redirect_uri: str):
    """The redirect to the provider's authorization endpoint."""
    with _failures(provider):
        client = _client(provider)
        _check_issuer(client, provider)
        return client.authorize_redirect(request, redirect_uri)


def finish(request, provider: SignInProvider) -> dict:
    """The verified claims of the ID token the provider answered the callback with."""
    with _failures(provider):
        client = _client(provider)
        _check_issuer(client, provider)
        token = client.authorize_access_token(request)
        claims = token.get("userinfo")
        if not claims:
            raise SignInFailed(f"{provider.name} answered without an ID token.")
        return dict(claims)


def _check_issuer(client, provider: SignInProvider) -> None:
    metadata = client.load_server_metadata()
    if not isinstance(metadata, dict) or metadata.get("issuer") != provider.issuer:
        raise SignInFailed(
            f"{provider.name}'s discovery document names another issuer than the one "
            "configured here; nothing was changed."
        )
