import time

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import ApiClient
from accounts.principal import Principal
from accounts.services.identities import (
    api_client_deactivate,
    api_client_rotate_secret,
    api_client_update,
    employee_update,
)
from accounts.tokens import issue_token
from core.channels import Channel
from tests.conftest import bearer_client, token_for
from tests.factories import AccessGroupFactory, ApiClientFactory, EmployeeFactory

pytestmark = pytest.mark.urls("tests.urls")
URL = "/customer/acme/test-whoami"


@pytest.fixture
def reader(tenant):
    return ApiClientFactory(tenant=tenant, scopes=["customer.customer_read--DE"])


def operator(identity) -> Principal:
    return Principal.operator(identity.tenant)


def forged(claims, key=None, algorithm="HS256"):
    base = {
        "token_type": "access",
        "sub": "client:x",
        "tenant": "acme",
        "scope": "customer.customer_read",
        "iss": settings.SIMPLE_JWT["ISSUER"],
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
        "jti": "j",
    }
    base.update(claims)
    if "gen" not in base:  # the client's current token generation, as a real token carries
        client = ApiClient.objects.filter(client_id=base["sub"].removeprefix("client:")).first()
        base["gen"] = client.token_generation if client else 0
    return jwt.encode(base, key or settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm)


def assert_unauthorized(response):
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == 401
    assert body["type"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_valid_token_becomes_a_principal(reader):
    response = bearer_client(token_for(reader)).get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "tenant": "acme",
        "kind": "api_client",
        "id": reader.client_id,
        "scopes": ["customer.customer_read--DE"],
    }


def test_missing_token_is_401(tenant):
    assert_unauthorized(APIClient().get(URL))


def test_alg_none_is_refused(reader):
    token = jwt.encode(
        {
            "sub": f"client:{reader.client_id}",
            "tenant": "acme",
            "token_type": "access",
            "exp": int(time.time()) + 600,
            "iss": settings.SIMPLE_JWT["ISSUER"],
            "jti": "x",
        },
        key=None,
        algorithm="none",
    )
    assert_unauthorized(bearer_client(token).get(URL))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_another_algorithm_is_refused(reader):
    # The right key, but HS512 instead of the pinned HS256.
    token = forged({"sub": f"client:{reader.client_id}"}, algorithm="HS512")
    assert_unauthorized(bearer_client(token).get(URL))


def test_token_signed_with_another_key_is_refused(reader):
    token = forged({"sub": f"client:{reader.client_id}"}, key="another-key-" * 4)
    assert_unauthorized(bearer_client(token).get(URL))


def test_properly_signed_forged_token_is_accepted_only_when_well_formed(reader):
    # Sanity check of the forging helper: with the right key the same claims work.
    assert bearer_client(forged({"sub": f"client:{reader.client_id}"})).get(URL).status_code == 200


def test_expired_token_is_refused(reader):
    token = forged({"sub": f"client:{reader.client_id}", "exp": int(time.time()) - 1})
    assert_unauthorized(bearer_client(token).get(URL))


def test_wrong_issuer_is_refused(reader):
    token = forged({"sub": f"client:{reader.client_id}", "iss": "someone-else"})
    assert_unauthorized(bearer_client(token).get(URL))


@pytest.mark.parametrize("raw", ["garbage", "a.b.c", "Bearer", "x" * 5000])
def test_malformed_token_is_refused(tenant, raw):
    assert_unauthorized(bearer_client(raw).get(URL))


def test_revoked_client_token_stops_working_at_once(reader):
    http = bearer_client(token_for(reader))
    assert http.get(URL).status_code == 200
    api_client_deactivate(actor=operator(reader), channel=Channel.COMMAND, client_pk=reader.pk)
    assert_unauthorized(http.get(URL))


def test_deactivated_employee_token_stops_working_at_once(tenant):
    group = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])
    employee = EmployeeFactory(tenant=tenant, access_groups=[group])
    token = issue_token(
        subject=f"employee:{employee.pk}",
        tenant_code="acme",
        scopes=employee.scope_strings(),
        generation=employee.token_generation,
    ).access_token
    http = bearer_client(token)
    assert http.get(URL).json()["kind"] == "employee"
    employee.is_active = False
    employee.save()
    assert_unauthorized(http.get(URL))


def test_superuser_token_works_in_the_named_tenant(tenant):
    root = EmployeeFactory(tenant=None, is_superuser=True)
    token = issue_token(
        subject=f"employee:{root.pk}",
        tenant_code="acme",
        scopes=["customer.customer_read"],
        generation=root.token_generation,
    ).access_token
    assert bearer_client(token).get(URL).status_code == 200


@pytest.mark.parametrize("path_tenant", ["globex", "doesnotexist"])
def test_wrong_tenant_is_403_and_reveals_nothing(reader, other_tenant, path_tenant):
    response = bearer_client(token_for(reader)).get(f"/customer/{path_tenant}/test-whoami")
    assert response.status_code == 403
    assert response.json() == {
        "status": 403,
        "type": "forbidden",
        "message": "The access token is not valid for this tenant.",
    }


def test_token_of_another_tenants_client_cannot_claim_this_tenant(reader, other_tenant):
    token = forged({"sub": f"client:{reader.client_id}", "tenant": "globex"})
    assert_unauthorized(bearer_client(token).get("/customer/globex/test-whoami"))


