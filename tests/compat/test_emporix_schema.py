"""Schemathesis with Emporix's document, not ours: requests generated from Emporix's schemas
(valid and invalid) for every operation, sent in-process with a token holding every scope and
the tenant pinned. No answer may be a server error, and every answer Emporix documents must
match Emporix's response schema. Runs on SQLite and PostgreSQL with the rest of the suite."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.compat.emporix import ADDRESS_ID, DOCUMENT, NUMBER
from tests.conftest import fuzzing, token_for

schema = schemathesis.openapi.from_path(DOCUMENT)
schema.app = get_wsgi_application()
EXAMPLES = 50


@pytest.fixture
def bearer(http, stored, wsgi_keeps_the_test_connection):
    """A token with every scope, over the document's customer and address (``stored``)."""
    return {"Authorization": f"Bearer {token_for(http.api_client)}"}


@pytest.mark.django_db
@schema.parametrize()
@fuzzing(EXAMPLES)
def test_emporix_schema_finds_no_server_error_and_no_nonconforming_answer(case, bearer):
    pinned = {"tenant": "acme", "customerNumber": NUMBER, "addressId": ADDRESS_ID}
    for name in case.path_parameters or {}:
        if name in pinned:
            case.path_parameters[name] = pinned[name]
    case.call_and_validate(
        base_url="http://localhost",
        headers=bearer,
        checks=[not_a_server_error, response_schema_conformance],
    )
