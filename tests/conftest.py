import pytest
from rest_framework.test import APIClient

from accounts.tokens import CLIENT_SUBJECT_PREFIX, issue_token
from tests.factories import ApiClientFactory, TenantFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant(db):
    return TenantFactory(code="acme")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(code="globex")


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def token_for(api_client) -> str:
    return issue_token(
        subject=f"{CLIENT_SUBJECT_PREFIX}{api_client.client_id}",
        tenant_code=api_client.tenant.code,
        scopes=api_client.scopes,
    ).access_token


@pytest.fixture
def api_as(tenant):
    """``api_as("customer.customer_read--DE", ...)``: an API client holding those scopes."""

    def make(*scopes: str, on_tenant=None) -> APIClient:
        client = ApiClientFactory(tenant=on_tenant or tenant, scopes=list(scopes))
        http = bearer_client(token_for(client))
        http.api_client = client
        return http

    return make
