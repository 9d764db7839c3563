"""Bulk actions as staff use them: 2, 60 and "select all" rows, the confirmation page, the
message they read, the database afterwards, and the background job above the threshold."""

import re

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.jobs import job_run
from customers.models import Account, Address, Customer, Job, JobStatus, RestrictionChange
from tests.factories import AccountFactory, AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/customers/customer/"


@pytest.fixture
def crowd(tenant):
    """70 customers: 30 DE, 25 FR, 15 without restriction; each with an address, half with an
    account."""
    customers = []
    for index in range(70):
        restriction = "DE" if index < 30 else "FR" if index < 55 else None
        customer = CustomerFactory(tenant=tenant, restriction=restriction)
        AddressFactory(customer=customer, is_default=True)
        if index % 2 == 0:
            AccountFactory(customer=customer)
        customers.append(customer)
    return customers


def texts(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def post_action(client, action, pks, select_across=False, query="", **extra):
    data = {
        "action": action,
        "_selected_action": [str(pk) for pk in pks],
        "select_across": "1" if select_across else "0",
        **extra,
    }
    return client.post(f"{CHANGELIST}{query}", data)


def selections(crowd):
    """The three selections staff make: two rows, a page of 60, and "select all"."""
    return {
        "two": ([c.pk for c in crowd[:2]], False),
        "sixty": ([c.pk for c in crowd[:60]], False),
        "all": ([c.pk for c in crowd[:50]], True),  # the page's boxes, plus "select all 70"
    }


@pytest.mark.parametrize(("which", "expected"), [("two", 2), ("sixty", 60), ("all", 70)])
def test_delete_confirms_with_counts_then_deletes_logs_and_says_so(
    crowd, restriction_manager, client, which, expected
):
    client.force_login(restriction_manager)
    pks, across = selections(crowd)[which]
    chosen = Customer.objects.all() if across else Customer.objects.filter(pk__in=pks)
    addresses = Address.objects.filter(customer__in=chosen).count()
    accounts = Account.objects.filter(customer__in=chosen).count()

    confirmation = post_action(client, "delete_selected_customers", pks, across)
    page = confirmation.content.decode()
    assert confirmation.status_code == 200
    assert f"Delete {expected} customers?" in page
    assert re.search(rf'id="delete-addresses">{addresses}<', page)
    assert re.search(rf'id="delete-accounts">{accounts}<', page)
    assert Customer.objects.count() == 70  # nothing deleted before the confirmation

    done = post_action(client, "delete_selected_customers", pks, across, post="yes")
    assert done.status_code == 302
    assert texts(done) == [f"Deleted {expected} customers."]
    assert Customer.objects.count() == 70 - expected
    assert Address.objects.count() == 70 - addresses
    logged = LogEntry.objects.filter(action_flag=DELETION, user=restriction_manager)
    assert logged.count() == expected


def test_delete_with_a_customer_outside_the_manage_scope_deletes_nothing(crowd, employee, client):
    # Reads everything, manages DE only: a selection with FR customers is refused whole.
    reader = employee(
        "reader",
        (["customer.customer_read"], []),
        (["customer.customer_manage"], ["DE"]),
    )
    client.force_login(reader)
    pks = [c.pk for c in crowd[25:35]]  # 5 DE, 5 FR
    response = post_action(client, "delete_selected_customers", pks, post="yes")
    assert texts(response) == [
        "5 selected customers are outside your manage scope; nothing was deleted."
    ]
    assert Customer.objects.count() == 70


@pytest.mark.parametrize(
    ("which", "changed", "unchanged"), [("two", 0, 2), ("sixty", 30, 30), ("all", 40, 30)]
)
def test_assign_reports_exact_counts(crowd, restriction_manager, client, which, changed, unchanged):
    client.force_login(restriction_manager)
    pks, across = selections(crowd)[which]
    form = post_action(client, "assign_restriction", pks, across)
    assert 'value="" selected' in form.content.decode()  # nothing pre-chosen
    preview = post_action(client, "assign_restriction", pks, across, restriction="DE")
    assert preview.context["changing"] == changed
    assert preview.context["unchanged"] == unchanged

    done = post_action(client, "assign_restriction", pks, across, restriction="DE", confirm="yes")
    message = f"Restriction DE assigned: {changed} changed, {unchanged} already had it."
    assert texts(done) == [message]
    assert RestrictionChange.objects.filter(new_value="DE", channel="admin").count() == changed
    assert Customer.objects.filter(restriction="DE").count() == 30 + changed


def test_select_all_follows_the_changelist_filter(crowd, restriction_manager, client):
    client.force_login(restriction_manager)
    pks = [c.pk for c in crowd[30:55]]
    done = post_action(
        client,
        "assign_restriction",
        pks,
        select_across=True,
        query="?restriction=FR",
        restriction="US",
        confirm="yes",
    )
    assert texts(done) == ["Restriction US assigned: 25 changed, 0 already had it."]
    assert Customer.objects.filter(restriction="US").count() == 25
    assert Customer.objects.filter(restriction="DE").count() == 30


def test_assign_costs_the_same_queries_for_2_and_60_customers(crowd, restriction_manager, client):
    client.force_login(restriction_manager)
    counts = []
    for pks in ([c.pk for c in crowd[30:32]], [c.pk for c in crowd[:60]]):
        with CaptureQueriesContext(connection) as queries:
            post_action(client, "assign_restriction", pks, restriction="US", confirm="yes")
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_above_the_threshold_the_action_becomes_a_job(
    crowd, restriction_manager, client, settings, django_capture_on_commit_callbacks
):
    settings.BULK_JOB_THRESHOLD = 20
    settings.BULK_JOB_BATCH_SIZE = 7
    client.force_login(restriction_manager)
    pks, across = selections(crowd)["all"]
    preview = post_action(client, "assign_restriction", pks, across, restriction="US")
    assert "This runs as a background job." in preview.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = post_action(
            client, "assign_restriction", pks, across, restriction="US", confirm="yes"
        )
    assert texts(done)[0].startswith("Started a background job for 70 customers.")
    job = Job.objects.get()
    assert (job.status, job.done, job.total, job.changed) == (JobStatus.SUCCEEDED, 70, 70, 70)
    assert job.message == "Restriction US assigned: 70 changed, 0 already had it."
    assert Customer.objects.filter(restriction="US").count() == 70
    assert RestrictionChange.objects.filter(new_value="US").count() == 70

    jobs_page = client.get("/admin/customers/job/").content.decode()
    assert "70/70" in jobs_page
    assert "Assign restriction US" in jobs_page


def test_a_big_delete_becomes_a_job_with_log_entries(
    crowd, restriction_manager, client, settings, django_capture_on_commit_callbacks
):
    settings.BULK_JOB_THRESHOLD = 20
    settings.BULK_JOB_BATCH_SIZE = 9
    client.force_login(restriction_manager)
    pks, across = selections(crowd)["all"]
    with django_capture_on_commit_callbacks(execute=True):
        post_action(client, "delete_selected_customers", pks, across, post="yes")
    job = Job.objects.get()
    assert (job.status, job.done, job.changed) == (JobStatus.SUCCEEDED, 70, 70)
    assert job.message == "Deleted 70 customers."
    assert not Customer.objects.exists()
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 70


def test_a_revoked_employees_queued_job_changes_nothing(
    crowd, restriction_manager, client, settings
):
    settings.BULK_JOB_THRESHOLD = 20
    client.force_login(restriction_manager)
    pks, across = selections(crowd)["all"]
    post_action(client, "assign_restriction", pks, across, restriction="US", confirm="yes")
    job = Job.objects.get()
    assert job.status == JobStatus.QUEUED  # enqueued only when the request commits
    restriction_manager.is_active = False
    restriction_manager.save()

    assert job_run(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert "no longer has access" in job.message
    assert not Customer.objects.filter(restriction="US").exists()


def test_jobs_page_shows_each_viewer_only_the_jobs_they_may_see(
    crowd, restriction_manager, employee, other_tenant, client, settings
):
    settings.BULK_JOB_THRESHOLD = 0
    client.force_login(restriction_manager)
    post_action(client, "assign_restriction", [crowd[0].pk], restriction="US", confirm="yes")
    post_action(client, "assign_restriction", [crowd[1].pk], restriction="DE", confirm="yes")
    post_action(
        client, "assign_restriction", [crowd[2].pk, crowd[3].pk], restriction="DE", confirm="yes"
    )
    de_to_us, de_to_de, _ = Job.objects.order_by("pk")

    def listed(user):
        client.force_login(user)
        page = client.get("/admin/customers/job/")
        return set(page.context["cl"].result_list) if page.status_code == 200 else set()

    everyone_admin = employee("boss", (["customer.customer_read", "tenant.tenant_manage"], []))
    de_admin = employee(
        "de-boss", (["customer.customer_read"], ["DE"]), (["tenant.tenant_manage"], [])
    )
    colleague = employee("colleague", (["customer.customer_read"], []))
    foreign = employee("foreign", (["customer.customer_read", "tenant.tenant_manage"], []))
    foreign.tenant = other_tenant
    foreign.save()

    assert len(listed(restriction_manager)) == 3  # their own
    assert len(listed(everyone_admin)) == 3  # the tenant's
    assert listed(de_admin) == set(Job.objects.exclude(pk=de_to_us.pk))  # never a US selection
    assert de_to_de in listed(de_admin)
    assert listed(colleague) == set()  # not theirs, not an administrator
    assert listed(foreign) == set()  # another tenant
    client.force_login(de_admin)
    assert client.get(f"/admin/customers/job/{de_to_us.pk}/change/").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "?restriction=FR",
        "?restriction=__none__&active__exact=1",
        "?q=example.com",
        '?q="@example" com',
        "?preferred_site=main&restriction=DE",
    ],
)
def test_a_select_all_job_selects_exactly_what_the_page_showed(
    crowd, restriction_manager, client, settings, django_capture_on_commit_callbacks, query
):
    """The job stores the page's search and filters as a domain selection and rebuilds them
    without the admin, through the same search and filter code the changelist uses."""
    settings.BULK_JOB_THRESHOLD = 0
    client.force_login(restriction_manager)
    page = client.get(f"{CHANGELIST}{query}&all=" if "?" in query else f"{CHANGELIST}?all=")
    shown = {c.pk for c in page.context["cl"].result_list}
    with django_capture_on_commit_callbacks(execute=True):
        post_action(
            client,
            "assign_restriction",
            [c.pk for c in crowd[:1]],
            select_across=True,
            query=query,
            restriction="US",
            confirm="yes",
        )
    job = Job.objects.get()
    assert "changelist" not in job.selection and "ids" not in job.selection
    assert set(Customer.objects.filter(restriction="US").values_list("pk", flat=True)) == shown
    assert job.done == len(shown)
