"""Hostile input never produces a 500, on SQLite and PostgreSQL alike."""

from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from tests.conftest import MANAGER
from tests.factories import CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db
BASE = "/customer/acme/customers"


@pytest.fixture
def manager(api_as, tenant):
    CustomerFactory(tenant=tenant, customer_number="C1")
    return api_as(*MANAGER)


@pytest.mark.parametrize("number", ["%00", "a%00b", "x" * 67, "%E2%82%AC", "a.b"])
def test_impossible_customer_numbers_are_404(manager, number):
    for suffix in ("", "/addresses", "/addresses/x", "/accounts/internal"):
        response = manager.get(f"{BASE}/{number}{suffix}")
        assert response.status_code in {404, 405}, (number, suffix, response.content)
        assert response.json()["status"] == response.status_code


def test_nul_in_bodies_is_400(manager):
    for body in [
        {"firstName": "a\x00b"},
        {"mixins": {"k": "a\x00b"}},
        {"mixins": {"a\x00": 1}},
        {"metadata": {"mixins": {"x": ["\x00"]}}},
    ]:
        response = manager.post(BASE, body, format="json")
        assert response.status_code == 400, (body, response.content)
    response = manager.patch(f"{BASE}/C1", {"mixins": {"deep": [{"x": "\x00"}]}}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("q", ['lastName:"a\x00b"', "lastName:~a\x00", "id:\x00"])
def test_nul_in_queries_is_400(manager, q):
    assert manager.get(BASE, {"q": q}).status_code == 400


@pytest.mark.parametrize(
    "page", ["99999999999999999999", "1" * 40, "\u00b2", "\u0661", "-1", "1e3"]
)
def test_absurd_page_numbers_are_400(manager, page):
    assert manager.get(BASE, {"pageNumber": page}).status_code == 400


@pytest.mark.parametrize(
    "data",
    [
        {"grant_type": "password", "username": "a\x00", "password": "x"},
        {"grant_type": "client_credentials", "client_id": "a\x00", "client_secret": "x"},
        {"grant_type": "pass\x00word"},
    ],
)
def test_nul_in_token_requests_is_400(db, data):
    response = APIClient().post(
        "/oauth/token", urlencode(data), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_nul_in_admin_search_is_harmless(tenant, client):
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True))
    assert client.get("/admin/customers/customer/", {"q": "a\x00b"}).status_code == 200


def test_pathologically_nested_json_is_400(manager):
    deep = "[" * 100_000 + "]" * 100_000
    response = manager.generic("POST", BASE, deep, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "validation_failure"


def test_mixins_nested_deeper_than_32_levels_are_400(manager):
    deep = '{"mixins": ' + '{"a":' * 40 + "1" + "}" * 40 + "}"
    response = manager.generic("POST", BASE, deep, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "mixins"
    shallow = '{"mixins": ' + '{"a":' * 20 + "1" + "}" * 20 + "}"
    assert (
        manager.generic("POST", BASE, shallow, content_type="application/json").status_code == 201
    )


def test_nul_in_basic_credentials_is_400(db):
    import base64

    basic = base64.b64encode(b"a\x00:b").decode()
    response = APIClient().post(
        "/oauth/token",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
