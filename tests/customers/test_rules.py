"""One test group per behaviour of the restriction rules (visibility, no existence oracle,
writes, the restriction field, defaults, valid values, tenants, audit, revocation), on two
tenants and DE/FR/US/null customers."""

import pytest

from accounts.principal import Principal
from accounts.services.identities import api_client_deactivate
from core.channels import Channel
from core.errors import ConflictError
from customers.models import Customer, RestrictionChange
from customers.services import restriction_remove
from customers.services.checks import carry_restriction
from tests.conftest import (
    DE_FR_READER,
    DE_MANAGER,
    DE_READER,
    DE_RESTRICTION_MANAGER,
    MANAGER,
    READER,
)

pytestmark = pytest.mark.django_db
BASE = "/customer/acme/customers"
ALL = {"DE1", "FR1", "US1", "NULL1"}


def numbers(response):
    assert response.status_code == 200, response.content
    return {customer["id"] for customer in response.json()}


# -- visibility ------------------------------------------------------------------------------------

VISIBLE = [
    (READER, ALL),
    (DE_READER, {"DE1"}),
    (DE_FR_READER, {"DE1", "FR1"}),
    (DE_MANAGER, {"DE1"}),
    (DE_RESTRICTION_MANAGER, {"DE1"}),
    (MANAGER, ALL),
]


@pytest.mark.parametrize(("scopes", "expected"), VISIBLE)
def test_visibility_list_shows_exactly_the_covered_customers(world, api_as, scopes, expected):
    response = api_as(*scopes).get(BASE, HTTP_X_TOTAL_COUNT="true")
    assert numbers(response) == expected
    assert response["X-Total-Count"] == str(len(expected))


@pytest.mark.parametrize(("scopes", "expected"), VISIBLE)
def test_visibility_search_is_intersected_with_visibility(world, api_as, scopes, expected):
    response = api_as(*scopes).post(
        f"{BASE}/search",
        {"q": "restriction:(DE,FR,US)"},
        format="json",
        HTTP_X_TOTAL_COUNT="true",
    )
    assert numbers(response) == expected - {"NULL1"}
    assert response["X-Total-Count"] == str(len(expected - {"NULL1"}))


@pytest.mark.parametrize(("scopes", "expected"), VISIBLE)
def test_visibility_retrieve_and_addresses_follow_visibility(world, api_as, scopes, expected):
    http = api_as(*scopes)
    for number in ALL:
        status = 200 if number in expected else 404
        assert http.get(f"{BASE}/{number}").status_code == status
        assert http.get(f"{BASE}/{number}/addresses").status_code == status


def test_visibility_null_filter_does_not_reveal_null_customers_to_suffixed_readers(world, api_as):
    assert numbers(api_as(*DE_READER).get(BASE, {"q": "restriction:null"})) == set()
    assert numbers(api_as(*READER).get(BASE, {"q": "restriction:null"})) == {"NULL1"}


def test_visibility_other_tenants_customers_are_never_listed(world, api_as):
    assert "OT-DE1" not in numbers(api_as(*READER).get(BASE, {"pageSize": 1000}))


def test_visibility_without_a_read_scope_every_read_is_forbidden(world, api_as):
    http = api_as("restriction.restriction_manage")
    assert http.get(BASE).status_code == 403
    assert http.get(f"{BASE}/DE1").status_code == 403


# -- no existence oracle ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"firstName": "X"}),
        ("delete", "", None),
        ("get", "/addresses", None),
        ("post", "/addresses", {"contactName": "X", "country": "DE"}),
        ("get", "/addresses/any", None),
        ("post", "/accounts/internal", {"email": "new@example.com"}),
    ],
)
def test_no_oracle_invisible_answers_exactly_like_nonexistent(world, api_as, method, suffix, body):
    http = api_as("customer.customer_manage--DE")
    call = getattr(http, method)
    invisible = call(f"{BASE}/FR1{suffix}", body, format="json")
    missing = call(f"{BASE}/NOPE{suffix}", body, format="json")
    assert invisible.status_code == missing.status_code == 404
    assert invisible.content == missing.content
    assert invisible.json()["type"] == "not_found"
    assert dict(invisible.headers).keys() == dict(missing.headers).keys()
    assert Customer.objects.get(customer_number="FR1").first_name == "FirstFR1"


def test_no_oracle_taken_number_is_a_conflict_whoever_holds_it(world, api_as):
    http = api_as(*DE_MANAGER)
    response = http.post(BASE, {"id": "FR1"}, format="json")
    assert response.status_code == 409
    assert response.json()["type"] == "conflict_resource"
    assert http.put(f"{BASE}/FR1", {"firstName": "X"}, format="json").status_code == 409


# -- writes ----------------------------------------------------------------------------------------