def test_missing_scope_is_403(tenant, api_as):
    response = api_as("customer.customer_read").post(URL, {}, format="json")
    assert response.status_code == 403
    assert response.json()["type"] == "forbidden"


def test_unknown_scopes_in_a_token_are_ignored(tenant):
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read"])
    token = issue_token(
        subject=f"client:{client.client_id}",
        tenant_code="acme",
        scopes=["customer.customer_read", "made.up--X"],
        generation=client.token_generation,
    ).access_token
    assert bearer_client(token).get(URL).json()["scopes"] == ["customer.customer_read"]


def test_base_view_refuses_overrides_of_owned_methods():
    from accounts.api.base import TenantApiView

    with pytest.raises(TypeError, match="get_queryset"):

        class Sneaky(TenantApiView):
            def get_queryset(self):
                return None


def test_a_scope_removed_from_a_client_stops_working_at_once(tenant):
    client = ApiClientFactory(
        tenant=tenant, scopes=["customer.customer_read", "customer.customer_manage"]
    )
    http = bearer_client(token_for(client))
    assert http.post(URL, {}, format="json").status_code == 200
    client.scopes = ["customer.customer_read"]
    client.save()
    assert http.post(URL, {}, format="json").status_code == 403
    assert http.get(URL).json()["scopes"] == ["customer.customer_read"]


def test_leaving_an_access_group_takes_effect_at_once(tenant):
    readers = AccessGroupFactory(
        tenant=tenant, scopes=["customer.customer_read"], restrictions=["DE"]
    )
    managers = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_manage"])
    employee = EmployeeFactory(tenant=tenant, access_groups=[readers, managers])
    token = issue_token(
        subject=f"employee:{employee.pk}",
        tenant_code="acme",
        scopes=employee.scope_strings(),
        generation=employee.token_generation,
    ).access_token
    http = bearer_client(token)
    assert http.post(URL, {}, format="json").status_code == 200
    employee.access_groups.remove(managers)
    assert http.post(URL, {}, format="json").status_code == 403
    assert http.get(URL).json()["scopes"] == ["customer.customer_read--DE"]


def test_a_token_never_gains_scopes_added_after_it_was_issued(tenant):
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read"])
    http = bearer_client(token_for(client))
    client.scopes = ["customer.customer_read", "customer.customer_manage"]
    client.save()
    assert http.post(URL, {}, format="json").status_code == 403


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "tomorrow"},
        {"exp": 10**30},
        {"iat": "now"},
        {"gen": "1"},
        {"gen": None},
        {"sub": 42, "gen": 1},
    ],
    ids=["exp-string", "exp-huge", "iat-string", "gen-string", "gen-null", "sub-number"],
)
def test_malformed_claims_of_a_validly_signed_token_are_a_401(reader, claims):
    token = forged({"sub": f"client:{reader.client_id}", **claims})
    assert_unauthorized(bearer_client(token).get(URL))


def test_rotating_the_secret_invalidates_earlier_tokens(reader):
    http = bearer_client(token_for(reader))
    assert http.get(URL).status_code == 200
    api_client_rotate_secret(actor=operator(reader), channel=Channel.COMMAND, client_pk=reader.pk)
    assert_unauthorized(http.get(URL))
    reader.refresh_from_db()
    assert bearer_client(token_for(reader)).get(URL).status_code == 200  # a new one works


def test_deactivate_then_reactivate_does_not_revive_earlier_tokens(reader):
    http = bearer_client(token_for(reader))
    api_client_deactivate(actor=operator(reader), channel=Channel.COMMAND, client_pk=reader.pk)
    api_client_update(
        actor=operator(reader),
        channel=Channel.COMMAND,
        client_pk=reader.pk,
        name=reader.name,
        scopes=reader.scopes,
        is_active=True,
    )
    assert_unauthorized(http.get(URL))
    reader.refresh_from_db()
    assert bearer_client(token_for(reader)).get(URL).status_code == 200


def employee_token(employee):
    return issue_token(
        subject=f"employee:{employee.pk}",
        tenant_code="acme",
        scopes=employee.scope_strings(),
        generation=employee.token_generation,
    ).access_token


def test_changing_an_employees_password_invalidates_earlier_tokens(tenant):
    group = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])
    employee = EmployeeFactory(tenant=tenant, access_groups=[group])
    http = bearer_client(employee_token(employee))
    assert http.get(URL).status_code == 200
    employee.set_password("a-brand-new-password")
    employee.save(update_fields=["password"])  # as Django's password forms save it
    assert_unauthorized(http.get(URL))
    employee.refresh_from_db()
    assert bearer_client(employee_token(employee)).get(URL).status_code == 200


def test_employee_deactivate_then_reactivate_does_not_revive_earlier_tokens(tenant):
    group = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])
    employee = EmployeeFactory(tenant=tenant, access_groups=[group])
    http = bearer_client(employee_token(employee))
    for active in (False, True):
        employee_update(
            actor=operator(employee),
            channel=Channel.COMMAND,
            employee_pk=employee.pk,
            fields={"is_active": active},
        )
    assert_unauthorized(http.get(URL))
