"""Temporary grants, requests for them and break-glass: the window decides, at once, tokens
included; nobody approves their own request or more than they could grant; every grant,
revocation and expiry is recorded."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.holdings import tenant_administrators
from accounts.models import AccessChange, AccessRequest, TemporaryGrant
from accounts.principal import Principal
from accounts.scopes import Grants
from accounts.services.temporary_access import (
    SELF_APPROVAL,
    access_request_create,
    access_request_decide,
    access_request_withdraw,
    expire_access,
    temporary_grant_create,
    temporary_grant_revoke,
)
from accounts.tokens import issue_token
from core.channels import Channel
from core.errors import ConflictError, InvalidInput, NotPermitted
from tests.accounts.test_token_endpoint import post_token
from tests.conftest import bearer_client
from tests.factories import AccessGroupFactory, ApiClientFactory, EmployeeFactory, themselves

READ = "customer.customer_read"
ADMIN_SCOPES = ["customer.customer_read", "customer.customer_manage", "tenant.tenant_manage"]


@pytest.fixture
def admin(tenant):
    group = AccessGroupFactory(tenant=tenant, name="admins", scopes=ADMIN_SCOPES)
    return EmployeeFactory(
        tenant=tenant, username="boss", email="boss@example.com", access_groups=[group]
    )


@pytest.fixture
def second_admin(tenant, admin):
    return EmployeeFactory(
        tenant=tenant,
        username="boss2",
        email="boss2@example.com",
        access_groups=list(admin.access_groups.all()),
    )


@pytest.fixture
def fr_readers(tenant):
    return AccessGroupFactory(tenant=tenant, name="FR readers", scopes=[READ], restrictions=["FR"])


@pytest.fixture
def de_agent(tenant):
    group = AccessGroupFactory(tenant=tenant, name="DE readers", scopes=[READ], restrictions=["DE"])
    return EmployeeFactory(
        tenant=tenant, username="agent", email="agent@example.com", access_groups=[group]
    )


def acting(employee) -> Principal:
    return Principal.for_employee(employee, employee.tenant)


def employee_token(employee) -> str:
    return issue_token(
        subject=f"employee:{employee.pk}",
        tenant_code=employee.tenant.code,
        scopes=employee.scope_strings(),
        generation=employee.token_generation,
    ).access_token


def in_an_hour():
    return timezone.now() + timedelta(hours=1)


def window_passes(grant: TemporaryGrant) -> None:
    """The grant's end moves into the past; nothing tidies it (expire_access does not run)."""
    TemporaryGrant.objects.filter(pk=grant.pk).update(
        valid_from=timezone.now() - timedelta(hours=2),
        valid_until=timezone.now() - timedelta(seconds=1),
    )


def test_a_temporary_group_grants_only_inside_its_window(admin, de_agent, fr_readers):
    grant = temporary_grant_create(
        actor=acting(admin),
        channel=Channel.ADMIN,
        employee_pk=de_agent.pk,
        group=fr_readers,
        valid_until=in_an_hour(),
        reason="covering France",
    )
    assert de_agent.grants().readable().restrictions == {"DE", "FR"}
    window_passes(grant)
    assert de_agent.grants().readable().restrictions == {"DE"}
    assert TemporaryGrant.objects.filter(pk=grant.pk).exists()  # not tidied, still no access


def test_a_grant_that_starts_later_grants_nothing_yet(admin, de_agent, fr_readers):
    temporary_grant_create(
        actor=acting(admin),
        channel=Channel.ADMIN,
        employee_pk=de_agent.pk,
        group=fr_readers,
        valid_from=timezone.now() + timedelta(hours=1),
        valid_until=timezone.now() + timedelta(hours=2),
    )
    assert de_agent.grants().readable().restrictions == {"DE"}


@pytest.mark.django_db
def test_an_expired_grant_stops_a_token_that_is_still_valid(admin, de_agent, fr_readers, world):
    grant = temporary_grant_create(
        actor=acting(admin),
        channel=Channel.ADMIN,
        employee_pk=de_agent.pk,
        group=fr_readers,
        valid_until=in_an_hour(),
    )
    http = bearer_client(employee_token(de_agent))  # the token says DE and FR, for an hour
    assert http.get("/customer/acme/customers/FR1").status_code == 200
    window_passes(grant)
    assert http.get("/customer/acme/customers/FR1").status_code == 404
    assert http.get("/customer/acme/customers/DE1").status_code == 200


