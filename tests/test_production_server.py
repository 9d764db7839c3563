"""The production form, for real: collectstatic, then gunicorn (config/gunicorn.py) with DEBUG
off on a free loopback port against the test database, asked what operators and clients ask."""

import json
import re
import time

import pytest

from tests.processes import fetch, production_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(tmp_path):
    with production_server(tmp_path) as running:
        yield running


def test_the_production_server_serves_what_operators_and_clients_need(server):
    base, log = server

    status, headers, body = fetch(f"{base}/admin/login/")
    assert status == 200
    stylesheet = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', body)
    assert stylesheet, "the admin links hashed static files"
    status, headers, _ = fetch(base + stylesheet.group(1).decode())
    assert status == 200
    assert "max-age=315360000" in headers["Cache-Control"]

    status, _, body = fetch(f"{base}/api/docs/")
    assert status == 200
    assets = re.findall(rb'src="([^"]*swagger-ui[^"]*\.js)"', body)
    assert assets and all(a.startswith(b"/static/") for a in assets), assets  # no CDN
    assert fetch(base + assets[0].decode())[0] == 200

    assert json.loads(fetch(f"{base}/healthz")[2]) == {"status": "ok"}
    status, headers, _ = fetch(f"{base}/favicon.ico")  # (urllib follows the redirect)
    assert (status, headers["Content-Type"]) == (200, "image/x-icon")
    status, _, body = fetch(f"{base}/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["migrations"] == "ok"

    status, headers, body = fetch(
        f"{base}/customer/acme/customers/NOPE", {"X-Request-ID": "probe-123"}
    )
    assert status == 401
    assert headers["X-Request-ID"] == "probe-123"
    assert json.loads(body) == {
        "status": 401,
        "type": "unauthorized",
        "message": "Authentication credentials were not provided.",
        "fault": {
            "faultstring": "Authentication credentials were not provided.",
            "detail": {"errorcode": "oauth.v2.InvalidAccessToken"},
        },
    }
    status, _, body = fetch(f"{base}/customer/acme/nothing-here")
    assert (status, json.loads(body)["type"]) == (404, "not_found")
    # A request line gunicorn will not read answers the same JSON body, not an HTML page.
    status, headers, body = fetch(f"{base}/customer/acme/customers?q={'x' * 5000}")
    assert (status, headers["Content-Type"]) == (400, "application/json")
    refused = json.loads(body)
    assert (refused["status"], refused["type"]) == (400, "validation_failure")
    assert "Request Line is too large" in refused["message"]

    status, _, body = fetch(f"{base}/metrics")
    assert status == 200
    # The requests above were answered by the workers and are counted by route and status.
    assert (
        b'http_request_duration_seconds_count{method="GET",'
        b'route="/customer/<str:tenant>/customers/<identifier:customerNumber>",status="401"} 1.0'
    ) in body
    assert re.search(
        rb'http_request_duration_seconds_count\{method="GET",route="/healthz",'
        rb'status="200"\} [1-9]',
        body,
    )
    assert b'task_queue_depth{status="ready"}' in body

    time.sleep(0.5)  # the log line is written after the response
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    probe = [line for line in lines if line.get("request_id") == "probe-123"]
    assert len(probe) == 1, lines[-5:]
    assert probe[0]["status"] == 401 and probe[0]["method"] == "GET"
    assert probe[0]["route"] == "/customer/<str:tenant>/customers/<identifier:customerNumber>"
    assert {"time", "level", "duration_ms", "queries"} <= set(probe[0])
