"""The hostile-input suite: Schemathesis generates requests for every operation of the
service's own OpenAPI document (valid and invalid bodies, parameters and headers) and sends them
to the application in-process, as an unrestricted client and as a DE-only one; no answer may be a
5xx. Runs on SQLite and PostgreSQL with the rest of the suite."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from schemathesis.checks import not_a_server_error

from tests.conftest import DE_MANAGER, MANAGER, fuzzing

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
EXAMPLES = 20


@pytest.fixture
def tokens(world, api_as, wsgi_keeps_the_test_connection):
    """Bearer headers of an unrestricted manager (with import) and a DE-only manager."""
    from tests.conftest import token_for

    everything = api_as(*MANAGER, "customer.import_manage").api_client
    de_only = api_as(*DE_MANAGER).api_client
    return [token_for(everything), token_for(de_only)]


@pytest.mark.django_db
@schema.parametrize()
@fuzzing(EXAMPLES)
def test_no_generated_request_gets_a_server_error(case, tokens):
    if "tenant" in (case.path_parameters or {}):
        case.path_parameters["tenant"] = "acme"
    for token in tokens:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
        )