@pytest.mark.django_db
def test_an_api_clients_temporary_scope_ends_with_its_window(admin, world, tenant):
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read--DE"])
    grant = temporary_grant_create(
        actor=acting(admin),
        channel=Channel.ADMIN,
        client_pk=client.pk,
        scope="customer.customer_read--FR",
        valid_until=in_an_hour(),
    )
    assert client.grants().readable().restrictions == {"DE", "FR"}
    http = bearer_client(
        issue_token(
            subject=f"client:{client.client_id}",
            tenant_code="acme",
            scopes=client.grants().scope_strings(),
            generation=client.token_generation,
        ).access_token
    )
    assert http.get("/customer/acme/customers/FR1").status_code == 200
    window_passes(grant)
    assert http.get("/customer/acme/customers/FR1").status_code == 404


@pytest.mark.django_db
def test_a_token_of_only_temporary_access_is_refused_once_it_ends(admin, tenant, world):
    client = ApiClientFactory(tenant=tenant, scopes=[])
    grant = temporary_grant_create(
        actor=acting(admin),
        channel=Channel.ADMIN,
        client_pk=client.pk,
        scope=READ,
        valid_until=in_an_hour(),
    )
    http = bearer_client(
        issue_token(
            subject=f"client:{client.client_id}",
            tenant_code="acme",
            scopes=[READ],
            generation=client.token_generation,
        ).access_token
    )
    assert http.get("/customer/acme/customers").status_code == 200
    window_passes(grant)
    assert http.get("/customer/acme/customers").status_code == 403


def test_the_token_endpoint_issues_temporary_scopes_while_they_last(admin, tenant):
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read--DE"], secret="s3")
    temporary_grant_create(
        actor=acting(admin),
        channel=Channel.ADMIN,
        client_pk=client.pk,
        scope="customer.customer_read--FR",
        valid_until=in_an_hour(),
    )
    answer = post_token(
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": "s3"}
    )
    assert answer.status_code == 200
    assert "customer.customer_read--FR" in answer.json()["scope"].split()
    client.refresh_from_db()
    assert client.last_token_at is not None


def test_nobody_grants_temporarily_beyond_their_own_grants(tenant, de_agent, fr_readers):
    de_admin = EmployeeFactory(
        tenant=tenant,
        access_groups=[
            AccessGroupFactory(
                tenant=tenant,
                scopes=["customer.customer_read", "tenant.tenant_manage"],
                restrictions=["DE"],
            )
        ],
    )
    with pytest.raises(NotPermitted):
        temporary_grant_create(
            actor=acting(de_admin),
            channel=Channel.ADMIN,
            employee_pk=de_agent.pk,
            group=fr_readers,
            valid_until=in_an_hour(),
        )
    assert not TemporaryGrant.objects.exists()


def test_a_temporary_grant_needs_a_future_end_and_a_group_of_the_tenant(
    admin, de_agent, fr_readers, other_tenant
):
    with pytest.raises(InvalidInput):
        temporary_grant_create(
            actor=acting(admin),
            channel=Channel.ADMIN,
            employee_pk=de_agent.pk,
            group=fr_readers,
            valid_until=timezone.now() - timedelta(minutes=1),
        )
    foreign = AccessGroupFactory(tenant=other_tenant, scopes=[READ])
    with pytest.raises(InvalidInput):
        temporary_grant_create(
            actor=acting(admin),
            channel=Channel.ADMIN,
            employee_pk=de_agent.pk,
            group=foreign,
            valid_until=in_an_hour(),
        )
    with pytest.raises(InvalidInput):
        temporary_grant_create(
            actor=acting(admin),
            channel=Channel.ADMIN,
            employee_pk=de_agent.pk,
            scope="customer.customer_read--XX",
            valid_until=in_an_hour(),
        )
    assert not TemporaryGrant.objects.exists()


