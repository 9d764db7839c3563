"""SCIM 2.0 provisioning of employees and access groups: the protocol, the identity rules
(no escalation, no take-over, every change recorded) and bad input."""

import json

import pytest

from accounts.models import AccessChange, AccessGroup, Employee
from tests.factories import AccessGroupFactory, EmployeeFactory

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PROVISIONER = ("iam.scim_manage", "customer.customer_read--DE")


def url(path="", tenant="acme"):
    return f"/scim/v2/{tenant}/{path}"


def send(http, method, path, body=None, **headers):
    """A SCIM request: the body as JSON in SCIM's media type."""
    if body is None:
        return getattr(http, method)(url(path), **headers)
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return getattr(http, method)(url(path), data, content_type=SCIM, **headers)


def user_body(user_name="alice", **extra):
    return {"schemas": [USER], "userName": user_name, **extra}


@pytest.fixture
def scim(api_as):
    return api_as(*PROVISIONER)


def assert_error(response, status, scim_type=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    if scim_type:
        assert body["scimType"] == scim_type
    return body


def test_create_get_and_list_a_user(scim):
    created = send(
        scim,
        "post",
        "Users",
        user_body(
            "alice@acme.example",
            externalId="okta-1",
            name={"givenName": "Alice", "familyName": "Smith"},
            emails=[{"value": "alice@acme.example", "type": "work", "primary": True}],
        ),
    )
    assert created.status_code == 201, created.content
    assert created["Content-Type"].startswith(SCIM)
    body = created.json()
    employee = Employee.objects.get(username="alice@acme.example")
    assert body["id"] == str(employee.pk)
    assert created["Location"] == body["meta"]["location"]
    assert created["ETag"] == body["meta"]["version"]
    assert (employee.first_name, employee.last_name, employee.external_id) == (
        "Alice",
        "Smith",
        "okta-1",
    )
    assert employee.is_active and employee.is_staff and not employee.is_superuser
    assert not employee.has_usable_password()
    change = AccessChange.objects.get(subject_id=str(employee.pk), action="created")
    assert change.channel == "scim" and change.actor_kind == "api_client"

    got = send(scim, "get", f"Users/{employee.pk}")
    assert got.json()["userName"] == "alice@acme.example"
    listed = scim.get(url("Users"), {"filter": 'userName eq "ALICE@acme.example"'}).json()
    assert listed["totalResults"] == 1 and listed["Resources"][0]["id"] == str(employee.pk)
    by_external = scim.get(url("Users"), {"filter": 'externalId eq "okta-1"'}).json()
    assert by_external["totalResults"] == 1

