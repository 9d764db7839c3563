"""assign_restriction: one test per behaviour, on SQLite and PostgreSQL."""

import io
import re
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import Customer, RestrictionChange
from customers.services import assignment
from tests.factories import AccessGroupFactory, CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db
SUMMARY = re.compile(
    r"^matched=(\d+) changed=(\d+) unchanged=(\d+) batches=(\d+) seconds=\d+\.\d\d$", re.M
)


def run(*args):
    out = io.StringIO()
    call_command("assign_restriction", "--tenant", "acme", *args, stdout=out)
    matched, changed, unchanged, batches = map(int, SUMMARY.search(out.getvalue()).groups())
    return {"matched": matched, "changed": changed, "unchanged": unchanged, "batches": batches}


def fails(*args, message):
    snapshot = list(Customer.objects.order_by("pk").values_list("restriction", flat=True))
    with pytest.raises(CommandError, match=message) as info:
        call_command("assign_restriction", *args, stdout=io.StringIO())
    assert info.value.returncode == 2
    assert list(Customer.objects.order_by("pk").values_list("restriction", flat=True)) == snapshot
    assert not RestrictionChange.objects.exists()


def restrictions(tenant):
    return dict(
        Customer.objects.filter(tenant=tenant).values_list("customer_number", "restriction")
    )


@pytest.fixture
def crowd(tenant, other_tenant):
    """25 customers in acme: 10 null, 5 DE, 5 FR, 5 US (preferredSite FR for the null ones)."""
    for i in range(10):
        CustomerFactory(
            tenant=tenant, customer_number=f"N{i}", preferred_site="FR" if i % 2 else "main"
        )
    for code in ("DE", "FR", "US"):
        for i in range(5):
            CustomerFactory(
                tenant=tenant,
                customer_number=f"{code}{i}",
                restriction=code,
                last_name="Smith" if i < 2 else "Jones",
            )
    CustomerFactory(tenant=other_tenant, customer_number="X1")


def test_all_assigns_audits_and_reports(crowd, tenant, other_tenant):
    result = run("--restriction", "DE", "--all", "--batch-size", "7")
    assert result == {"matched": 25, "changed": 20, "unchanged": 5, "batches": 4}
    assert set(restrictions(tenant).values()) == {"DE"}
    assert Customer.objects.get(customer_number="X1").restriction is None
    audit = RestrictionChange.objects.all()
    assert audit.count() == 20
    assert set(
        audit.values_list("channel", "actor_kind", "actor_id", "actor_name", "new_value")
    ) == {("command", "operator", "operator", "operator", "DE")}
    assert dict(audit.filter(customer_number="FR0").values_list("old_value", "new_value")) == {
        "FR": "DE"
    }
    assert Customer.objects.get(customer_number="FR0").version == 2


def test_rerun_is_idempotent(crowd):
    run("--restriction", "US", "--all")
    assert run("--restriction", "US", "--all") == {
        "matched": 25,
        "changed": 0,
        "unchanged": 25,
        "batches": 1,
    }
    assert RestrictionChange.objects.count() == 20


def test_dry_run_counts_and_changes_nothing(crowd, tenant):
    before = restrictions(tenant)
    assert run("--restriction", "FR", "--all", "--dry-run")["changed"] == 20
    assert restrictions(tenant) == before
    assert not RestrictionChange.objects.exists()


def test_unset(crowd, tenant):
    result = run("--unset", "--q", "restriction:(DE,FR)")
    assert (result["matched"], result["changed"]) == (10, 10)
    assert sum(1 for value in restrictions(tenant).values() if value is None) == 20


def test_query_selector(crowd, tenant):
    result = run("--restriction", "US", "--q", "lastName:Smith restriction:(DE,FR)")
    assert (result["matched"], result["changed"]) == (4, 4)
    assert restrictions(tenant)["DE0"] == "US"
    assert restrictions(tenant)["DE3"] == "DE"


def test_only_unrestricted(crowd, tenant):
    result = run("--restriction", "FR", "--all", "--only-unrestricted")
    assert (result["matched"], result["changed"]) == (10, 10)
    assert restrictions(tenant)["DE0"] == "DE"


def test_from_preferred_site(crowd, tenant):
    result = run("--from-preferred-site", "--only-unrestricted")
    assert (result["matched"], result["changed"], result["unchanged"]) == (10, 5, 5)
    values = restrictions(tenant)
    assert [values[f"N{i}"] for i in range(4)] == [None, "FR", None, "FR"]


@pytest.mark.parametrize(
    "content",
    [
        "N1\nN2\n\nDE0\n",
        "customerNumber,name\nN1,a\nN2,b\nDE0,c\n",
        "\ufeffcustomerNumber\r\nN1\r\nN2\r\nDE0\r\n",
    ],
    ids=["lines", "csv", "csv-bom-crlf"],
)
def test_customers_file(crowd, tenant, tmp_path, content):
    path = tmp_path / "numbers.txt"
    path.write_text(content, encoding="utf-8")
    result = run("--restriction", "US", "--customers-file", str(path))
    assert (result["matched"], result["changed"]) == (3, 3)
    values = restrictions(tenant)
    assert (values["N1"], values["N2"], values["DE0"], values["N3"]) == ("US", "US", "US", None)


