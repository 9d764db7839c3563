"""The second lock (PostgreSQL): even code that forgets the restriction filter gets only what
the request's principal may see, and may change only what it may manage."""

import json
import logging

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from accounts import rowsecurity
from accounts.principal import Principal
from accounts.scopes import Grants
from customers.models import Customer
from tests.conftest import CONTEXT_SET, DE_MANAGER, DE_READER, READER, binds_only

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-level security is PostgreSQL's"
    ),
    pytest.mark.urls("tests.urls"),
]
FORGETFUL = "/customer/acme/test-forgetful"
# The search and count functions look past the policies on the coordinator; a distributed
# database does without them (customers.lookups, CustomerQuerySet.visible_count).
definer_functions = pytest.mark.skipif(
    settings.DATABASE_DISTRIBUTED, reason="a distributed database uses no definer function"
)


@pytest.fixture(autouse=True)
def _as_the_service_role(database_roles):
    if database_roles is None:
        pytest.skip("the suite runs as a superuser, whom row-level security does not bind")


def names(tenant) -> set[str]:
    return set(Customer.objects.filter(tenant=tenant).values_list("last_name", flat=True))


@pytest.mark.django_db
def test_a_de_readers_unscoped_queries_see_de_rows_only(world, api_as):
    answer = api_as(*DE_READER).get(FORGETFUL).json()
    assert answer == {"orm": ["DE1"], "raw": ["DE1"], "addresses": 1, "accounts": 1, "audit": 0}
    # an unrestricted reader: the whole tenant (and never another tenant's OT-DE1)
    everything = api_as("customer.customer_read").get(FORGETFUL).json()
    assert everything["raw"] == ["DE1", "FR1", "NULL1", "US1"]


@pytest.mark.django_db
@pytest.mark.skipif(
    settings.DATABASE_DISTRIBUTED, reason="on a distributed database nothing is fused (test_citus)"
)
def test_a_request_binds_with_its_principal_lookup_and_a_changed_principal_is_bound_again(
    world, api_as
):
    """The principal lookup binds the context the principal had last time (one round trip for
    the sign-in context, the lookup and the guess); when its rights have changed since, the
    request binds the new ones before it reads anything."""
    from django.test.utils import CaptureQueriesContext

    from accounts.models import ApiClient

    http = api_as("customer.customer_read")

    def forgetful():
        with CaptureQueriesContext(connection) as captured:
            answer = http.get(FORGETFUL).json()
        statements = [" ".join(q["sql"].split()) for q in captured]
        # (the lookup's statement runs prepared after its first time: "; EXECUTE plan_…")
        lookups = [sql for sql in statements if sql.startswith(CONTEXT_SET) and not binds_only(sql)]
        assert len(lookups) == 1  # (the sign-in context bound in the lookup's round trip)
        own_binding = [sql for sql in statements if binds_only(sql)]
        fused = [sql for sql in lookups if sql.count("SET LOCAL customers.tenant_low") == 2]
        return answer["raw"], len(own_binding), len(fused)

    assert forgetful() == (["DE1", "FR1", "NULL1", "US1"], 1, 0)  # nothing to guess yet
    assert forgetful() == (["DE1", "FR1", "NULL1", "US1"], 0, 1)  # bound with the lookup
    # Narrowed while the token lives: the lookup binds the old context, the request the new.
    ApiClient.objects.filter(pk=http.api_client.pk).update(scopes=list(DE_READER))
    assert forgetful() == (["DE1"], 1, 1)
    assert forgetful() == (["DE1"], 0, 1)


@pytest.mark.django_db
def test_unfused_a_request_binds_its_principal_as_it_is_now(world, api_as, settings):
    """A distributed database's way, here on a plain PostgreSQL (``DATABASE_DISTRIBUTED``):
    the lookup binds the sign-in context in its own query, on the server it is sent to alone
    (``set_config``), and the principal found is bound by a ``SET LOCAL`` of its own before
    anything is read; a principal narrowed while its token lives reads its new rights at once,
    and an unknown token reads nothing."""
    from django.test.utils import CaptureQueriesContext

    from accounts.models import ApiClient

    settings.DATABASE_DISTRIBUTED = True
    http = api_as("customer.customer_read")

    def read():
        with CaptureQueriesContext(connection) as captured:
            answer = http.get(FORGETFUL)
        statements = [q["sql"] for q in captured]
        assert not [sql for sql in statements if "SET LOCAL" in sql and not binds_only(sql)]
        assert len([sql for sql in statements if sql.startswith("SELECT set_config(")]) == 1
        return answer.json()["raw"]

    assert read() == ["DE1", "FR1", "NULL1", "US1"]
    ApiClient.objects.filter(pk=http.api_client.pk).update(scopes=list(DE_READER))
    assert read() == ["DE1"]
    ApiClient.objects.filter(pk=http.api_client.pk).update(is_active=False)
    assert http.get(FORGETFUL).status_code == 401


