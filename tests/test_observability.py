"""Probes, the request log line and the metrics endpoint, in-process."""

import logging
import re

import pytest

from tests.conftest import READER

pytestmark = pytest.mark.django_db


def test_healthz_and_readyz_answer_json_without_authentication(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migrations"] == "ok"


@pytest.mark.server_error
def test_readyz_is_503_when_the_database_fails(client, monkeypatch):
    from core import health

    def broken():
        raise OSError("connection refused")

    monkeypatch.setattr(health, "_database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed: OSError"


def test_a_request_id_is_taken_or_made_and_returned(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="not valid <script>")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)


def test_one_log_line_per_request_with_its_fields_and_no_second_copy(api_as, world, caplog):
    http = api_as(*READER)
    with caplog.at_level(logging.INFO):
        response = http.get("/customer/acme/customers/NOPE", HTTP_X_REQUEST_ID="probe-1")
    assert response.status_code == 404
    records = [r for r in caplog.records if getattr(r, "request_id", None) == "probe-1"]
    assert [r.name for r in records] == ["requests"]  # no "Not Found" warning beside it
    line = records[0]
    assert (line.method, line.status, line.tenant, line.principal_kind) == (
        "GET",
        404,
        "acme",
        "api_client",
    )
    assert line.route == "/customer/<str:tenant>/customers/<identifier:customerNumber>"
    assert line.principal_id == http.api_client.client_id
    assert line.queries >= 1 and line.duration_ms > 0


def test_metrics_answer_loopback_or_the_token_only(client, settings):
    settings.METRICS_TOKEN = "m" * 40
    client.get("/healthz")
    local = client.get("/metrics")  # the test client comes from 127.0.0.1
    assert local.status_code == 200
    text = local.content.decode()
    assert 'http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}' in text
    assert 'task_queue_depth{status="ready"}' in text
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **remote).status_code == 404
    with_token = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 40, **remote)
    assert with_token.status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **remote).status_code == 404
    # A proxy on loopback does not make its callers local.
    proxied = {"HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert client.get("/metrics", **proxied).status_code == 404
    # nginx's usual header alone (no X-Forwarded-For) is a proxy too.
    assert client.get("/metrics", HTTP_X_REAL_IP="198.51.100.7").status_code == 404
    assert client.get("/metrics", HTTP_VIA="1.1 proxy").status_code == 404
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 40, **proxied).status_code
        == 200
    )
