"""Access reviews: the snapshot, who decides which line, revokes through the identity services
(at once, audited), closing, the report, reminders, and the command."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AccessChange, AccessReview, AccessReviewLine
from accounts.services.reviews import (
    access_review_start,
    review_lines_decide,
    review_reminders_send,
)
from accounts.services.temporary_access import access_request_create, temporary_grant_create
from core.channels import Channel
from core.errors import ConflictError, InvalidInput
from tests.accounts.test_temporary_access import ADMIN_SCOPES, READ, acting, employee_token
from tests.conftest import bearer_client, token_for
from tests.factories import AccessGroupFactory, ApiClientFactory, EmployeeFactory, themselves


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
def staff(tenant, admins):
    de = AccessGroupFactory(tenant=tenant, name="DE readers", scopes=[READ], restrictions=["DE"])
    fr = AccessGroupFactory(tenant=tenant, name="FR readers", scopes=[READ], restrictions=["FR"])
    agent = EmployeeFactory(tenant=tenant, username="agent", access_groups=[de, fr])
    EmployeeFactory(tenant=tenant, username="gone", access_groups=[de], is_active=False)
    client = ApiClientFactory(
        tenant=tenant,
        name="shop",
        scopes=["customer.customer_read--DE", "customer.customer_manage--DE"],
    )
    ApiClientFactory(tenant=tenant, name="retired", scopes=[READ], is_active=False)
    temporary_grant_create(
        actor=acting(admins[0]),
        channel=Channel.ADMIN,
        employee_pk=agent.pk,
        scope="customer.customer_read--US",
        valid_until=timezone.now() + timedelta(hours=2),
    )
    return {"agent": agent, "client": client, "de": de, "fr": fr}


def lines_of(review, **filters):
    return AccessReviewLine.objects.filter(review=review, **filters)


def test_the_snapshot_holds_every_active_identity_and_what_it_holds(admins, staff, tenant):
    review = access_review_start(
        actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant, reviewers=admins
    )
    held = {(line.subject_name, line.held, line.temporary) for line in lines_of(review)}
    assert held == {
        ("alice", "group admins", False),
        ("bob", "group admins", False),
        ("agent", "group DE readers", False),
        ("agent", "group FR readers", False),
        ("agent", "scope customer.customer_read--US", True),
        ("shop", "scope customer.customer_read--DE", False),
        ("shop", "scope customer.customer_manage--DE", False),
    }
    us = lines_of(review, valid_until__isnull=False).get()
    assert us.restrictions == ["US"] and us.restriction_words == " US "
    # Nobody reviews their own lines; an identity's lines go to one reviewer.
    for line in lines_of(review, subject_name__in=["alice", "bob"]):
        assert line.reviewer_name != line.subject_name
    assert len({line.reviewer_id for line in lines_of(review, subject_name="agent")}) == 1


def test_the_snapshot_costs_the_same_queries_for_more_identities(admins, staff, tenant):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
        return len(captured)

    few = queries()
    group = AccessGroupFactory(tenant=tenant, scopes=[READ])
    for _ in range(15):
        EmployeeFactory(tenant=tenant, access_groups=[group])
        ApiClientFactory(tenant=tenant, scopes=[READ])
    assert queries() == few


def test_a_reviewers_revoke_is_visible_in_the_api_at_once(admins, staff, tenant, world):
    agent, client = staff["agent"], staff["client"]
    agent_http = bearer_client(employee_token(agent))
    client_http = bearer_client(token_for(client))
    assert agent_http.get("/customer/acme/customers/FR1").status_code == 200
    assert client_http.get("/customer/acme/customers/DE1").status_code == 200
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    fr_line = lines_of(review, subject_name="agent", group_name="FR readers").get()
    read_line = lines_of(review, subject_name="shop", scopes=["customer.customer_read--DE"]).get()
    manage_line = lines_of(review, subject_name="shop", scopes=["customer.customer_manage--DE"])
    result = review_lines_decide(
        actor=acting(admins[0]),
        review_pk=review.pk,
        line_pks=[fr_line.pk, read_line.pk, manage_line.get().pk],
        decision="revoke",
    )
    assert result.revoked == 3 and not result.skipped
    assert agent_http.get("/customer/acme/customers/FR1").status_code == 404
    assert agent_http.get("/customer/acme/customers/DE1").status_code == 200
    assert client_http.get("/customer/acme/customers/DE1").status_code == 403
    fr_line.refresh_from_db()
    assert fr_line.decision == "revoke" and fr_line.outcome == "removed from group FR readers"
    assert fr_line.decided_by_name == "alice"
    record = AccessChange.objects.get(action="group_removed", subject_name="agent")
    assert record.channel == "review" and record.before == {"group": "FR readers"}


def test_revoking_a_temporary_line_ends_the_grant(admins, staff, tenant):
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    line = lines_of(review, valid_until__isnull=False).get()
    review_lines_decide(
        actor=acting(admins[0]), review_pk=review.pk, line_pks=[line.pk], decision="revoke"
    )
    assert staff["agent"].grants().readable().restrictions == {"DE", "FR"}
    line.refresh_from_db()
    assert line.outcome == "temporary grant revoked"


def test_nobody_decides_their_own_line_or_another_reviewers(admins, staff, tenant):
    alice, bob = admins
    review = access_review_start(
        actor=acting(alice), channel=Channel.ADMIN, tenant=tenant, reviewers=[alice]
    )
    own = lines_of(review, subject_name="alice").get()
    assert own.reviewer_id is None  # alice is the only reviewer: her line is for the others
    agent_line = lines_of(review, subject_name="agent").first()
    assert agent_line.reviewer_id == alice.pk
    result = review_lines_decide(
        actor=acting(alice), review_pk=review.pk, line_pks=[own.pk], decision="keep"
    )
    assert result.kept == 0 and "own access" in result.skipped[0]
    result = review_lines_decide(
        actor=acting(bob), review_pk=review.pk, line_pks=[agent_line.pk], decision="revoke"
    )
    assert result.revoked == 0 and "assigned to alice" in result.skipped[0]
    assert staff["agent"].grants().readable().restrictions == {"DE", "FR", "US"}
    result = review_lines_decide(
        actor=acting(bob), review_pk=review.pk, line_pks=[own.pk], decision="keep"
    )
    assert result.kept == 1


def test_the_review_closes_when_every_line_is_decided_and_then_is_read_only(admins, staff, tenant):
    alice, bob = admins
    review = access_review_start(actor=acting(alice), channel=Channel.ADMIN, tenant=tenant)
    others = lines_of(review).exclude(subject_name="alice")
    result = review_lines_decide(
        actor=acting(alice),
        review_pk=review.pk,
        line_pks=others.values_list("pk", flat=True),
        decision="keep",
    )
    assert not result.closed
    review.refresh_from_db()
    assert review.status == "open"
    own = lines_of(review, subject_name="alice").get()
    result = review_lines_decide(
        actor=acting(bob), review_pk=review.pk, line_pks=[own.pk], decision="revoke"
    )
    assert result.closed
    review.refresh_from_db()
    assert review.status == "closed" and review.closed_at is not None
    # Read-only.
    with pytest.raises(ConflictError, match="closed"):
        review_lines_decide(
            actor=acting(bob), review_pk=review.pk, line_pks=[own.pk], decision="keep"
        )
    own.refresh_from_db()
    assert own.decision == "revoke"


def test_a_closed_review_refuses_decisions_even_of_undecided_lines(admins, staff, tenant):
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    AccessReview.objects.filter(pk=review.pk).update(status="closed")
    line = lines_of(review, subject_name="agent").first()
    with pytest.raises(ConflictError, match="closed"):
        review_lines_decide(
            actor=acting(admins[0]), review_pk=review.pk, line_pks=[line.pk], decision="revoke"
        )
    assert staff["agent"].grants().readable().restrictions == {"DE", "FR", "US"}
    with pytest.raises(ConflictError):
        review_lines_decide(
            actor=acting(admins[0]), review_pk=review.pk, line_pks=[line.pk], decision="keep"
        )


def test_a_revoke_the_services_refuse_leaves_the_line_undecided(admins, staff, tenant):
    de_admin = EmployeeFactory(
        tenant=tenant,
        access_groups=[
            AccessGroupFactory(
                tenant=tenant, scopes=["tenant.tenant_manage", READ], restrictions=[]
            ),
        ],
    )
    review = access_review_start(
        actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant, reviewers=[de_admin]
    )
    # de_admin holds read and tenant_manage; alice also holds customer_manage: no take-over,
    # so her line is not de_admin's to review, and neither keep nor revoke is taken from him.
    line = lines_of(review, subject_name="alice").get()
    assert line.reviewer is None
    for decision in ("revoke", "keep"):
        result = review_lines_decide(
            actor=acting(de_admin), review_pk=review.pk, line_pks=[line.pk], decision=decision
        )
        assert (result.revoked, result.kept) == (0, 0)
        assert "alice holds more than you" in result.skipped[0]
    line.refresh_from_db()
    assert line.decision == ""
    assert admins[0].access_groups.count() == 1


def test_reviewers_must_be_tenant_administrators(admins, staff, tenant):
    with pytest.raises(InvalidInput, match="agent"):
        access_review_start(
            actor=acting(admins[0]),
            channel=Channel.ADMIN,
            tenant=tenant,
            reviewers=[staff["agent"]],
        )
    assert not AccessReview.objects.exists()


def test_a_break_glass_activation_is_marked_in_the_next_review(admins, staff, tenant):
    emergency = AccessGroupFactory(tenant=tenant, name="incident", scopes=[READ], break_glass=True)
    access_request_create(
        actor=themselves(staff["agent"]),
        channel=Channel.ADMIN,
        group=emergency,
        duration=timedelta(hours=1),
        reason="outage",
        break_glass=True,
    )
    review = access_review_start(actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant)
    line = lines_of(review, group_name="incident").get()
    assert line.break_glass and line.temporary


def test_reminders_go_to_reviewers_with_undecided_lines(
    admins, staff, tenant, django_capture_on_commit_callbacks
):
    alice, bob = admins
    review = access_review_start(
        actor=acting(alice), channel=Channel.ADMIN, tenant=tenant, reviewers=admins
    )
    bobs = lines_of(review, reviewer=bob).values_list("pk", flat=True)
    review_lines_decide(actor=acting(bob), review_pk=review.pk, line_pks=bobs, decision="keep")
    with django_capture_on_commit_callbacks(execute=True):
        review_reminders_send(actor=acting(alice), review_pk=review.pk)
    assert [message.to for message in mail.outbox] == [["alice@example.com"]]
    waiting = lines_of(review, reviewer=alice).count()
    assert f": {waiting} lines wait for your decision" in mail.outbox[0].subject
    assert "line(s)" not in mail.outbox[0].body


def test_the_command_starts_a_review_and_refuses_unknown_reviewers(admins, staff, tenant, capsys):
    call_command(
        "start_access_review",
        "--tenant",
        "acme",
        "--reviewer",
        "alice",
        "--reviewer",
        "bob",
        "--name",
        "Q4",
    )
    out = capsys.readouterr().out
    review = AccessReview.objects.get(name="Q4")
    assert f"review={review.pk} lines=7 status=open" in out
    assert set(lines_of(review).values_list("reviewer_name", flat=True)) == {"alice", "bob"}
    with pytest.raises(CommandError, match="nobody") as refused:
        call_command("start_access_review", "--tenant", "acme", "--reviewer", "nobody")
    assert refused.value.returncode == 2
    with pytest.raises(CommandError, match="agent") as refused:
        call_command("start_access_review", "--tenant", "acme", "--reviewer", "agent")
    assert AccessReview.objects.count() == 1


def test_expire_access_command_tidies_and_says_how_many(admins, staff, capsys):
    from accounts.models import TemporaryGrant

    TemporaryGrant.objects.update(
        valid_from=timezone.now() - timedelta(hours=3),
        valid_until=timezone.now() - timedelta(hours=1),
    )
    call_command("expire_access")
    assert "expired=1" in capsys.readouterr().out
    assert not TemporaryGrant.objects.exists()
    assert AccessChange.objects.filter(action="expired").count() == 1


def test_a_grant_that_starts_later_is_a_line_with_its_start(admins, staff, tenant):
    start = timezone.now() + timedelta(days=2)
    temporary_grant_create(
        actor=acting(admins[0]),
        channel=Channel.ADMIN,
        employee_pk=staff["agent"].pk,
        scope="customer.customer_read--FR",
        valid_from=start,
        valid_until=start + timedelta(hours=4),
    )
    review = access_review_start(
        actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant, reviewers=admins
    )
    later = lines_of(review, scopes=["customer.customer_read--FR"]).get()
    assert (later.valid_from, later.valid_until) == (start, start + timedelta(hours=4))
    assert later.temporary_grant is not None
    auditor = ApiClientFactory(tenant=tenant, scopes=["audit.audit_read"])
    lines = bearer_client(token_for(auditor)).get(
        f"/iam/{tenant.code}/access-reviews/{review.pk}/lines"
    )
    [row] = [line for line in lines.json() if line["scopes"] == later.scopes]
    assert row["temporaryFrom"] == start.isoformat().replace("+00:00", "Z")
    # Revoking it takes the grant away before it ever starts.
    result = review_lines_decide(
        actor=acting(admins[1]), review_pk=review.pk, line_pks=[later.pk], decision="revoke"
    )
    assert result.revoked == 1
    assert not staff["agent"].temporary_grants.filter(valid_from=start).exists()


def test_lines_go_only_to_reviewers_who_cover_them(admins, staff, tenant):
    weak = EmployeeFactory(
        tenant=tenant,
        username="weak",
        access_groups=[
            AccessGroupFactory(tenant=tenant, scopes=["tenant.tenant_manage", READ]),
        ],
    )
    review = access_review_start(
        actor=acting(admins[0]), channel=Channel.ADMIN, tenant=tenant, reviewers=[weak, admins[0]]
    )
    assigned = {(line.subject_name, line.reviewer_name) for line in lines_of(review).order_by("pk")}
    # weak (read only) covers agent (readers) but not the shop (manage) or bob (admins).
    assert ("bob", "alice") in assigned and ("shop", "alice") in assigned
    assert all(reviewer != "weak" or name == "agent" for name, reviewer in assigned)
    # alice reviews nobody's line of her own; with weak unable to cover her, hers stay open.
    assert ("alice", "") in assigned
