"""The audit API: the restriction history and the access-change log, read-only, filtered,
cursor-paged; what a suffixed audit reader may see of the history."""

import pytest

from accounts.models import AccessChange
from accounts.principal import Principal
from accounts.services.identities import api_client_create
from core.channels import Channel
from tests.factories import CustomerFactory, RestrictionChangeFactory

pytestmark = pytest.mark.django_db
HISTORY = "/customer/acme/restriction-changes"
ACCESS = "/iam/acme/access-changes"
AUDITOR = ("audit.audit_read",)
DE_AUDITOR = ("audit.audit_read--DE",)


@pytest.fixture
def history(audited_world, tenant):
    """Besides every world customer's initial value: MOVED went DE -> FR (an employee, in the
    back office), and GONE, once DE, was deleted (its rows keep the number, not the customer)."""
    moved = CustomerFactory(tenant=tenant, customer_number="MOVED", restriction="FR")
    RestrictionChangeFactory(customer=moved, old_value=None, new_value="DE")
    RestrictionChangeFactory(
        customer=moved,
        old_value="DE",
        new_value="FR",
        actor_kind="employee",
        actor_id="7",
        actor_name="mover",
        channel="admin",
    )
    gone = CustomerFactory(tenant=tenant, customer_number="GONE", restriction="DE")
    RestrictionChangeFactory(customer=gone, new_value="DE")
    gone.delete()
    return audited_world


def numbers(response):
    assert response.status_code == 200, response.content
    return [change["customerNumber"] for change in response.json()]


def test_the_unsuffixed_auditor_sees_the_whole_tenants_history_newest_first(history, api_as):
    listed = numbers(api_as(*AUDITOR).get(HISTORY))
    assert listed == ["GONE", "MOVED", "MOVED", "NULL1", "US1", "FR1", "DE1"]
    assert "OT-DE1" not in listed  # another tenant's
    newest = api_as(*AUDITOR).get(HISTORY).json()[1]
    assert newest == {
        "customerNumber": "MOVED",
        "oldValue": "DE",
        "newValue": "FR",
        "actor": {"kind": "employee", "id": "7", "name": "mover"},
        "channel": "admin",
        "changedAt": newest["changedAt"],
    }


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        # MOVED's DE history is not shown: MOVED is FR now, which --DE does not cover.
        (DE_AUDITOR, ["DE1"]),
        (("audit.audit_read--FR",), ["MOVED", "FR1"]),
        (("audit.audit_read--DE", "audit.audit_read--FR"), ["MOVED", "MOVED", "FR1", "DE1"]),
    ],
)
def test_a_suffixed_auditor_never_sees_a_change_of_a_customer_outside_its_suffix(
    history, api_as, scopes, expected
):
    assert numbers(api_as(*scopes).get(HISTORY)) == expected


def test_customer_scopes_do_not_open_the_audit_api(history, api_as):
    for scopes in (("customer.customer_read",), ("customer.customer_manage",)):
        assert api_as(*scopes).get(HISTORY).status_code == 403
        assert api_as(*scopes).get(ACCESS).status_code == 403
    assert api_as(*DE_AUDITOR).get(ACCESS).status_code == 403  # unsuffixed only


def test_one_customers_history_and_the_same_404_for_what_the_suffix_does_not_cover(history, api_as):
    de = api_as(*DE_AUDITOR)
    assert numbers(de.get("/customer/acme/customers/DE1/restriction-changes")) == ["DE1"]
    for hidden in ("FR1", "MOVED", "GONE", "NOPE", "OT-DE1"):
        response = de.get(f"/customer/acme/customers/{hidden}/restriction-changes")
        assert response.status_code == 404, hidden
        assert (
            response.json()["message"]
            == de.get("/customer/acme/customers/NOPE/restriction-changes").json()["message"]
        )
    everything = api_as(*AUDITOR)
    assert numbers(everything.get("/customer/acme/customers/GONE/restriction-changes")) == ["GONE"]
    assert numbers(everything.get("/customer/acme/customers/MOVED/restriction-changes")) == [
        "MOVED",
        "MOVED",
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"restriction": "FR"}, ["MOVED", "FR1"]),
        ({"channel": "admin"}, ["MOVED"]),
        ({"actor": "mover"}, ["MOVED"]),
        ({"actor": "7", "actorKind": "employee"}, ["MOVED"]),
        ({"customerNumber": "US1"}, ["US1"]),
        ({"changedFrom": "2999-01-01T00:00:00Z"}, []),
        ({"changedTo": "2000-01-01T00:00:00Z"}, []),
    ],
)
def test_filters(history, api_as, params, expected):
    assert numbers(api_as(*AUDITOR).get(HISTORY, params)) == expected


def test_filtering_on_what_the_suffix_hides_finds_nothing(history, api_as):
    de = api_as(*DE_AUDITOR)
    assert numbers(de.get(HISTORY, {"restriction": "FR"})) == []
    assert numbers(de.get(HISTORY, {"customerNumber": "MOVED"})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"actorKind": "robot"}, "actorKind"),
        ({"changedFrom": "yesterday"}, "changedFrom"),
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "1001"}, "pageSize"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_invalid_filter_values_are_a_400_naming_the_parameter(history, api_as, params, field):
    for url in (HISTORY, ACCESS):
        response = api_as(*AUDITOR).get(url, params)
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["status"] == 400
        assert body["details"][0]["field"] == field


