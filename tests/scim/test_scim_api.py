"""SCIM 2.0 provisioning of employees and access groups: the protocol, the identity rules
(no escalation, no take-over, every change recorded) and bad input."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import AccessChange, AccessGroup, Employee
from accounts.tokens import issue_token
from tests.conftest import bearer_client
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


def test_another_tenants_token_answers_like_nothing_is_there(scim, api_as, other_tenant):
    stranger = api_as(*PROVISIONER, on_tenant=other_tenant)
    employee = EmployeeFactory(tenant=scim.api_client.tenant, username="bob")
    for path in ("Users", f"Users/{employee.pk}", "Groups", "ServiceProviderConfig", "Schemas"):
        assert_error(send(stranger, "get", path), 404)
    assert_error(send(stranger, "delete", f"Users/{employee.pk}"), 404)
    assert Employee.objects.filter(pk=employee.pk, is_active=True).exists()


def test_without_the_unsuffixed_scope_every_endpoint_refuses(api_as):
    for scopes in [("customer.customer_read",), ("iam.scim_manage--DE",)]:
        http = api_as(*scopes)
        body = assert_error(send(http, "get", "Users"), 403)
        assert "iam.scim_manage" in body["detail"]
        assert_error(send(http, "post", "Users", user_body("mallory")), 403)
    assert not Employee.objects.filter(username="mallory").exists()
    assert_error(APIClient().get(url("Users")), 401)


def test_another_tenants_employees_and_groups_are_never_listed(scim, other_tenant):
    EmployeeFactory(tenant=other_tenant, username="stranger")
    AccessGroupFactory(tenant=other_tenant, name="strangers")
    mine = EmployeeFactory(tenant=scim.api_client.tenant, username="colleague")
    users = send(scim, "get", "Users").json()
    assert [u["userName"] for u in users["Resources"]] == ["colleague"]
    assert users["totalResults"] == 1
    assert "strangers" not in json.dumps(send(scim, "get", "Groups").json())
    stranger = Employee.objects.get(username="stranger")
    assert_error(send(scim, "get", f"Users/{stranger.pk}"), 404)
    assert_error(send(scim, "put", f"Users/{stranger.pk}", user_body("x")), 404)
    assert mine.pk != stranger.pk


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        (user_body("eve", nickName="evil"), "invalidSyntax"),  # not an attribute kept here
        (user_body("eve", active="yes"), "invalidValue"),
        ({"schemas": [USER], "userName": 42}, "invalidValue"),
        ({"schemas": [USER]}, None),  # userName is required
        (user_body("eve", emails=[{"value": "e@x.example", "type": "home"}]), "invalidValue"),
        (
            user_body("eve", emails=[{"value": "a@x.example"}, {"value": "b@x.example"}]),
            "invalidValue",
        ),
        (user_body("eve", emails=[{"value": "not an address"}]), "invalidValue"),
        (user_body("eve has spaces"), "invalidValue"),
        ("[1, 2]", "invalidSyntax"),
        ("{not json", "invalidSyntax"),
    ],
)
def test_bad_user_bodies_are_refused_and_create_nothing(scim, body, scim_type):
    before = Employee.objects.count(), AccessChange.objects.count()
    assert_error(send(scim, "post", "Users", body), 400, scim_type)
    assert (Employee.objects.count(), AccessChange.objects.count()) == before


def test_a_taken_user_name_is_a_conflict(scim):
    EmployeeFactory(tenant=scim.api_client.tenant, username="alice")
    assert_error(send(scim, "post", "Users", user_body("alice")), 409, "uniqueness")
    assert Employee.objects.filter(username="alice").count() == 1


@pytest.mark.parametrize(
    "expression",
    [
        'userName co "a"',
        'userName eq "a" or userName eq "b"',
        'name.givenName eq "a"',
        'password eq "x"',
        "userName eq 3",
        "userName eq",
        "(((",
        'displayName eq "a"',  # a group attribute, not a user's
    ],
)
def test_filters_outside_the_grammar_are_refused(scim, expression):
    assert_error(scim.get(url("Users"), {"filter": expression}), 400, "invalidFilter")


def test_paging_counts_from_one_and_caps_the_page(scim):
    tenant = scim.api_client.tenant
    for index in range(5):
        EmployeeFactory(tenant=tenant, username=f"user{index}")
    page = scim.get(url("Users"), {"startIndex": "2", "count": "2"}).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [u["userName"] for u in page["Resources"]] == ["user1", "user2"]
    nothing = scim.get(url("Users"), {"count": "0"}).json()
    assert nothing["totalResults"] == 5 and nothing["Resources"] == []
    assert_error(scim.get(url("Users"), {"count": "many"}), 400, "invalidValue")


def test_a_list_costs_the_same_queries_for_one_user_or_many(scim):
    tenant = scim.api_client.tenant
    group = AccessGroupFactory(tenant=tenant, name="readers")
    EmployeeFactory(tenant=tenant, username="first", access_groups=[group])
    send(scim, "get", "Users")  # (the first request of a principal binds its context apart)
    with CaptureQueriesContext(connection) as one:
        assert send(scim, "get", "Users").status_code == 200
    for index in range(20):
        EmployeeFactory(tenant=tenant, username=f"more{index}", access_groups=[group])
    with CaptureQueriesContext(connection) as many:
        listed = send(scim, "get", "Users").json()
    assert listed["totalResults"] == 21
    assert listed["Resources"][0]["groups"][0]["display"] == "readers"
    assert len(many) == len(one)


def test_deactivating_ends_the_employees_tokens_and_back_office_session(scim, client):
    tenant = scim.api_client.tenant
    employee = EmployeeFactory(tenant=tenant, username="leaver")
    token = issue_token(
        subject=f"employee:{employee.pk}",
        tenant_code=tenant.code,
        scopes=[],
        generation=employee.token_generation,
    ).access_token
    client.force_login(employee)
    assert client.get("/admin/").status_code == 200
    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    answered = send(scim, "patch", f"Users/{employee.pk}", patch)
    assert answered.status_code == 200, answered.content
    assert answered.json()["active"] is False
    employee.refresh_from_db()
    assert not employee.is_active
    assert bearer_client(token).get("/customer/acme/customers").status_code == 401
    assert client.get("/admin/").status_code == 302  # back to the sign-in page
    change = AccessChange.objects.get(subject_id=str(employee.pk), action="deactivated")
    assert change.channel == "scim"


def test_delete_removes_the_employee_and_records_it(scim):
    employee = EmployeeFactory(tenant=scim.api_client.tenant, username="gone")
    assert send(scim, "delete", f"Users/{employee.pk}").status_code == 204
    assert not Employee.objects.filter(pk=employee.pk).exists()
    assert AccessChange.objects.filter(
        subject_id=str(employee.pk), action="deleted", channel="scim"
    ).exists()
    assert_error(send(scim, "get", f"Users/{employee.pk}"), 404)


def test_an_employee_stronger_than_the_client_cannot_be_changed(scim):
    admin_group = AccessGroupFactory(
        tenant=scim.api_client.tenant, name="admins", scopes=["tenant.tenant_manage"]
    )
    boss = EmployeeFactory(
        tenant=scim.api_client.tenant, username="boss", access_groups=[admin_group]
    )
    patch = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert_error(send(scim, "patch", f"Users/{boss.pk}", patch), 403)
    assert_error(send(scim, "delete", f"Users/{boss.pk}"), 403)
    boss.refresh_from_db()
    assert boss.is_active


def test_a_stale_etag_is_refused_and_changes_nothing(scim):
    employee = EmployeeFactory(tenant=scim.api_client.tenant, username="carol")
    etag = send(scim, "get", f"Users/{employee.pk}")["ETag"]
    assert send(scim, "get", f"Users/{employee.pk}", HTTP_IF_NONE_MATCH=etag).status_code == 304
    renamed = send(scim, "put", f"Users/{employee.pk}", user_body("carol2"), HTTP_IF_MATCH=etag)
    assert renamed.status_code == 200 and renamed["ETag"] != etag
    stale = send(scim, "put", f"Users/{employee.pk}", user_body("carol3"), HTTP_IF_MATCH=etag)
    assert_error(stale, 412, "preconditionFailed")
    employee.refresh_from_db()
    assert employee.username == "carol2"


# --- groups ------------------------------------------------------------------------------------


def test_a_provisioned_group_grants_nothing_until_an_administrator_says_what(scim):
    person = EmployeeFactory(tenant=scim.api_client.tenant, username="dave")
    created = send(
        scim,
        "post",
        "Groups",
        {
            "schemas": [GROUP],
            "displayName": "Sales EMEA",
            "externalId": "entra-42",
            "members": [{"value": str(person.pk), "display": "Dave"}],
        },
    )
    assert created.status_code == 201, created.content
    group = AccessGroup.objects.get(name="Sales EMEA")
    assert (group.scopes, group.restrictions, group.external_id) == ([], [], "entra-42")
    assert list(group.employees.all()) == [person]
    assert person.grants().scope_strings() == []
    assert created.json()["members"] == [
        {
            "value": str(person.pk),
            "$ref": f"http://testserver{url(f'Users/{person.pk}')}",
            "type": "User",
        }
    ]
    assert AccessChange.objects.filter(
        subject_id=str(person.pk), action="group_added", channel="scim"
    ).exists()


def test_member_add_and_remove_as_okta_and_entra_send_them(scim):
    tenant = scim.api_client.tenant
    group = AccessGroupFactory(
        tenant=tenant, name="readers-de", scopes=["customer.customer_read"], restrictions=["DE"]
    )
    ann, ben = (EmployeeFactory(tenant=tenant, username=n) for n in ("ann", "ben"))
    okta_add = {
        "schemas": [PATCH],
        "Operations": [
            {
                "op": "add",
                "path": "members",
                "value": [{"value": str(ann.pk), "display": "ann"}, {"value": str(ben.pk)}],
            }
        ],
    }
    assert send(scim, "patch", f"Groups/{group.pk}", okta_add).status_code == 200
    assert set(group.employees.all()) == {ann, ben}
    entra_remove = {
        "schemas": [PATCH],
        "Operations": [{"op": "Remove", "path": f'members[value eq "{ann.pk}"]'}],
    }
    answered = send(scim, "patch", f"Groups/{group.pk}", entra_remove)
    assert answered.status_code == 200, answered.content
    assert list(group.employees.all()) == [ben]
    assert [m["value"] for m in answered.json()["members"]] == [str(ben.pk)]


def test_no_member_is_added_to_a_group_beyond_the_clients_own_grants(scim):
    tenant = scim.api_client.tenant
    everything = AccessGroupFactory(
        tenant=tenant, name="all-readers", scopes=["customer.customer_read"]
    )
    admins = AccessGroupFactory(tenant=tenant, name="admins", scopes=["tenant.tenant_manage"])
    person = EmployeeFactory(tenant=tenant, username="erin")
    for group in (everything, admins):
        add = {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": str(person.pk)}]}],
        }
        body = assert_error(send(scim, "patch", f"Groups/{group.pk}", add), 403)
        assert "beyond your own" in body["detail"]
        rename = {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "displayName", "value": "x"}],
        }
        assert_error(send(scim, "patch", f"Groups/{group.pk}", rename), 403)
        assert_error(send(scim, "delete", f"Groups/{group.pk}"), 403)
    assert person.grants().scope_strings() == []
    assert set(AccessGroup.objects.values_list("name", flat=True)) == {"all-readers", "admins"}


def test_a_group_change_is_all_or_nothing(scim):
    tenant = scim.api_client.tenant
    group = AccessGroupFactory(tenant=tenant, name="team", scopes=[])
    person = EmployeeFactory(tenant=tenant, username="fay")
    replace = {
        "schemas": [GROUP],
        "displayName": "renamed",
        "members": [{"value": str(person.pk)}, {"value": "999999"}],
    }
    assert_error(send(scim, "put", f"Groups/{group.pk}", replace), 400, "invalidValue")
    group.refresh_from_db()
    assert group.name == "team" and not group.employees.exists()


def test_a_taken_group_name_is_a_conflict(scim):
    AccessGroupFactory(tenant=scim.api_client.tenant, name="taken", scopes=[])
    body = {"schemas": [GROUP], "displayName": "taken"}
    assert_error(send(scim, "post", "Groups", body), 409, "uniqueness")


def test_unknown_paths_answer_scim_errors(scim):
    assert_error(send(scim, "get", "Nothing"), 404)
    assert_error(send(scim, "get", "Users/not-a-number"), 404)
    assert_error(send(scim, "delete", "Users"), 405)


def test_a_search_over_every_type_lists_users_then_groups(scim):
    tenant = scim.api_client.tenant
    EmployeeFactory(tenant=tenant, username="alma")
    AccessGroupFactory(tenant=tenant, name="alma", scopes=[])
    search = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
    everything = send(scim, "post", ".search", {"schemas": [search]}).json()
    assert everything["totalResults"] == 2
    assert [r["schemas"][0] for r in everything["Resources"]] == [USER, GROUP]
    second = send(scim, "post", ".search", {"schemas": [search], "startIndex": 2}).json()
    assert [r["displayName"] for r in second["Resources"]] == ["alma"]
    # A filter on an attribute only groups have selects no user.
    groups = send(
        scim, "post", ".search", {"schemas": [search], "filter": 'displayName eq "alma"'}
    ).json()
    assert groups["totalResults"] == 1 and groups["Resources"][0]["schemas"] == [GROUP]
    refused = send(scim, "post", ".search", {"schemas": [search], "filter": 'title eq "x"'})
    assert_error(refused, 400, "invalidFilter")


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "add", "path": "groups", "value": [{"value": "1"}]},  # read-only here
        {"op": "remove", "path": "userName"},  # required
        {"op": "replace", "path": "nickName", "value": "x"},  # not kept here
        {"op": "jump", "path": "active", "value": False},
        {"op": "replace", "path": "active", "value": "no"},
    ],
)
def test_patches_outside_the_schema_are_refused_and_change_nothing(scim, operation):
    employee = EmployeeFactory(tenant=scim.api_client.tenant, username="hal")
    before = AccessChange.objects.count()
    answer = send(
        scim, "patch", f"Users/{employee.pk}", {"schemas": [PATCH], "Operations": [operation]}
    )
    assert_error(answer, 400)
    employee.refresh_from_db()
    assert (employee.username, employee.is_active) == ("hal", True)
    assert AccessChange.objects.count() == before


def test_a_member_of_another_tenant_is_refused_like_one_that_does_not_exist(scim, other_tenant):
    group = AccessGroupFactory(tenant=scim.api_client.tenant, name="team", scopes=[])
    stranger = EmployeeFactory(tenant=other_tenant, username="stranger")
    add = {
        "schemas": [PATCH],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": str(stranger.pk)}]}],
    }
    foreign = assert_error(send(scim, "patch", f"Groups/{group.pk}", add), 400, "invalidValue")
    add["Operations"][0]["value"] = [{"value": "987654"}]
    missing = assert_error(send(scim, "patch", f"Groups/{group.pk}", add), 400, "invalidValue")
    assert foreign["detail"] == missing["detail"]
    assert not group.employees.exists()


def test_entras_string_booleans_deactivate_as_meant(scim):
    """Entra ID sends ``"False"`` for ``active``; only "True" and "False" are read so."""
    employee = EmployeeFactory(tenant=scim.api_client.tenant, username="ivy")
    entra = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    assert send(scim, "patch", f"Users/{employee.pk}", entra).status_code == 200
    employee.refresh_from_db()
    assert not employee.is_active


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers")
@pytest.mark.django_db(transaction=True)
def test_the_same_user_created_twice_at_once_is_one_created_and_one_conflict(api_as):
    from tests.threads import at_once

    clients = [api_as(*PROVISIONER), api_as(*PROVISIONER)]
    answers = at_once(
        *(lambda http=http: send(http, "post", "Users", user_body("twice")) for http in clients)
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert Employee.objects.filter(username="twice").count() == 1


def test_adding_many_members_costs_the_queries_of_adding_few(scim):
    tenant = scim.api_client.tenant
    people = [EmployeeFactory(tenant=tenant, username=f"p{n}") for n in range(42)]
    send(scim, "get", "Groups")  # (the first request of a principal binds its context apart)

    def add(group, who):
        body = {
            "schemas": [PATCH],
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": str(p.pk)} for p in who]}
            ],
        }
        with CaptureQueriesContext(connection) as captured:
            answer = send(scim, "patch", f"Groups/{group.pk}?excludedAttributes=members", body)
        assert answer.status_code == 200, answer.content
        assert "members" not in answer.json()
        return len(captured)

    few = add(AccessGroupFactory(tenant=tenant, name="few", scopes=[]), people[:2])
    many = add(AccessGroupFactory(tenant=tenant, name="many", scopes=[]), people[2:])
    assert many == few