@pytest.mark.django_db
def test_an_unscoped_update_changes_only_the_managed_rows(world, api_as):
    answer = api_as(*DE_MANAGER).post(FORGETFUL).json()
    assert answer == {"orm": 1, "raw": 1}
    changed = dict(Customer.objects.values_list("customer_number", "last_name"))
    assert changed["DE1"] == "Forgotten"
    assert {changed[n] for n in ("FR1", "US1", "NULL1", "OT-DE1")} == {
        "LastFR1",
        "LastUS1",
        "LastNULL1",
        "LastOT",
    }


@pytest.mark.django_db
def test_without_a_context_there_are_no_rows(world, no_row_context):
    assert Customer.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM customers_customer")
        assert cursor.fetchone()[0] == 0
        cursor.execute("UPDATE customers_customer SET first_name = 'x'")
        assert cursor.rowcount == 0
    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        Customer.objects.create(tenant=world["DE1"].tenant, customer_number="SNEAK")


@pytest.mark.django_db
def test_a_restriction_changes_only_within_the_assign_coverage(world):
    tenant = world["DE1"].tenant
    manages_both = Grants.from_strings(
        ["customer.customer_manage--DE", "customer.customer_manage--FR"]
    )
    principal = Principal(tenant.pk, tenant.code, manages_both, "employee", "1", "mover")
    # (in the tenant: a refused statement over every tenant's shards would leave a distributed
    # database's transaction unable to go on past its savepoint)
    de1 = Customer.objects.filter(tenant=tenant, customer_number="DE1")
    with rowsecurity.row_context(rowsecurity.RowContext.of(principal)):
        with pytest.raises(DatabaseError, match="assign coverage"), transaction.atomic():
            de1.update(restriction="FR")
        # an ordinary change of a managed customer goes through
        assert de1.update(first_name="Ok") == 1
    assert Customer.objects.get(customer_number="DE1").restriction == "DE"


@pytest.mark.django_db
def test_the_restriction_history_is_append_only_for_every_request_role(audited_world):
    """Not even the whole tenant's context changes what an audit row says (only the
    restriction it carries for its customer moves with the customer, and deleting the customer
    unlinks it: a restricted manager may, for the rows of the customers it manages)."""
    from customers.models import RestrictionChange

    tenant = audited_world["DE1"].tenant
    with rowsecurity.row_context(rowsecurity.RowContext.whole_tenant(tenant.pk)):
        assert RestrictionChange.objects.filter(tenant=tenant).exists()
        for forged in ({"new_value": "FORGED"}, {"customer_number": "X"}, {"actor_name": "s"}):
            refused = pytest.raises(DatabaseError, match="append-only")
            with refused, transaction.atomic():
                RestrictionChange.objects.filter(tenant=tenant).update(**forged)
    principal = Principal(
        tenant.pk, tenant.code, Grants.from_strings(DE_MANAGER), "client", "c", "c"
    )
    with rowsecurity.row_context(rowsecurity.RowContext.of(principal)):
        Customer.objects.filter(customer_number="DE1").delete()
    assert list(
        RestrictionChange.objects.filter(customer_number="DE1").values_list("customer", "new_value")
    ) == [(None, "DE")]
    assert not RestrictionChange.objects.filter(new_value="FORGED").exists()


@pytest.mark.django_db(transaction=True)
def test_one_connection_never_carries_a_requests_context_into_the_next(world, api_as):
    de = api_as(*DE_READER)
    fr = api_as("customer.customer_read--FR")
    for http, expected in [(de, ["DE1"]), (fr, ["FR1"]), (de, ["DE1"]), (fr, ["FR1"])]:
        assert http.get(FORGETFUL).json()["orm"] == expected
        # After the request the connection holds what it held before (this test process's
        # own context), not the request's.
        assert rowsecurity.current() == rowsecurity.ALL_TENANTS
    rowsecurity.stand(rowsecurity.NOTHING)
    try:
        assert de.get(FORGETFUL).json()["orm"] == ["DE1"]
        assert rowsecurity.current() == rowsecurity.NOTHING
        assert Customer.objects.count() == 0
    finally:
        rowsecurity.stand(rowsecurity.ALL_TENANTS)


@pytest.mark.django_db
def test_an_operator_command_binds_an_audited_whole_tenant_context(world, no_row_context, caplog):
    caplog.set_level(logging.INFO, logger="customers.rowsecurity")
    call_command("assign_restriction", "--tenant", "acme", "--restriction", "US", "--all")
    assert "row security: the whole of tenant" in caplog.text
    assert "assign_restriction as operator" in caplog.text
    assert rowsecurity.current() == rowsecurity.NOTHING  # and handed back what it found
    rowsecurity.stand(rowsecurity.ALL_TENANTS)
    assert set(
        Customer.objects.filter(tenant=world["DE1"].tenant).values_list("restriction", flat=True)
    ) == {"US"}