def test_pages_follow_the_cursor_to_the_end_and_a_cursor_belongs_to_its_list(history, api_as):
    http = api_as(*AUDITOR)
    walked, url, params = [], HISTORY, {"pageSize": 2}
    while url:
        response = http.get(url, params)
        walked += numbers(response)
        link = response.headers.get("Link")
        url = link[1 : link.index(">")].removeprefix("http://testserver") if link else None
        params = {}
    assert walked == numbers(http.get(HISTORY))
    first = http.get(HISTORY, {"pageSize": 1}).headers["Link"]
    cursor = first.split("cursor=")[1].split("&")[0].split(">")[0]
    replayed = http.get(ACCESS, {"cursor": cursor})
    assert replayed.status_code == 400  # a restriction-history cursor is not an access-log one
    customers = http.get("/customer/acme/customers", {"cursor": cursor})
    assert customers.status_code in (400, 403)


def test_the_access_change_log(tenant, other_tenant, api_as):
    operator = Principal.operator(tenant, "ops")
    api_client_create(
        actor=operator,
        channel=Channel.COMMAND,
        tenant=tenant,
        name="erp",
        scopes=["customer.customer_read"],
    )
    api_client_create(
        actor=Principal.operator(other_tenant, "ops"),
        channel=Channel.COMMAND,
        tenant=other_tenant,
        name="theirs",
        scopes=["customer.customer_read"],
    )
    http = api_as(*AUDITOR)  # (itself made through the factory: no record)
    response = http.get(ACCESS)
    assert response.status_code == 200
    changes = response.json()
    assert [c["subjectName"] for c in changes] == ["erp"]
    assert changes[0]["action"] == "created"
    assert changes[0]["actor"] == {"kind": "operator", "id": "ops", "name": "ops"}
    assert "secret" not in str(changes).lower()
    assert http.get(ACCESS, {"subjectKind": "employee"}).json() == []
    assert len(http.get(ACCESS, {"subject": "erp", "action": "created"}).json()) == 1
    assert AccessChange.objects.filter(subject_name="theirs").exists()  # (there, not shown)


# --- access reviews ---------------------------------------------------------------------------

REVIEWS = "/iam/acme/access-reviews"


@pytest.fixture
def reviewed(tenant):
    from accounts.services.reviews import access_review_start, review_lines_decide
    from tests.factories import AccessGroupFactory, ApiClientFactory, EmployeeFactory

    admins = AccessGroupFactory(
        tenant=tenant, name="admins", scopes=["customer.customer_read", "tenant.tenant_manage"]
    )
    boss = EmployeeFactory(tenant=tenant, username="boss", access_groups=[admins])
    de = AccessGroupFactory(
        tenant=tenant, name="DE", scopes=["customer.customer_read"], restrictions=["DE"]
    )
    EmployeeFactory(tenant=tenant, username="agent", access_groups=[de])
    ApiClientFactory(tenant=tenant, name="shop", scopes=["customer.customer_read--FR"])
    actor = Principal.for_employee(boss, tenant)
    review = access_review_start(actor=actor, channel=Channel.ADMIN, tenant=tenant, name="Q4")
    agent_line = review.lines.get(subject_name="agent")
    review_lines_decide(
        actor=actor, review_pk=review.pk, line_pks=[agent_line.pk], decision="revoke"
    )
    return review


def test_access_reviews_are_listed_with_their_progress(reviewed, api_as):
    listed = api_as(*AUDITOR).get(REVIEWS)
    assert listed.status_code == 200
    [review] = listed.json()
    assert review["name"] == "Q4" and review["status"] == "open"
    assert review["lines"] == {"total": 3, "decided": 1}
    assert review["startedBy"]["name"] == "boss"
    assert api_as(*AUDITOR).get(REVIEWS, {"status": "closed"}).json() == []


def test_a_reviews_lines_say_who_decided_what_and_filter(reviewed, api_as):
    url = f"{REVIEWS}/{reviewed.pk}/lines"
    lines = api_as(*AUDITOR).get(url).json()
    assert {line["subjectName"] for line in lines} == {"boss", "agent", "shop"}
    [revoked] = api_as(*AUDITOR).get(url, {"decision": "revoke"}).json()
    assert revoked["subjectName"] == "agent" and revoked["decidedBy"] == "boss"
    assert revoked["outcome"] == "removed from group DE"
    [fr] = api_as(*AUDITOR).get(url, {"restriction": "FR"}).json()
    assert fr["subjectName"] == "shop" and fr["scopes"] == ["customer.customer_read--FR"]
    assert len(api_as(*AUDITOR).get(url, {"decision": "undecided"}).json()) == 2
    assert [line["group"] for line in api_as(*AUDITOR).get(url, {"group": "admins"}).json()] == [
        "admins"
    ]


