import pytest
from django.test import override_settings

from tests.conftest import bearer_client, token_for
from tests.factories import ApiClientFactory

pytestmark = pytest.mark.urls("tests.urls")


@pytest.fixture
def manager(tenant):
    return bearer_client(
        token_for(ApiClientFactory(tenant=tenant, scopes=["customer.customer_manage"]))
    )


def assert_error(response, status, type_):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status
    assert body["type"] == type_
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.content.decode()
    return body


@pytest.mark.parametrize("path", ["/customer/acme/nothing-here", "/oauth/nothing", "/customer/"])
def test_unknown_path_is_a_json_404(client, db, path):
    assert_error(client.get(path), 404, "not_found")


def test_method_not_allowed(manager):
    body = assert_error(manager.delete("/customer/acme/test-whoami"), 405, "method_not_allowed")
    assert "DELETE" in body["message"]


def test_unsupported_media_type(manager):
    response = manager.post("/customer/acme/test-whoami", "a=b", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_malformed_json(manager):
    response = manager.post(
        "/customer/acme/test-whoami", "{not json", content_type="application/json"
    )
    assert_error(response, 400, "validation_failure")


def test_body_over_10_mb_is_413(manager):
    body = b'{"a": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = manager.post("/customer/acme/test-whoami", body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_oauth_get_is_405(client, db):
    assert_error(client.get("/oauth/token"), 405, "method_not_allowed")


@pytest.mark.server_error
@override_settings(DEBUG=False)
def test_unhandled_error_is_a_json_500_without_traceback(manager, monkeypatch):
    from tests import urls

    def explode(self, request, tenant):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(urls.WhoAmIApi, "get", explode)
    manager.raise_request_exception = False
    response = manager.get("/customer/acme/test-whoami")
    body = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.content.decode()
    assert body["message"] == "An unexpected error occurred."


def test_settings_refuse_development_secrets_without_debug(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "JWT_SIGNING_KEY" in result.stderr