def test_writes_de_manager_cannot_touch_a_visible_fr_customer(world, api_as):
    http = api_as("customer.customer_read", "customer.customer_manage--DE")
    assert http.get(f"{BASE}/FR1").status_code == 200
    response = http.patch(f"{BASE}/FR1", {"firstName": "X"}, format="json")
    assert response.status_code == 403
    assert http.delete(f"{BASE}/FR1").status_code == 403
    assert Customer.objects.filter(customer_number="FR1", first_name="FirstFR1").exists()


def test_writes_de_manager_creates_only_de_customers(world, api_as):
    http = api_as(*DE_MANAGER)
    response = http.post(BASE, {"firstName": "Neu"}, format="json")
    assert response.status_code == 201
    assert Customer.objects.get(customer_number=response.json()["id"]).restriction == "DE"


def test_writes_de_and_fr_manager_without_default_cannot_create_null(world, api_as):
    http = api_as("customer.customer_manage--DE", "customer.customer_manage--FR")
    response = http.post(BASE, {"firstName": "Nobody"}, format="json")
    assert response.status_code == 403
    assert not Customer.objects.filter(first_name="Nobody").exists()


def test_writes_restricted_manager_cannot_move_a_customer_out_of_de(world, api_as):
    http = api_as(*DE_RESTRICTION_MANAGER)
    for target in ["FR", None]:
        response = http.patch(f"{BASE}/DE1", {"restriction": target}, format="json")
        assert response.status_code == 403
    assert Customer.objects.get(customer_number="DE1").restriction == "DE"


def test_writes_update_and_delete_work_within_scope(world, api_as):
    http = api_as(*DE_MANAGER)
    assert http.patch(f"{BASE}/DE1", {"firstName": "Neu"}, format="json").status_code == 200
    assert http.delete(f"{BASE}/DE1").status_code == 202
    assert not Customer.objects.filter(customer_number="DE1").exists()


# -- the restriction field -------------------------------------------------------------------------


def test_restriction_field_setting_restriction_on_create_needs_restriction_manage(world, api_as):
    http = api_as("customer.customer_manage")
    response = http.post(BASE, {"id": "NEW1", "restriction": "DE"}, format="json")
    assert response.status_code == 403
    assert "restriction.restriction_manage" in response.json()["message"]
    assert not Customer.objects.filter(customer_number="NEW1").exists()


def test_restriction_field_changing_restriction_needs_restriction_manage(world, api_as):
    http = api_as("customer.customer_manage")
    response = http.patch(f"{BASE}/DE1", {"restriction": "FR", "firstName": "X"}, format="json")
    assert response.status_code == 403
    customer = Customer.objects.get(customer_number="DE1")
    assert (customer.restriction, customer.first_name, customer.version) == ("DE", "FirstDE1", 1)


def test_restriction_field_sending_the_unchanged_value_needs_no_scope(world, api_as):
    http = api_as("customer.customer_manage")
    response = http.patch(f"{BASE}/DE1", {"restriction": "DE", "firstName": "X"}, format="json")
    assert response.status_code == 200
    assert not RestrictionChange.objects.exists()


def test_restriction_field_restriction_manage_must_cover_old_and_new(world, api_as):
    http = api_as("customer.customer_manage", "restriction.restriction_manage--DE")
    assert http.patch(f"{BASE}/NULL1", {"restriction": "DE"}, format="json").status_code == 403
    assert http.patch(f"{BASE}/FR1", {"restriction": "DE"}, format="json").status_code == 403
    assert http.patch(f"{BASE}/DE1", {"restriction": "FR"}, format="json").status_code == 403
    both = api_as(
        "customer.customer_manage",
        "restriction.restriction_manage--DE",
        "restriction.restriction_manage--FR",
    )
    assert both.patch(f"{BASE}/FR1", {"restriction": "DE"}, format="json").status_code == 200


def test_restriction_field_unrestricted_restriction_manager_moves_anything(world, api_as):
    http = api_as(*MANAGER)
    assert http.patch(f"{BASE}/NULL1", {"restriction": "US"}, format="json").status_code == 200
    assert http.patch(f"{BASE}/DE1", {"restriction": None}, format="json").status_code == 200
    assert Customer.objects.get(customer_number="NULL1").restriction == "US"
    assert Customer.objects.get(customer_number="DE1").restriction is None


def test_restriction_field_explicit_null_on_create_is_setting_it_when_the_default_differs(
    synced, api_as
):
    manager = api_as("customer.customer_manage")
    refused = manager.post(BASE, {"preferredSite": "FR", "restriction": None}, format="json")
    assert refused.status_code == 403  # the default would be FR: null is a choice
    assert not Customer.objects.exists()
    same = manager.post(BASE, {"preferredSite": "FR", "restriction": "FR"}, format="json")
    assert same.status_code == 201  # the value the default gives needs no restriction scope
    mover = api_as("customer.customer_manage", "restriction.restriction_manage")
    allowed = mover.post(BASE, {"preferredSite": "FR", "restriction": None}, format="json")
    assert allowed.status_code == 201
    assert Customer.objects.get(customer_number=allowed.json()["id"]).restriction is None


