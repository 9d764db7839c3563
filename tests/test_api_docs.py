"""The API's own documentation: every operation summarised and described, and both interactive
pages (Swagger UI, Redoc) working in a real browser with nothing fetched from elsewhere."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "post", "put", "patch", "delete"}


def test_every_operation_has_a_summary_and_a_description():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    missing = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in METHODS and not (operation.get("summary") and operation.get("description"))
    ]
    assert missing == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "shown"),
    [("/api/redoc/", "Search customers"), ("/api/docs/", "Search customers")],
    ids=["redoc", "swagger-ui"],
)
def test_the_interactive_docs_work_offline(browser, live_server, path, shown):
    """The page renders the service's own document, and nothing leaves the browser for another
    origin: whatever a bundled script would fetch elsewhere (Redoc's Redocly logo) is refused
    by the page's Content-Security-Policy before any connection."""
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
    assert all("csp" in (failure or "").lower() for _, failure in refused_elsewhere), (
        refused_elsewhere
    )