@pytest.mark.django_db
def test_a_platform_superuser_in_the_back_office_is_audited(world, client, caplog):
    from accounts.models import Employee

    caplog.set_level(logging.INFO, logger="customers.rowsecurity")
    root = Employee.objects.create_superuser("root", "root@example.com", "root-pass-123456")
    client.force_login(root)
    assert client.get("/admin/customers/customer/").status_code == 200
    assert "row security: all tenants, for platform superuser root" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("rare", [True, False], ids=["rare term", "common term"])
def test_a_regex_search_finds_only_visible_rows_either_way(world, api_as, monkeypatch, rare):
    """A rare term goes through the search function (the trigram index), a common one stays a
    filter of the walk in order (which the policies allow): both answer the same."""
    from django.test.utils import CaptureQueriesContext

    from customers import lookups

    monkeypatch.setattr(lookups, "_trigram_pays", lambda *args: rare)
    http = api_as(*DE_READER)
    with CaptureQueriesContext(connection) as captured:
        response = http.get("/customer/acme/customers", {"q": "lastName:~Last"})
    assert [c["id"] for c in response.json()] == ["DE1"]
    through_function = [q["sql"] for q in captured if "customers_matching_ids" in q["sql"]]
    assert bool(through_function) == (rare and not settings.DATABASE_DISTRIBUTED)
    if through_function:
        # the query itself reads those ids by index, under the policies (an index fits: the
        # planner is told to avoid sequential scans, as in test_plans.py)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN (FORMAT JSON) {through_function[0]}")
            raw = cursor.fetchone()[0]
        plan = json.dumps(json.loads(raw) if isinstance(raw, str) else raw)
        assert '"Seq Scan"' not in plan, plan


@pytest.mark.django_db
@definer_functions
def test_the_search_function_answers_nothing_outside_the_bound_context(world):
    with connection.cursor() as cursor:
        for function in ("customers_matching_ids", "customers_trigram_pays"):
            cursor.execute(
                "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = %s", [function]
            )
            owner = cursor.fetchone()[0]
            cursor.execute("SELECT rolbypassrls FROM pg_roles WHERE rolname = %s", [owner])
            assert cursor.fetchone()[0], owner  # the functions that may look past the policies
        with rowsecurity.row_context(rowsecurity.RowContext.of(_reader_of(world, "DE"))):
            cursor.execute("SELECT * FROM customers_matching_ids('last_name', '~', 'Last')")
            assert [row[0] for row in cursor.fetchall()] == [world["DE1"].pk]
        with rowsecurity.row_context(rowsecurity.RowContext.of(_reader_of(world, "FR"))):
            cursor.execute("SELECT * FROM customers_matching_ids('last_name', '~', 'LastDE')")
            assert cursor.fetchall() == []
        with rowsecurity.row_context(rowsecurity.NOTHING):
            cursor.execute("SELECT * FROM customers_matching_ids('last_name', '~', 'Last')")
            assert cursor.fetchall() == []
        with pytest.raises(DatabaseError, match="no trigram index"), transaction.atomic():
            cursor.execute("SELECT * FROM customers_matching_ids('restriction', '~', 'DE')")


@pytest.mark.django_db
@definer_functions
def test_the_count_function_counts_only_what_the_context_and_the_caller_both_cover(world):
    """``customers_visible_count`` looks past the policies (one index-only count): it must apply
    the bound context itself, whatever the caller asks for."""
    tenant = world["DE1"].tenant
    with connection.cursor() as cursor:

        def count(context, wanted):
            with rowsecurity.row_context(context):
                cursor.execute("SELECT customers_visible_count(%s)", [wanted])
                return cursor.fetchone()[0]

        cursor.execute(
            "SELECT rolbypassrls FROM pg_roles WHERE rolname = (SELECT pg_get_userbyid(proowner)"
            " FROM pg_proc WHERE proname = 'customers_visible_count')"
        )
        assert cursor.fetchone()[0]
        de_context = rowsecurity.RowContext.of(_reader_of(world, "DE"))
        everything = rowsecurity.RowContext.whole_tenant(tenant.pk)
        assert count(de_context, "*") == 1  # (not DE1, FR1, US1 and NULL1)
        assert count(de_context, "DE,FR") == 1
        assert count(de_context, "FR") == 0
        assert count(everything, "*") == 4  # globex's OT-DE1 is not counted
        assert count(everything, "FR,US") == 2
        assert count(everything, "") == 0
        assert count(rowsecurity.NOTHING, "*") == 0
        assert count(rowsecurity.ALL_TENANTS, "*") == 0  # one tenant's count, or none


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("scopes", "expected"), [(DE_READER, 1), (READER, 4), (("customer.customer_read--FR",), 1)]
)
def test_a_list_counts_through_the_count_function(world, api_as, scopes, expected):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = api_as(*scopes).get("/customer/acme/customers", HTTP_X_TOTAL_COUNT="true")
    assert response["X-Total-Count"] == str(expected) == str(len(response.json()))
    through_function = any("customers_visible_count" in q["sql"] for q in captured)
    assert through_function == (not settings.DATABASE_DISTRIBUTED)
    # a search counts its own matches, under the policies
    searched = api_as(*scopes).get(
        "/customer/acme/customers", {"q": "lastName:LastDE1"}, HTTP_X_TOTAL_COUNT="true"
    )
    assert searched["X-Total-Count"] == ("1" if scopes != ("customer.customer_read--FR",) else "0")