def test_restriction_field_explicit_null_needs_no_scope_where_null_is_the_default(tenant, api_as):
    response = api_as("customer.customer_manage").post(BASE, {"restriction": None}, format="json")
    assert response.status_code == 201


# -- defaults on create ----------------------------------------------------------------------------


@pytest.fixture
def synced(tenant):
    tenant.sync_restrictions_with_sites = True
    tenant.save()
    return tenant


def test_default_synced_tenant_takes_the_preferred_site(synced, api_as):
    response = api_as("customer.customer_manage").post(BASE, {"preferredSite": "FR"}, format="json")
    assert Customer.objects.get(customer_number=response.json()["id"]).restriction == "FR"


def test_default_synced_default_still_obeys_the_manage_scope(synced, api_as):
    response = api_as(*DE_MANAGER).post(BASE, {"preferredSite": "FR"}, format="json")
    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_default_site_that_is_no_restriction_falls_back_to_the_single_manage_value(synced, api_as):
    response = api_as(*DE_MANAGER).post(BASE, {"preferredSite": "main"}, format="json")
    assert Customer.objects.get(customer_number=response.json()["id"]).restriction == "DE"


def test_default_without_sync_unrestricted_manager_creates_null(world, api_as):
    response = api_as("customer.customer_manage").post(BASE, {"preferredSite": "FR"}, format="json")
    assert Customer.objects.get(customer_number=response.json()["id"]).restriction is None


def test_default_later_preferred_site_changes_never_move_a_customer(synced, world, api_as):
    http = api_as("customer.customer_manage")
    assert http.patch(f"{BASE}/DE1", {"preferredSite": "FR"}, format="json").status_code == 200
    assert Customer.objects.get(customer_number="DE1").restriction == "DE"


# -- validation ------------------------------------------------------------------------------------


def test_valid_restrictions_unknown_restriction_is_a_400_on_the_restriction_field(world, api_as):
    http = api_as(*MANAGER)
    for response in [
        http.post(BASE, {"restriction": "JP"}, format="json"),
        http.patch(f"{BASE}/DE1", {"restriction": "JP"}, format="json"),
    ]:
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "restriction"
    assert Customer.objects.get(customer_number="DE1").restriction == "DE"


def test_valid_restrictions_a_restriction_in_use_cannot_be_removed(world, tenant):
    with pytest.raises(ConflictError, match="carried by 1 customer"):
        restriction_remove(tenant=tenant, code="FR")
    assert tenant.restrictions.filter(code="FR").exists()
    Customer.objects.filter(customer_number="FR1").update(restriction=None)
    carry_restriction(tenant.pk, [world["FR1"].pk], None)  # (its rows move with it)
    restriction_remove(tenant=tenant, code="FR")
    assert not tenant.restrictions.filter(code="FR").exists()


# -- tenant isolation ------------------------------------------------------------------------------


@pytest.mark.parametrize("path_tenant", ["globex", "nosuchtenant"])
def test_tenant_isolation_another_tenants_path_is_403_and_reveals_nothing(
    world, api_as, path_tenant
):
    http = api_as(*READER)
    for path in ["customers", "customers/OT-DE1", "customers/search"]:
        method = http.post if path.endswith("search") else http.get
        response = method(f"/customer/{path_tenant}/{path}", {}, format="json")
        assert response.status_code == 403
        assert "OT" not in response.content.decode()


# -- audit -----------------------------------------------------------------------------------------


def test_audit_every_restriction_change_is_recorded(world, api_as):
    http = api_as(*MANAGER)
    created = http.post(BASE, {"id": "NEW1", "restriction": "US"}, format="json")
    assert created.status_code == 201
    http.patch(f"{BASE}/NEW1", {"restriction": "FR"}, format="json")
    http.put(f"{BASE}/NEW1", {"restriction": "DE"}, format="json")
    http.patch(f"{BASE}/NEW1", {"firstName": "only a name"}, format="json")
    changes = list(
        RestrictionChange.objects.filter(customer_number="NEW1")
        .order_by("pk")
        .values_list("old_value", "new_value", "actor_kind", "actor_id", "actor_name", "channel")
    )
    who = ("api_client", http.api_client.client_id, http.api_client.name)
    assert changes == [
        (None, "US", *who, "api"),
        ("US", "FR", *who, "api"),
        ("FR", "DE", *who, "api"),
    ]


# -- immediate revocation --------------------------------------------------------------------------


def test_revocation_revoked_client_is_refused_on_the_next_request(world, api_as):
    http = api_as(*READER)
    assert http.get(BASE).status_code == 200
    client = http.api_client
    api_client_deactivate(
        actor=Principal.operator(client.tenant), channel=Channel.COMMAND, client_pk=client.pk
    )
    response = http.get(BASE)
    assert response.status_code == 401
    assert response.json()["type"] == "unauthorized"