@pytest.mark.parametrize(
    "query", [{"decision": "maybe"}, {"breakGlass": "perhaps"}, {"subjectKind": "robot"}]
)
def test_invalid_line_filters_are_400s_naming_the_parameter(reviewed, api_as, query):
    response = api_as(*AUDITOR).get(f"{REVIEWS}/{reviewed.pk}/lines", query)
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == next(iter(query))


def test_a_bad_choice_lists_the_valid_values_with_the_back_offices_names(history, api_as):
    body = api_as(*AUDITOR).get(ACCESS, {"channel": "back office"}).json()
    assert body["status"] == 400
    message = body["message"]
    assert message.startswith("channel: 'back office' is not one of the valid values: ")
    assert "admin (back office)" in message and "review (access review)" in message


def test_an_access_change_says_whether_it_was_break_glass(tenant, api_as):
    from datetime import timedelta

    from accounts.services.temporary_access import access_request_create
    from core.channels import Channel
    from tests.factories import AccessGroupFactory, EmployeeFactory, themselves

    agent = EmployeeFactory(tenant=tenant, username="agent")
    emergency = AccessGroupFactory(tenant=tenant, name="incident", break_glass=True)
    access_request_create(
        actor=themselves(agent),
        channel=Channel.ADMIN,
        group=emergency,
        duration=timedelta(hours=1),
        reason="outage",
        break_glass=True,
    )
    changes = api_as(*AUDITOR).get(ACCESS).json()
    marked = [(c["action"], c["breakGlass"]) for c in changes if c["subjectName"] == "agent"]
    assert ("temporary_granted", True) in marked
    only = api_as(*AUDITOR).get(ACCESS, {"breakGlass": "true"}).json()
    assert only and all(change["breakGlass"] for change in only)


def test_reviews_need_the_unsuffixed_audit_scope(reviewed, api_as):
    refused = api_as(*DE_AUDITOR).get(REVIEWS)
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "The access token lacks the scope this operation requires: audit.audit_read without a "
        "restriction suffix."
    )
    assert api_as(*DE_AUDITOR).get(f"{REVIEWS}/{reviewed.pk}/lines").status_code == 403
    assert api_as("customer.customer_read").get(REVIEWS).status_code == 403


def test_another_tenants_review_is_a_404(reviewed, api_as, other_tenant):
    from tests.factories import ApiClientFactory

    stranger = ApiClientFactory(tenant=other_tenant, scopes=list(AUDITOR))
    from tests.conftest import bearer_client, token_for

    http = bearer_client(token_for(stranger))
    assert http.get(f"/iam/globex/access-reviews/{reviewed.pk}/lines").status_code == 404
    assert http.get("/iam/globex/access-reviews").json() == []
    assert api_as(*AUDITOR).get(f"{REVIEWS}/999999/lines").status_code == 404


def test_a_reviewers_revoke_is_in_the_access_change_log_at_once(reviewed, api_as):
    changes = api_as(*AUDITOR).get(ACCESS, {"channel": "review"}).json()
    assert [(c["subjectName"], c["action"]) for c in changes] == [("agent", "group_removed")]


# --- the OpenAPI document ---------------------------------------------------------------------


def json_schema(node):
    """An OpenAPI 3.0 schema as JSON Schema (``nullable`` becomes a null type)."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def test_every_audit_list_answers_what_the_openapi_document_describes(history, reviewed, api_as):
    from drf_spectacular.generators import SchemaGenerator
    from jsonschema import Draft7Validator

    document = SchemaGenerator().get_schema(request=None, public=True)
    components = json_schema(document["components"])
    http = api_as(*AUDITOR)
    api_as("customer.customer_read").get("/customer/acme/customers", HTTP_X_PURPOSE="a check")
    erased = api_as("customer.privacy_manage").post(
        "/customer/acme/customers/US1/erasure", {"reason": "a check"}, format="json"
    )
    assert erased.status_code == 200
    for path, url in [
        ("/customer/{tenant}/restriction-changes", HISTORY),
        (
            "/customer/{tenant}/customers/{customerNumber}/restriction-changes",
            "/customer/acme/customers/MOVED/restriction-changes",
        ),
        ("/iam/{tenant}/access-changes", ACCESS),
        ("/iam/{tenant}/access-reviews", REVIEWS),
        ("/iam/{tenant}/access-reviews/{reviewId}/lines", f"{REVIEWS}/{reviewed.pk}/lines"),
        ("/iam/{tenant}/views", "/iam/acme/views"),
        ("/customer/{tenant}/erasures", "/customer/acme/erasures"),
        (
            "/customer/{tenant}/customers/{customerNumber}/views",
            "/customer/acme/customers/DE1/views",
        ),
    ]:
        response = http.get(url)
        assert response.status_code == 200, url
        assert response.json(), url  # (something to check)
        described = document["paths"][path]["get"]["responses"]["200"]["content"]
        body = {**json_schema(described["application/json"]["schema"]), "components": components}
        problems = [error.message for error in Draft7Validator(body).iter_errors(response.json())]
        assert problems == [], url