def _reader_of(world, value):
    tenant = world["DE1"].tenant
    grants = Grants.from_strings([f"customer.customer_read--{value}"])
    return Principal(tenant.pk, tenant.code, grants, "api_client", "x", "x")


@pytest.fixture
def access_records(tenant, other_tenant):
    """In each tenant: an access change, a request, a review with a line; and one access change
    of a platform superuser (no tenant)."""
    from datetime import timedelta

    from accounts.models import AccessChange, ProviderGroup, SignInProvider
    from accounts.services.identities import record_access_change
    from accounts.services.reviews import access_review_start
    from accounts.services.temporary_access import access_request_create
    from core.channels import Channel
    from tests.factories import AccessGroupFactory, EmployeeFactory, themselves

    for each in (tenant, other_tenant):
        employee = EmployeeFactory(tenant=each, access_groups=[AccessGroupFactory(tenant=each)])
        group = AccessGroupFactory(tenant=each)
        access_request_create(
            actor=themselves(employee),
            channel=Channel.ADMIN,
            group=group,
            duration=timedelta(hours=1),
            reason="month end",
        )
        operator = Principal.operator(each)
        record_access_change(operator, Channel.COMMAND, employee, AccessChange.Action.CHANGED)
        access_review_start(actor=operator, channel=Channel.COMMAND, tenant=each, reviewers=[])
        SignInProvider.objects.create(
            tenant=each, name="IdP", issuer="https://idp.example", client_id="c", client_secret="s"
        )
        ProviderGroup.objects.create(tenant=each, name="Sales", access_group=group)
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    record_access_change(
        Principal.platform(root), Channel.ADMIN, root, AccessChange.Action.PASSWORD_CHANGED
    )


ACCESS_RECORDS = [
    "AccessChange",
    "AccessRequest",
    "AccessReview",
    "AccessReviewLine",
    "SignInProvider",
    "ProviderGroup",
]


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", ACCESS_RECORDS)
def test_access_records_answer_only_within_the_bound_tenant(
    access_records, tenant, other_tenant, model_name
):
    from django.apps import apps

    model = apps.get_model("accounts", model_name)
    everything = {tenant.pk, other_tenant.pk}
    assert everything <= set(model._base_manager.values_list("tenant_id", flat=True))
    admin = Principal.operator(tenant)
    with rowsecurity.row_context(rowsecurity.RowContext.of(admin)):
        # (code that forgets the tenant filter still reads and changes only its own)
        assert set(model._base_manager.values_list("tenant_id", flat=True)) == {tenant.pk}
        assert not model._base_manager.filter(tenant=other_tenant).delete()[0]
    with rowsecurity.row_context(rowsecurity.NOTHING):
        assert not model._base_manager.exists()
    assert other_tenant.pk in set(model._base_manager.values_list("tenant_id", flat=True))


@pytest.mark.django_db
def test_an_access_change_is_written_only_in_the_bound_tenant_and_never_changed(
    access_records, tenant, other_tenant
):
    from accounts.models import AccessChange

    forged = AccessChange(
        tenant=other_tenant,
        subject_kind="employee",
        subject_id="1",
        subject_name="x",
        action="created",
        actor_kind="operator",
        actor_id="x",
        channel="command",
    )
    with rowsecurity.row_context(rowsecurity.RowContext.of(Principal.operator(tenant))):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            forged.save()
        # the platform's own records (no tenant) are the platform's only
        assert not AccessChange.objects.filter(tenant__isnull=True).exists()
    with rowsecurity.row_context(rowsecurity.ALL_TENANTS):
        assert AccessChange.objects.filter(tenant__isnull=True).count() == 1
        # append-only: not even the platform's context rewrites the log
        assert AccessChange.objects.update(subject_name="FORGED") == 0
