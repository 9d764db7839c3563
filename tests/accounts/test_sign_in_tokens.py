"""What the service accepts from an identity provider: only an ID token signed by one of the
provider's published keys, issued by the configured issuer to this client, unexpired, carrying
the nonce of this browser's sign-in, answering this browser's state, once. A small provider
written here answers with each kind of bad token (the real one, tests/identity_provider.py,
only ever answers good ones)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from accounts.models import Employee, SignInProvider
from tests.factories import EmployeeFactory

KEY = RSAKey.generate_key(2048, parameters={"kid": "good", "alg": "RS256", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "good", "alg": "RS256", "use": "sig"})
CLIENT_ID = "customer-service"


class Provider:
    """An OpenID provider whose token endpoint answers ``self.answer`` (the ID token's claims
    and the key it is signed with) or ``self.raw``."""

    def __init__(self):
        self.claims = {}
        self.key = KEY
        self.raw: bytes | None = None
        self.discovery_raw: bytes | None = None
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, body: bytes, content_type="application/json"):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.startswith("/.well-known/openid-configuration"):
                    if provider.discovery_raw is not None:
                        return self.reply(provider.discovery_raw, "text/html")
                    return self.reply(json.dumps(provider.metadata()).encode())
                if self.path.startswith("/jwks"):
                    keys = KeySet([KEY]).as_dict(private=False)
                    return self.reply(json.dumps(keys).encode())
                self.send_response(404)
                self.end_headers()

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if provider.raw is not None:
                    return self.reply(provider.raw)
                token = jwt.encode({"alg": "RS256", "kid": "good"}, provider.claims, provider.key)
                body = {"access_token": "at", "token_type": "Bearer", "id_token": token}
                return self.reply(json.dumps(body).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def metadata(self):
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }


@pytest.fixture
def fake(tenant):
    provider = Provider()
    SignInProvider.objects.create(
        tenant=tenant,
        name="Fake IdP",
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret="secret",
    )
    yield provider
    provider.server.shutdown()


def begin(client) -> dict:
    """Start a sign-in; the authorization request's parameters."""
    answer = client.get("/sso/acme/start")
    assert answer.status_code == 302, answer.content
    query = parse_qs(urlparse(answer["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    return {name: values[0] for name, values in query.items()}


def good_claims(fake, request, **changes):
    now = int(time.time())
    claims = {
        "iss": fake.issuer,
        "aud": CLIENT_ID,
        "sub": "anna-at-idp",
        "preferred_username": "anna",
        "iat": now,
        "exp": now + 300,
        "nonce": request["nonce"],
        "groups": [],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def finish(client, request, state=None):
    return client.get(
        "/sso/acme/callback", {"code": "the-code", "state": state or request["state"]}
    )


def test_a_good_id_token_signs_in(client, tenant, fake):
    EmployeeFactory(tenant=tenant, username="anna")
    request = begin(client)
    fake.claims = good_claims(fake, request)
    answer = finish(client, request)
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"key": OTHER_KEY}, "could not be verified"),  # forged: not the provider's key
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "could not be verified"),
        ({"aud": "someone-else"}, "could not be verified"),
        ({"iss": "http://evil.example"}, "could not be verified"),
        ({"nonce": "not-this-sign-in"}, "could not be verified"),
        ({"nonce": None}, "could not be verified"),
        ({"preferred_username": None}, "no preferred_username claim"),
        ({"groups": [1, 2]}, "not a list of group names"),
        ({"groups": {"Sales": True}}, "not a list of group names"),
    ],
)
def test_a_bad_id_token_signs_nobody_in(client, tenant, fake, change, why):
    anna = EmployeeFactory(tenant=tenant, username="anna")
    request = begin(client)
    change = dict(change)
    fake.key = change.pop("key", KEY)
    fake.claims = good_claims(fake, request, **change)
    answer = finish(client, request)
    assert answer.status_code == 400
    assert why in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    assert not anna.access_groups.exists()


def test_a_state_that_is_not_this_browsers_is_refused(client, tenant, fake):
    EmployeeFactory(tenant=tenant, username="anna")
    request = begin(client)
    fake.claims = good_claims(fake, request)
    answer = finish(client, request, state="forged-state")
    assert answer.status_code == 400 and "another browser session" in answer.content.decode()
    assert finish(client, request).status_code == 302  # (the real one still works, once)
    assert finish(client, request).status_code == 400


def test_a_provider_answering_garbage_is_refused(client, tenant, fake):
    EmployeeFactory(tenant=tenant, username="anna")
    request = begin(client)
    fake.raw = b"<html>maintenance</html>"
    answer = finish(client, request)
    assert answer.status_code == 400
    assert "not OpenID Connect" in answer.content.decode()
    assert not Employee.objects.get(username="anna").last_login


@pytest.mark.server_error  # (502: the provider's discovery document is garbage, on purpose)
def test_a_discovery_document_that_is_garbage_is_refused(client, fake):
    fake.discovery_raw = b"<html>not json</html>"
    answer = client.get("/sso/acme/start")
    assert answer.status_code == 502
    assert "not OpenID Connect" in answer.content.decode()


def test_a_sign_in_binds_its_tenant_as_production_runs_it(client, tenant, fake):
    """In production nothing is bound before the sign-in knows its tenant (tests start bound to
    every tenant): its pages and the callback bind the tenant themselves, so the provider is
    found and the access changes are written."""
    from accounts import rowsecurity
    from accounts.models import AccessChange, ProviderGroup
    from tests.factories import AccessGroupFactory

    readers = AccessGroupFactory(tenant=tenant, name="readers", scopes=["customer.customer_read"])
    ProviderGroup.objects.create(tenant=tenant, name="Sales", access_group=readers)
    anna = EmployeeFactory(tenant=tenant, username="anna")
    rowsecurity.stand(rowsecurity.NOTHING)  # (as a process that bound nothing)
    try:
        request = begin(client)
        fake.claims = good_claims(fake, request, groups=["Sales"])
        answer = finish(client, request)
    finally:
        rowsecurity.stand(rowsecurity.ALL_TENANTS)  # (for the test's own look)
    assert answer.status_code == 302, answer.content.decode()[-800:]
    assert list(anna.access_groups.all()) == [readers]
    assert AccessChange.objects.filter(subject_id=str(anna.pk), action="group_added").exists()
