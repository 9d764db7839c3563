"""The SCIM endpoint checked by scim2-tester, the SCIM ecosystem's conformance checker, over
real HTTP against the running server: every check passes, and any one skipped is named with its
reason."""

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.conftest import token_for
from tests.factories import ApiClientFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_scim2_tester_finds_nothing_wrong(live_server, tenant, capsys):
    client = ApiClientFactory(tenant=tenant, scopes=["iam.scim_manage", "customer.customer_read"])
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2/{tenant.code}",
        headers={"Authorization": f"Bearer {token_for(client)}"},
        timeout=30,
    )
    results = check_server(SyncSCIMClient(http))
    failed = [r for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    skipped = [r for r in results if r.status == Status.SKIPPED]
    with capsys.disabled():
        print(
            f"\nscim2-tester: {len(results)} checks, {len(failed)} failed, {len(skipped)} skipped"
        )
        for result in skipped:
            print(f"  skipped {result.title} ({result.resource_type or '-'}): {result.reason}")
    assert not failed, "\n".join(
        f"{r.title} ({r.resource_type}): {r.status.name} {r.reason}" for r in failed
    )
    assert len(results) - len(skipped) > 20