def test_customers_file_with_unknown_numbers_changes_nothing(crowd, tmp_path):
    path = tmp_path / "numbers.txt"
    path.write_text("N1\nNOPE1\nX1\n")
    fails(
        "--tenant",
        "acme",
        "--restriction",
        "US",
        "--customers-file",
        str(path),
        message="2 customer number\\(s\\) do not exist in the tenant: NOPE1, X1",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--restriction", "DE", "--all"], "Unknown tenant 'nope'"),
        (
            ["--tenant", "acme", "--restriction", "JP", "--all"],
            "Unknown restriction 'JP' in this tenant \\(valid: DE, FR, US\\)",
        ),
        (["--tenant", "acme", "--restriction", "DE", "--q", "lastName:(x"], "Invalid --q"),
        (["--tenant", "acme", "--restriction", "DE", "--q", "shoe:1"], "Unknown field 'shoe'"),
        (["--tenant", "acme", "--restriction", "DE", "--all", "--batch-size", "0"], "at least 1"),
        (["--tenant", "acme", "--all"], "Give --restriction R or --unset"),
        (
            ["--tenant", "acme", "--restriction", "DE", "--all", "--actor", "ghost"],
            "Unknown actor 'ghost'",
        ),
        (
            ["--tenant", "acme", "--from-preferred-site", "--restriction", "DE"],
            "takes no --restriction",
        ),
        (
            ["--tenant", "acme", "--restriction", "DE", "--customers-file", "/nonexistent"],
            "Cannot read /nonexistent",
        ),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(crowd, args, message):
    fails(*args, message=message)


def test_restricted_actor_cannot_assign_beyond_their_scope(crowd, tenant):
    group = AccessGroupFactory(
        tenant=tenant,
        restrictions=["DE", "US"],
        scopes=[
            "customer.customer_read",
            "customer.customer_manage",
            "restriction.restriction_manage",
        ],
    )
    EmployeeFactory(tenant=tenant, username="de_boss", access_groups=[group])
    fails(
        "--tenant",
        "acme",
        "--restriction",
        "FR",
        "--all",
        "--actor",
        "de_boss",
        message="may not assign the restriction 'FR'",
    )
    # Within their scope it works (the Smiths they can see: DE0, DE1, US0, US1), and the audit
    # names them.
    result = run("--restriction", "DE", "--q", "lastName:Smith", "--actor", "de_boss")
    assert (result["matched"], result["changed"]) == (4, 2)
    audit = RestrictionChange.objects.filter(new_value="DE")
    assert sorted(audit.values_list("customer_number", "old_value", "actor_name")) == [
        ("US0", "US", "de_boss"),
        ("US1", "US", "de_boss"),
    ]
    assert restrictions(tenant)["FR0"] == "FR"  # a Smith they cannot see stays where it was


def fail_in_batch(number: int, error: BaseException):
    """Raise ``error`` inside batch ``number``'s transaction, after its writes (so they roll
    back), whichever batch implementation this database uses."""
    real = (
        assignment._assign_batch_in_one_statement
        if assignment._one_statement_batches()
        else assignment._assign_batch
    )
    calls = {"n": 0}

    def batch(*args, **kwargs):
        result = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == number:
            raise error
        return result

    return mock.patch.object(assignment, real.__name__, batch)


def assign_all_to_us(batch_size: int, stdout=None):
    call_command(
        "assign_restriction",
        "--tenant",
        "acme",
        "--restriction",
        "US",
        "--all",
        "--batch-size",
        str(batch_size),
        stdout=stdout or io.StringIO(),
    )


def test_interrupted_run_leaves_whole_batches_and_a_rerun_finishes(crowd, tenant):
    with fail_in_batch(3, RuntimeError("power cut")), pytest.raises(RuntimeError):
        assign_all_to_us(batch_size=4)
    already_us = {f"US{i}" for i in range(5)}
    changed_now = {n for n, value in restrictions(tenant).items() if value == "US"} - already_us
    # Two whole batches of 4 committed (none of the first 8 rows carried US), the third rolled back.
    assert len(changed_now) == 8
    audited = set(RestrictionChange.objects.values_list("customer_number", flat=True))
    assert audited == changed_now

    result = run("--restriction", "US", "--all", "--batch-size", "4")
    assert result["changed"] == 20 - 8
    assert RestrictionChange.objects.count() == 20
    assert set(restrictions(tenant).values()) == {"US"}


def test_keyboard_interrupt_reports_progress_and_exits_130(crowd, tenant):
    out = io.StringIO()
    with fail_in_batch(2, KeyboardInterrupt()), pytest.raises(CommandError) as info:
        assign_all_to_us(batch_size=10, stdout=out)
    assert info.value.returncode == 130
    assert SUMMARY.search(out.getvalue()).group(2) == "10"  # changed= the first batch only
    assert RestrictionChange.objects.count() == 10


def test_from_preferred_site_checks_every_target_before_changing_anything(tenant):
    CustomerFactory(tenant=tenant, customer_number="TO-DE", restriction="US", preferred_site="DE")
    CustomerFactory(tenant=tenant, customer_number="TO-FR", restriction="US", preferred_site="FR")
    group = AccessGroupFactory(
        tenant=tenant,
        restrictions=["DE", "US"],
        scopes=[
            "customer.customer_read",
            "customer.customer_manage",
            "restriction.restriction_manage",
        ],
    )
    EmployeeFactory(tenant=tenant, username="de_us_boss", access_groups=[group])
    # DE (assignable) would be applied first; FR is not assignable, so nothing may change.
    fails(
        "--tenant",
        "acme",
        "--from-preferred-site",
        "--actor",
        "de_us_boss",
        message="may not assign the restriction 'FR'",
    )
    assert restrictions(tenant) == {"TO-DE": "US", "TO-FR": "US"}
