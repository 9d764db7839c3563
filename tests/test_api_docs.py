"""The API's own documentation: every operation summarised and described, and both interactive
pages (Swagger UI, Redoc) working in a real browser with nothing fetched from elsewhere."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "post", "put", "patch", "delete"}
ERROR_BODY = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_operation_has_a_summary_and_a_description(schema):
    missing = [
        name
        for name, operation in operations(schema)
        if not (operation.get("summary") and operation.get("description"))
    ]
    assert missing == []


def test_every_scope_an_operation_requires_is_described_by_the_token_scheme(schema):
    described = schema["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"][
        "scopes"
    ]
    required = {
        scope
        for _, operation in operations(schema)
        for requirement in operation.get("security", [])
        for scope in requirement.get("OAuth2", [])
    }
    assert "audit.audit_read" in required
    assert required - described.keys() == set()


def test_every_tenant_operation_documents_its_body_and_its_refusals(schema):
    """What a client generator needs: the shape of every answer with a body, and the error body
    of the 401 and 403 every operation under a tenant can answer."""
    undocumented = []
    for name, operation in operations(schema):
        if not name.split()[1].startswith(("/customer/", "/iam/")):
            continue
        responses = operation["responses"]
        for code, response in responses.items():
            if code.startswith("2") and code not in {"202", "204"} and "content" not in response:
                undocumented.append(f"{name} {code}: no body")
        for code in ("401", "403"):
            body = responses.get(code, {}).get("content", {}).get("application/json", {})
            if body.get("schema") != ERROR_BODY:
                undocumented.append(f"{name} {code}: not the error body")
    assert undocumented == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "shown"),
    [("/api/redoc/", "Search customers"), ("/api/docs/", "Search customers")],
    ids=["redoc", "swagger-ui"],
)
def test_the_interactive_docs_work_offline(browser, live_server, path, shown):
    """The page renders the service's own document, and the browser asks no other origin for
    anything: not answered, not even tried and refused by the page's Content-Security-Policy
    (Redoc's bundle is served without the one address elsewhere it names, Redocly's logo)."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    local = re.compile(rf"({re.escape(live_server.url)}|data:|blob:)")
    answered_elsewhere, refused_elsewhere = [], []
    page.on(
        "response",
        lambda response: (
            None if local.match(response.url) else answered_elsewhere.append(response.url)
        ),
    )
    page.on(
        "requestfailed",
        lambda request: (
            None
            if local.match(request.url)
            else refused_elsewhere.append((request.url, request.failure))
        ),
    )
    page.goto(path)
    page.get_by_text(shown).first.wait_for(state="attached", timeout=20_000)
    page.wait_for_load_state("networkidle")
    context.close()
    assert answered_elsewhere == []
    assert refused_elsewhere == []


def test_the_redoc_script_is_served_without_addresses_elsewhere(client):
    page = client.get("/api/redoc/")
    response = client.get("/api/redoc/redoc.standalone.js")
    assert b'src="/api/redoc/redoc.standalone.js"' in page.content
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    script = response.content
    assert b"Redoc" in script and len(script) > 500_000  # the whole bundle
    assert b"cdn.redoc.ly" not in script
    again = client.get("/api/redoc/redoc.standalone.js", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
