"""Nobody extends their own access, and temporary rights make nothing that outlasts them.

Each test replays a step of the reported escalation: an employee approved into the
administrators' group for 15 minutes granted himself the group until 2099, ticked it on his own
employee page, gave a colleague 30 days, and a break-glass group carrying tenant administration
made any staff member a permanent tenant administrator."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccessChange, AccessGroup, AccessRequest, Employee, TemporaryGrant
from accounts.services.identities import (
    ONLY_TEMPORARY,
    access_group_save,
    api_client_create,
    employee_set_password,
    employee_update,
    identity_delete,
)
from accounts.services.temporary_access import (
    access_request_create,
    temporary_grant_create,
    temporary_grant_revoke,
)
from core.channels import Channel
from core.errors import ConflictError, InvalidInput, NotPermitted
from tests.accounts.test_temporary_access import ADMIN_SCOPES, acting
from tests.factories import AccessGroupFactory, EmployeeFactory, themselves

pytestmark = pytest.mark.django_db
ADMIN = Channel.ADMIN


@pytest.fixture
def admins(tenant):
    return AccessGroupFactory(tenant=tenant, name="admins", scopes=ADMIN_SCOPES)


@pytest.fixture
def boss(tenant, admins):
    return EmployeeFactory(tenant=tenant, username="boss", access_groups=[admins])


@pytest.fixture
def mallory(tenant, boss, admins):
    """Approved into ``admins`` for 15 minutes, holding nothing for good."""
    mallory = EmployeeFactory(tenant=tenant, username="mallory")
    temporary_grant_create(
        actor=acting(boss),
        channel=ADMIN,
        employee_pk=mallory.pk,
        group=admins,
        valid_until=timezone.now() + timedelta(minutes=15),
        reason="month-end close",
    )
    return mallory


@pytest.fixture
def colleague(tenant):
    return EmployeeFactory(tenant=tenant, username="colleague")


def test_nobody_grants_themselves_temporary_access(mallory, admins):
    with pytest.raises(NotPermitted, match="Nobody changes their own access"):
        temporary_grant_create(
            actor=acting(mallory),
            channel=ADMIN,
            employee_pk=mallory.pk,
            group=admins,
            valid_until=timezone.now() + timedelta(hours=1),
        )
    assert TemporaryGrant.objects.filter(employee=mallory).count() == 1


def test_nobody_ticks_a_group_or_a_flag_on_their_own_employee(boss, mallory, admins, tenant):
    other = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])
    for change in (
        {"access_groups": [admins]},
        {"fields": {"is_staff": False}},
        {"fields": {"is_active": False}},
    ):
        for employee in (mallory, boss):
            if employee == boss and "access_groups" in change:
                continue  # (he is in admins already: an unchanged list changes nothing)
            with pytest.raises(NotPermitted, match="Nobody changes their own access"):
                employee_update(
                    actor=acting(employee),
                    channel=ADMIN,
                    employee_pk=employee.pk,
                    **{"fields": {}, **change},
                )
    with pytest.raises(NotPermitted, match="Nobody changes their own access"):
        employee_update(
            actor=acting(boss),
            channel=ADMIN,
            employee_pk=boss.pk,
            fields={},
            access_groups=[admins, other],
        )
    with pytest.raises(NotPermitted, match="Nobody changes their own access"):
        identity_delete(actor=acting(boss), channel=ADMIN, identity=boss)
    assert list(boss.access_groups.all()) == [admins]
    assert list(mallory.access_groups.all()) == []
    # What is not access stays theirs to change: a name, the same groups again, a password.
    employee_update(
        actor=acting(boss),
        channel=ADMIN,
        employee_pk=boss.pk,
        fields={"first_name": "Bo"},
        access_groups=[admins],
    )
    employee_set_password(
        actor=acting(boss), channel=ADMIN, employee_pk=boss.pk, password="another-horse-battery"
    )
    assert Employee.objects.get(pk=boss.pk).first_name == "Bo"


def test_temporary_rights_create_no_standing_access(mallory, colleague, admins, tenant):
    actor = acting(mallory)
    assert actor.grants.can_manage_tenant()  # he does administer the tenant, for now
    for write in (
        lambda: employee_update(
            actor=actor,
            channel=ADMIN,
            employee_pk=colleague.pk,
            fields={},
            access_groups=[admins],
        ),
        lambda: api_client_create(
            actor=actor,
            channel=ADMIN,
            tenant=tenant,
            name="backdoor",
            scopes=["customer.customer_read"],
        ),
        lambda: access_group_save(
            actor=actor,
            channel=ADMIN,
            tenant=tenant,
            group_pk=None,
            name="readers",
            scopes=["customer.customer_read"],
            restrictions=[],
        ),
    ):
        with pytest.raises(NotPermitted) as refused:
            write()
        assert refused.value.message == ONLY_TEMPORARY
    assert not colleague.access_groups.exists()
    assert not AccessGroup.objects.filter(name="readers").exists()


def test_temporary_rights_grant_windows_inside_their_own_only(mallory, colleague, admins):
    actor = acting(mallory)
    with pytest.raises(NotPermitted) as refused:
        temporary_grant_create(
            actor=actor,
            channel=ADMIN,
            employee_pk=colleague.pk,
            group=admins,
            valid_until=timezone.now() + timedelta(hours=4),
        )
    assert refused.value.message == ONLY_TEMPORARY
    inside = temporary_grant_create(
        actor=actor,
        channel=ADMIN,
        employee_pk=colleague.pk,
        scope="customer.customer_read",
        valid_until=timezone.now() + timedelta(minutes=10),
    )
    assert inside.employee == colleague


def test_a_temporary_grant_lasts_at_most_the_tenants_longest_temporary_access(
    boss, colleague, admins, tenant
):
    with pytest.raises(InvalidInput, match="at most 8 hours") as refused:
        temporary_grant_create(
            actor=acting(boss),
            channel=ADMIN,
            employee_pk=colleague.pk,
            group=admins,
            valid_until=timezone.now() + timedelta(days=30),
        )
    assert refused.value.details[0]["field"] == "valid_until"
    # A window that starts later is measured from its start.
    start = timezone.now() + timedelta(days=30)
    later = temporary_grant_create(
        actor=acting(boss),
        channel=ADMIN,
        employee_pk=colleague.pk,
        group=admins,
        valid_from=start,
        valid_until=start + timedelta(hours=8),
    )
    assert later.valid_until - later.valid_from == timedelta(hours=8)


def test_a_group_carrying_tenant_administration_is_never_break_glass(boss, tenant, colleague):
    with pytest.raises(InvalidInput, match="cannot be activated in an emergency"):
        access_group_save(
            actor=acting(boss),
            channel=ADMIN,
            tenant=tenant,
            group_pk=None,
            name="emergency admins",
            scopes=["tenant.tenant_manage"],
            restrictions=[],
            break_glass=True,
        )
    # Even a row marked before the rule (or by hand) cannot be activated.
    marked = AccessGroupFactory(tenant=tenant, scopes=["tenant.tenant_manage"])
    AccessGroup.objects.filter(pk=marked.pk).update(break_glass=True)
    marked.refresh_from_db()
    with pytest.raises(NotPermitted, match="cannot be activated in an emergency"):
        access_request_create(
            actor=themselves(colleague),
            channel=ADMIN,
            group=marked,
            duration=timedelta(minutes=15),
            reason="outage",
            break_glass=True,
        )
    assert not TemporaryGrant.objects.filter(employee=colleague).exists()


def test_break_glass_is_limited_per_employee_and_day(boss, tenant, colleague):
    tenant.break_glass_per_day = 2
    tenant.save(update_fields=["break_glass_per_day"])
    emergency = AccessGroupFactory(
        tenant=tenant, name="on call", scopes=["customer.customer_read"], break_glass=True
    )

    def activate():
        return access_request_create(
            actor=themselves(colleague),
            channel=ADMIN,
            group=emergency,
            duration=timedelta(minutes=15),
            reason="outage",
            break_glass=True,
        )

    for _ in range(2):
        activation = activate()
        temporary_grant_revoke(actor=acting(boss), channel=ADMIN, grant_pk=activation.grant_id)
    with pytest.raises(ConflictError, match="2 times in the last 24 hours"):
        activate()
    # A day later the count starts again.
    AccessRequest.objects.filter(requester=colleague).update(
        decided_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    assert activate().status == AccessRequest.Status.ACTIVATED


def test_own_employee_page_shows_access_read_only_and_refuses_self_delete(
    boss, admins, tenant, client
):
    other = AccessGroupFactory(tenant=tenant, name="others", scopes=["customer.customer_read"])
    client.force_login(boss)
    page = client.get(f"/admin/accounts/employee/{boss.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "access_groups" not in form.fields and "is_active" not in form.fields
    response = client.post(
        f"/admin/accounts/employee/{boss.pk}/change/",
        {
            "username": "boss",
            "first_name": "Bo",
            "last_name": "",
            "email": "",
            "access_groups": [admins.pk, other.pk],
            "is_active": "",
        },
    )
    assert response.status_code == 302
    boss.refresh_from_db()
    assert (boss.first_name, boss.is_active) == ("Bo", True)
    assert list(boss.access_groups.all()) == [admins]
    assert client.get(f"/admin/accounts/employee/{boss.pk}/delete/").status_code == 403
    bulk = client.post(
        "/admin/accounts/employee/",
        {"action": "delete_selected", "_selected_action": [boss.pk], "post": "yes"},
    )
    assert bulk.status_code == 403
    assert Employee.objects.filter(pk=boss.pk).exists()
    assert not AccessChange.objects.filter(subject_id=str(boss.pk), action="deleted").exists()


def test_only_an_employee_of_the_tenant_asks_for_access_for_themselves(tenant, admins):
    from accounts.principal import Principal
    from tests.factories import ApiClientFactory

    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    for actor in (
        Principal.operator(tenant),
        Principal.for_api_client(ApiClientFactory(tenant=tenant)),
        Principal.platform(root).in_tenant(tenant),
    ):
        with pytest.raises(NotPermitted, match="Only active employees of a tenant ask"):
            access_request_create(
                actor=actor,
                channel=ADMIN,
                group=admins,
                duration=timedelta(hours=1),
                reason="because",
            )
    assert not AccessRequest.objects.exists()
