import base64
from urllib.parse import urlencode

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import AccessGroupFactory, ApiClientFactory, EmployeeFactory

TOKEN_URL = "/oauth/token"


def post_token(data, **extra):
    return APIClient().post(
        TOKEN_URL, urlencode(data), content_type="application/x-www-form-urlencoded", **extra
    )


def decode(token):
    return jwt.decode(
        token,
        settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithms=["HS256"],
        issuer=settings.SIMPLE_JWT["ISSUER"],
    )


@pytest.fixture
def client_de(tenant):
    return ApiClientFactory(
        tenant=tenant, scopes=["customer.customer_read", "customer.customer_manage--DE"]
    )


def credentials(client, **more):
    return {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.clear_secret,
        **more,
    }


def test_client_credentials_returns_a_signed_token_with_all_scopes(client_de):
    response = post_token(credentials(client_de))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    # Emporix's form: the tenant, then the granted scopes; the token's claim has the scopes.
    assert body["scope"] == "tenant=acme customer.customer_manage--DE customer.customer_read"
    assert response["Cache-Control"] == "no-store"
    claims = decode(body["access_token"])
    assert claims["tenant"] == "acme"
    assert claims["sub"] == f"client:{client_de.client_id}"
    assert claims["scope"] == "customer.customer_manage--DE customer.customer_read"
    assert claims["iss"] == settings.SIMPLE_JWT["ISSUER"]
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"]


def test_client_credentials_accepts_http_basic(client_de):
    basic = base64.b64encode(f"{client_de.client_id}:{client_de.clear_secret}".encode()).decode()
    response = post_token({"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200


def test_scope_parameter_narrows_the_token(client_de):
    response = post_token(credentials(client_de, scope="customer.customer_read--FR"))
    assert response.status_code == 200
    assert decode(response.json()["access_token"])["scope"] == "customer.customer_read--FR"


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        # Emporix's tutorials ask for scopes this service does not know: they are ignored, and
        # what is asked is granted as far as the client holds it (RFC 6749 section 3.3).
        ("customer.customer_manage customer.customer_manage_own", "customer.customer_manage--DE"),
        (
            "customer.customer_manage--DE customer.customer_manage--FR",
            "customer.customer_manage--DE",
        ),
        ("tenant=acme customer.customer_read--FR", "customer.customer_read--FR"),
        ("customer.customer_read--FR customer.customer_read--FR", "customer.customer_read--FR"),
    ],
)
def test_the_token_gets_what_is_asked_and_held(client_de, scope, granted):
    response = post_token(credentials(client_de, scope=scope))
    assert response.status_code == 200, response.json()
    assert response.json()["scope"] == f"tenant=acme {granted}"
    assert decode(response.json()["access_token"])["scope"] == granted


def test_the_granted_scope_string_can_be_sent_back_as_it_is(client_de):
    """A client that stores the answer's ``scope`` and asks with it again gets the same."""
    first = post_token(credentials(client_de)).json()["scope"]
    again = post_token(credentials(client_de, scope=first))
    assert again.status_code == 200 and again.json()["scope"] == first


def test_a_tenant_in_scope_must_be_the_clients(client_de, other_tenant):
    response = post_token(credentials(client_de, scope="tenant=globex customer.customer_read"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    both = post_token(credentials(client_de, scope="tenant=acme", tenant="globex"))
    assert both.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "scope",
    [
        "customer.customer_manage--FR",
        "restriction.restriction_manage",
        "nonsense.scope",
        "customer.customer_read--",
    ],
)
def test_scope_beyond_the_grant_is_invalid_scope(client_de, scope):
    response = post_token(credentials(client_de, scope=scope))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_scope"
    assert body["status"] == 400
    assert body["type"] == "validation_failure"


def test_wrong_secret_is_invalid_client(client_de):
    response = post_token(credentials(client_de, client_secret="wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["type"] == "unauthorized"


def test_unknown_client_is_invalid_client(db):
    response = post_token(
        {"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_inactive_client_cannot_get_a_token(client_de):
    client_de.is_active = False
    client_de.save()
    response = post_token(credentials(client_de))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "invalid_request"),
        ({"grant_type": "password", "username": "x"}, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
    ],
)
def test_malformed_requests(db, data, error):
    response = post_token(data)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_json_body_is_unsupported_media_type(db):
    response = APIClient().post(TOKEN_URL, {"grant_type": "password"}, format="json")
    assert response.status_code == 415
    assert response.json()["type"] == "unsupported_media_type"


@pytest.fixture
def de_agent(tenant):
    group = AccessGroupFactory(
        tenant=tenant,
        scopes=["customer.customer_read", "customer.customer_manage"],
        restrictions=["DE"],
    )
    return EmployeeFactory(tenant=tenant, username="de_agent", access_groups=[group])


def test_password_grant_carries_group_scopes(de_agent):
    response = post_token(
        {"grant_type": "password", "username": "de_agent", "password": "correct-horse-battery"}
    )
    assert response.status_code == 200
    claims = decode(response.json()["access_token"])
    assert claims["sub"] == f"employee:{de_agent.pk}"
    assert claims["tenant"] == "acme"
    assert claims["scope"] == "customer.customer_manage--DE customer.customer_read--DE"


def test_password_grant_with_wrong_password_is_invalid_grant(de_agent):
    response = post_token({"grant_type": "password", "username": "de_agent", "password": "bad"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_password_grant_for_inactive_employee_is_invalid_grant(de_agent):
    de_agent.is_active = False
    de_agent.save()
    response = post_token(
        {"grant_type": "password", "username": "de_agent", "password": "correct-horse-battery"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_password_grant_cannot_name_another_tenant(de_agent, other_tenant):
    response = post_token(
        {
            "grant_type": "password",
            "username": "de_agent",
            "password": "correct-horse-battery",
            "tenant": "globex",
        }
    )
    assert response.json()["error"] == "invalid_grant"


def test_superuser_must_name_a_tenant_and_gets_every_scope(db, tenant):
    EmployeeFactory(tenant=None, username="root", is_superuser=True)
    data = {"grant_type": "password", "username": "root", "password": "correct-horse-battery"}
    assert post_token(data).json()["error"] == "invalid_request"
    response = post_token({**data, "tenant": "acme"})
    assert response.status_code == 200
    scopes = decode(response.json()["access_token"])["scope"].split()
    assert "customer.customer_manage" in scopes
    assert "restriction.restriction_manage" in scopes


def test_superuser_may_name_the_tenant_inside_scope(db, tenant):
    EmployeeFactory(tenant=None, username="root", is_superuser=True)
    data = {"grant_type": "password", "username": "root", "password": "correct-horse-battery"}
    response = post_token({**data, "scope": "tenant=acme customer.customer_read"})
    assert response.status_code == 200
    claims = decode(response.json()["access_token"])
    assert (claims["tenant"], claims["scope"]) == ("acme", "customer.customer_read")


def test_a_scope_that_only_names_the_tenant_asks_for_everything_held(db, tenant):
    """As the README says: a platform superuser's ``scope=tenant=CODE`` alone is a token for
    that tenant with every scope (it was a 400 ``invalid_scope``)."""
    EmployeeFactory(tenant=None, username="root", is_superuser=True)
    data = {"grant_type": "password", "username": "root", "password": "correct-horse-battery"}
    response = post_token({**data, "scope": "tenant=acme"})
    assert response.status_code == 200
    claims = decode(response.json()["access_token"])
    assert claims["tenant"] == "acme"
    assert "customer.customer_manage" in claims["scope"].split()