def test_grant_revoke_and_expiry_are_recorded_and_expiry_only_tidies(admin, de_agent, fr_readers):
    actor = acting(admin)
    first = temporary_grant_create(
        actor=actor,
        channel=Channel.ADMIN,
        employee_pk=de_agent.pk,
        group=fr_readers,
        valid_until=in_an_hour(),
        reason="covering",
    )
    second = temporary_grant_create(
        actor=actor,
        channel=Channel.ADMIN,
        employee_pk=de_agent.pk,
        scope="customer.customer_read--US",
        valid_until=in_an_hour(),
    )
    assert temporary_grant_revoke(actor=actor, channel=Channel.ADMIN, grant_pk=first.pk)
    assert not temporary_grant_revoke(actor=actor, channel=Channel.ADMIN, grant_pk=first.pk)
    assert expire_access() == 0  # nothing has expired yet
    window_passes(second)
    assert expire_access() == 1
    assert expire_access() == 0
    actions = list(
        AccessChange.objects.filter(subject_id=str(de_agent.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["temporary_granted", "temporary_granted", "temporary_revoked", "expired"]
    granted = AccessChange.objects.filter(action="temporary_granted").order_by("pk").first()
    assert granted.after["group"] == "FR readers" and granted.after["reason"] == "covering"
    expired = AccessChange.objects.get(action="expired")
    assert expired.before["scope"] == "customer.customer_read--US"
    assert expired.actor_name == "expire_access" and expired.channel == "command"
    assert not TemporaryGrant.objects.exists()


# --- requests ---------------------------------------------------------------------------------


def ask(employee, group, hours=4, **kwargs):
    return access_request_create(
        actor=themselves(employee),
        channel=Channel.ADMIN,
        group=group,
        duration=timedelta(hours=hours),
        reason=kwargs.pop("reason", "covering France this week"),
        **kwargs,
    )


def test_a_request_is_mailed_to_the_tenant_administrators(
    admin, second_admin, de_agent, fr_readers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = ask(de_agent, fr_readers)
    assert request.status == AccessRequest.Status.PENDING
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {"boss@example.com", "boss2@example.com"}
    assert "agent asks for group FR readers" in mail.outbox[0].subject
    assert "group FR readers for 4 h in tenant" in mail.outbox[0].body  # (not "4:00:00")
    assert de_agent.grants().readable().restrictions == {"DE"}  # nothing granted yet


def test_approval_creates_a_grant_for_the_duration_and_tells_the_requester(
    admin, de_agent, fr_readers, django_capture_on_commit_callbacks
):
    request = ask(de_agent, fr_readers, hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        decided = access_request_decide(
            actor=acting(admin), channel=Channel.ADMIN, request_pk=request.pk, approve=True
        )
    assert decided.status == AccessRequest.Status.APPROVED
    grant = decided.grant
    assert grant.employee_id == de_agent.pk and grant.group_id == fr_readers.pk
    assert timedelta(hours=2) - (grant.valid_until - grant.valid_from) < timedelta(seconds=1)
    assert de_agent.grants().readable().restrictions == {"DE", "FR"}
    assert mail.outbox[0].to == ["agent@example.com"]
    assert "approved" in mail.outbox[0].subject
    record = AccessChange.objects.get(action="temporary_granted")
    assert record.actor_name == "boss" and record.after["request"] == request.pk


def test_a_self_approval_is_refused(admin, fr_readers):
    request = ask(admin, fr_readers)
    with pytest.raises(NotPermitted, match="own request"):
        access_request_decide(
            actor=acting(admin), channel=Channel.ADMIN, request_pk=request.pk, approve=True
        )
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING
    assert SELF_APPROVAL
    assert not TemporaryGrant.objects.exists()


def test_the_approver_may_only_approve_what_they_could_grant(tenant, de_agent):
    us_managers = AccessGroupFactory(
        tenant=tenant, name="US", scopes=["customer.customer_manage"], restrictions=["US"]
    )
    de_admin = EmployeeFactory(
        tenant=tenant,
        access_groups=[
            AccessGroupFactory(
                tenant=tenant, scopes=["customer.customer_manage"], restrictions=["DE"]
            ),
            AccessGroupFactory(tenant=tenant, scopes=["tenant.tenant_manage"]),
        ],
    )
    request = ask(de_agent, us_managers)
    with pytest.raises(NotPermitted):
        access_request_decide(
            actor=acting(de_admin), channel=Channel.ADMIN, request_pk=request.pk, approve=True
        )
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING


def test_a_decided_request_cannot_be_decided_again(admin, second_admin, de_agent, fr_readers):
    request = ask(de_agent, fr_readers)
    access_request_decide(
        actor=acting(admin),
        channel=Channel.ADMIN,
        request_pk=request.pk,
        approve=False,
        note="ask Pierre",
    )
    with pytest.raises(ConflictError, match="denied"):
        access_request_decide(
            actor=acting(second_admin), channel=Channel.ADMIN, request_pk=request.pk, approve=True
        )
    assert not TemporaryGrant.objects.exists()


def test_requests_are_limited_by_the_tenants_maximum_and_need_a_reason(de_agent, fr_readers):
    with pytest.raises(InvalidInput, match="at most 8 hours"):
        ask(de_agent, fr_readers, hours=9)
    with pytest.raises(InvalidInput, match="why"):
        ask(de_agent, fr_readers, reason="  ")
    ask(de_agent, fr_readers)
    with pytest.raises(ConflictError):
        ask(de_agent, fr_readers)  # the same request twice while it waits


def test_a_withdrawn_request_cannot_be_approved(admin, de_agent, fr_readers):
    request = ask(de_agent, fr_readers)
    access_request_withdraw(actor=themselves(de_agent), request_pk=request.pk)
    with pytest.raises(ConflictError):
        access_request_decide(
            actor=acting(admin), channel=Channel.ADMIN, request_pk=request.pk, approve=True
        )


def test_break_glass_grants_at_once_marks_everything_and_mails_every_administrator(
    admin, second_admin, de_agent, tenant, django_capture_on_commit_callbacks
):
    emergency = AccessGroupFactory(
        tenant=tenant, name="incident", scopes=[READ], restrictions=["US"], break_glass=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        request = ask(de_agent, emergency, hours=1, break_glass=True, reason="outage in US")
    assert request.status == AccessRequest.Status.ACTIVATED
    assert request.grant.break_glass
    assert de_agent.grants().readable().restrictions == {"DE", "US"}
    record = AccessChange.objects.get(action="temporary_granted")
    assert record.break_glass and record.actor_name == "agent"
    assert len(mail.outbox) == 1 and "BREAK-GLASS" in mail.outbox[0].subject
    assert set(mail.outbox[0].to) == {"boss@example.com", "boss2@example.com"}


def test_break_glass_is_not_activated_again_or_extended_while_it_lasts(de_agent, tenant):
    emergency = AccessGroupFactory(
        tenant=tenant, name="incident", scopes=[READ], restrictions=["US"], break_glass=True
    )
    first = ask(de_agent, emergency, hours=1, break_glass=True, reason="outage in US")
    for attempt in range(3):
        with pytest.raises(ConflictError, match="emergency access to incident is active until"):
            ask(de_agent, emergency, hours=8, break_glass=True, reason=f"still down {attempt}")
    assert list(TemporaryGrant.objects.values_list("pk", flat=True)) == [first.grant.pk]
    assert AccessRequest.objects.count() == 1
    # once it has ended (or was revoked), an emergency may be declared again
    TemporaryGrant.objects.filter(pk=first.grant.pk).update(
        valid_from=timezone.now() - timedelta(hours=2), valid_until=timezone.now()
    )
    again = ask(de_agent, emergency, hours=1, break_glass=True, reason="down again")
    assert again.grant.break_glass and again.grant.pk != first.grant.pk


@pytest.mark.django_db(transaction=True)
def test_two_break_glass_activations_at_once_grant_one_window():
    """The employee's row is locked first: of two activations racing, one grants and the other
    is refused, on PostgreSQL where they really run at once."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the row lock under test is PostgreSQL's")
    from tests.factories import TenantFactory

    tenant = TenantFactory(code="race", break_glass_per_day=50)  # (five rounds, ten tries)
    agent = EmployeeFactory(tenant=tenant, username="racer")
    emergency = AccessGroupFactory(
        tenant=tenant, name="incident", scopes=[READ], restrictions=["US"], break_glass=True
    )
    barrier, outcomes = threading.Barrier(2), []

    def activate(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            ask(agent, emergency, hours=1, break_glass=True, reason=f"outage {n}")
            outcomes.append("granted")
        except ConflictError:
            outcomes.append("refused")
        finally:
            connection.close()

    for _ in range(5):
        TemporaryGrant.objects.all().delete()
        outcomes.clear()
        threads = [threading.Thread(target=activate, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["granted", "refused"]
        assert TemporaryGrant.objects.filter(employee=agent, break_glass=True).count() == 1


def test_break_glass_is_refused_for_a_group_not_marked_for_it(de_agent, fr_readers):
    with pytest.raises(NotPermitted, match="emergency"):
        ask(de_agent, fr_readers, break_glass=True)
    assert not TemporaryGrant.objects.exists()
    assert not AccessRequest.objects.exists()


def test_tenant_administrators_include_temporary_ones(admin, de_agent, tenant):
    EmployeeFactory(tenant=tenant, is_staff=False, access_groups=list(admin.access_groups.all()))
    assert set(tenant_administrators(tenant.pk)) == {admin}  # (not one without the back office)
    temporary_grant_create(
        actor=acting(admin),
        channel=Channel.ADMIN,
        employee_pk=de_agent.pk,
        scope="tenant.tenant_manage",
        valid_until=in_an_hour(),
    )
    assert set(tenant_administrators(tenant.pk)) == {admin, de_agent}
    assert Grants.from_strings(["tenant.tenant_manage"]).can_manage_tenant()
