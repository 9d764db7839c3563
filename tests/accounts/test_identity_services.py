"""The identity services decide by themselves, whoever calls them: the actor administers the
tenant, grants nothing beyond their own, takes over nobody stronger; every write is on the locked
row and only the changed columns; every change is recorded, never a secret or a hash."""

import threading

import pytest
from django.db import connection

from accounts.models import AccessChange, AccessGroup, ApiClient, Employee
from accounts.principal import Principal
from accounts.services.identities import (
    GroupSpec,
    access_group_save,
    api_client_create,
    api_client_deactivate,
    api_client_rotate_secret,
    api_client_update,
    employee_create,
    employee_set_password,
    employee_update,
    identity_delete,
)
from core.channels import Channel
from core.errors import DoesNotExist, NotPermitted, ServiceError
from tests.factories import (
    AccessGroupFactory,
    ApiClientFactory,
    EmployeeFactory,
    employee_holding,
)

pytestmark = pytest.mark.django_db
ADMIN = Channel.ADMIN


def administrator(tenant, *scopes: str) -> Principal:
    """A tenant administrator holding ``scopes`` besides tenant.tenant_manage, for good."""
    employee = employee_holding(tenant, "tenant.tenant_manage", *scopes, username="tadmin")
    return Principal.for_employee(employee, tenant)


def actions(**filters) -> list[str]:
    return list(
        AccessChange.objects.filter(**filters).order_by("pk").values_list("action", flat=True)
    )


# --- no grant beyond your own, no take-over, own tenant only --------------------------------


def test_no_grant_beyond_the_actors_own_whatever_the_caller(tenant):
    actor = administrator(tenant, "customer.customer_read--DE")
    with pytest.raises(NotPermitted, match=r"beyond your own: customer\.customer_read\.$"):
        api_client_create(
            actor=actor, channel=ADMIN, tenant=tenant, name="x", scopes=["customer.customer_read"]
        )
    with pytest.raises(NotPermitted, match="beyond your own"):
        access_group_save(
            actor=actor,
            channel=ADMIN,
            tenant=tenant,
            group_pk=None,
            name="g",
            scopes=["customer.customer_read"],
            restrictions=["FR"],
        )
    weak = api_client_create(
        actor=actor,
        channel=ADMIN,
        tenant=tenant,
        name="weak",
        scopes=["customer.customer_read--DE"],
    ).client
    with pytest.raises(NotPermitted, match="beyond your own"):
        api_client_update(
            actor=actor,
            channel=ADMIN,
            client_pk=weak.pk,
            name="weak",
            scopes=["customer.customer_read--FR"],
            is_active=True,
        )
    strong_group = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_manage"])
    clerk = EmployeeFactory(tenant=tenant)
    with pytest.raises(NotPermitted, match="beyond your own"):
        employee_update(
            actor=actor,
            channel=ADMIN,
            employee_pk=clerk.pk,
            fields={},
            access_groups=[strong_group],
        )
    assert list(clerk.access_groups.all()) == []
    assert ApiClient.objects.get(pk=weak.pk).scopes == ["customer.customer_read--DE"]
    assert not AccessGroup.objects.filter(name="g").exists()


def test_a_stronger_identity_cannot_be_taken_over(tenant):
    actor = administrator(tenant, "customer.customer_read")
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_manage"])
    boss = EmployeeFactory(
        tenant=tenant,
        access_groups=[
            AccessGroupFactory(tenant=tenant, scopes=["restriction.restriction_manage"])
        ],
    )
    refused = [
        lambda: api_client_rotate_secret(actor=actor, channel=ADMIN, client_pk=client.pk),
        lambda: api_client_deactivate(actor=actor, channel=ADMIN, client_pk=client.pk),
        lambda: employee_set_password(
            actor=actor, channel=ADMIN, employee_pk=boss.pk, password="a-long-passphrase"
        ),
        lambda: employee_update(
            actor=actor, channel=ADMIN, employee_pk=boss.pk, fields={"email": "me@example.com"}
        ),
        lambda: identity_delete(actor=actor, channel=ADMIN, identity=boss),
    ]
    for attempt in refused:
        with pytest.raises(NotPermitted, match="beyond your own"):
            attempt()
    stored = ApiClient.objects.get(pk=client.pk)
    assert (stored.secret_hash, stored.is_active) == (client.secret_hash, True)
    assert Employee.objects.get(pk=boss.pk).password == boss.password
    assert not AccessChange.objects.exists()


def refusal(write, **arguments) -> tuple[type, str]:
    with pytest.raises(ServiceError) as refused:
        write(**arguments)
    return type(refused.value), refused.value.message


def test_only_the_own_tenant_and_only_with_tenant_manage(tenant, other_tenant):
    foreign = ApiClientFactory(tenant=other_tenant, scopes=["customer.customer_read"])
    foreign_employee = EmployeeFactory(tenant=other_tenant)
    foreign_group = AccessGroupFactory(tenant=other_tenant)
    missing = max(foreign.pk, foreign_employee.pk, foreign_group.pk) + 1000
    everything_but_admin = Principal.for_employee(
        employee_holding(tenant, "customer.customer_manage"), tenant
    )
    # Another tenant's identity answers exactly as a missing one: nothing says it exists.
    for actor in (administrator(tenant, "customer.customer_manage"), everything_but_admin):
        common = {"actor": actor, "channel": ADMIN}
        for write, extra in (
            (api_client_rotate_secret, {}),
            (api_client_deactivate, {}),
            (api_client_update, {"name": "x", "scopes": [], "is_active": True}),
        ):
            there = refusal(write, client_pk=foreign.pk, **common, **extra)
            assert there == refusal(write, client_pk=missing, **common, **extra)
            assert there[0] is DoesNotExist
        assert refusal(
            employee_update, employee_pk=foreign_employee.pk, fields={}, **common
        ) == refusal(employee_update, employee_pk=missing, fields={}, **common)
        assert refusal(identity_delete, identity=foreign_group, **common) == refusal(
            identity_delete, identity=AccessGroup(pk=missing, tenant=tenant), **common
        )
    assert ApiClient.objects.get(pk=foreign.pk).is_active
    assert AccessGroup.objects.filter(pk=foreign_group.pk).exists()
    assert not AccessChange.objects.exists()
    # In the own tenant, an employee who does not administer it is told why.
    own = ApiClientFactory(tenant=tenant, scopes=[])
    with pytest.raises(NotPermitted, match="own tenant"):
        api_client_rotate_secret(actor=everything_but_admin, channel=ADMIN, client_pk=own.pk)
    with pytest.raises(NotPermitted, match="own tenant"):
        api_client_create(
            actor=everything_but_admin, channel=ADMIN, tenant=tenant, name="x", scopes=[]
        )


def test_only_the_platform_makes_or_touches_superusers(tenant):
    clerk = EmployeeFactory(tenant=tenant)
    actor = Principal.operator(tenant)  # holds everything, yet belongs to a tenant
    with pytest.raises(NotPermitted, match="platform superuser"):
        employee_update(
            actor=actor, channel=ADMIN, employee_pk=clerk.pk, fields={"is_superuser": True}
        )
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    with pytest.raises(DoesNotExist):  # (outside every tenant: as if there were none)
        employee_set_password(
            actor=actor, channel=ADMIN, employee_pk=root.pk, password="a-long-passphrase"
        )
    platform = Principal.platform(root)
    employee_update(
        actor=platform, channel=ADMIN, employee_pk=clerk.pk, fields={"is_superuser": True}
    )
    assert Employee.objects.get(pk=clerk.pk).is_superuser


# --- token generations ------------------------------------------------------------------------


def test_every_is_active_transition_and_credential_change_moves_the_generation(tenant):
    actor = Principal.operator(tenant)
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read"])
    employee = EmployeeFactory(tenant=tenant)

    def generations():
        return (
            ApiClient.objects.get(pk=client.pk).token_generation,
            Employee.objects.get(pk=employee.pk).token_generation,
        )

    seen = [generations()]
    for active in (False, True):
        api_client_update(
            actor=actor,
            channel=ADMIN,
            client_pk=client.pk,
            name=client.name,
            scopes=client.scopes,
            is_active=active,
        )
        employee_update(
            actor=actor, channel=ADMIN, employee_pk=employee.pk, fields={"is_active": active}
        )
        seen.append(generations())
    api_client_rotate_secret(actor=actor, channel=ADMIN, client_pk=client.pk)
    employee_set_password(
        actor=actor, channel=ADMIN, employee_pk=employee.pk, password="a-long-passphrase"
    )
    seen.append(generations())
    assert [g for g, _ in seen] == sorted({g for g, _ in seen})  # strictly rising
    assert [g for _, g in seen] == sorted({g for _, g in seen})
    # A save that changes nothing moves nothing.
    employee_update(actor=actor, channel=ADMIN, employee_pk=employee.pk, fields={"is_active": True})
    assert generations() == seen[-1]


# --- the record -------------------------------------------------------------------------------


def test_every_access_change_is_recorded_and_no_secret_or_hash_is(tenant):
    actor = administrator(tenant, "customer.customer_read")
    created = api_client_create(
        actor=actor, channel=ADMIN, tenant=tenant, name="shop", scopes=["customer.customer_read"]
    )
    client = created.client
    api_client_update(
        actor=actor,
        channel=ADMIN,
        client_pk=client.pk,
        name="shop-2",
        scopes=["customer.customer_read--DE"],
        is_active=False,
    )
    secret = api_client_rotate_secret(actor=actor, channel=ADMIN, client_pk=client.pk)
    employee = employee_create(
        actor=actor,
        channel=Channel.COMMAND,
        tenant=tenant,
        username="clerk",
        password="first-long-passphrase",
        groups=[GroupSpec.parse("readers:customer.customer_read:DE")],
    )
    employee_set_password(
        actor=actor, channel=ADMIN, employee_pk=employee.pk, password="second-long-passphrase"
    )
    employee_update(
        actor=actor,
        channel=ADMIN,
        employee_pk=employee.pk,
        fields={"first_name": "Ada", "is_active": False},
        access_groups=[],
    )
    assert actions(subject_kind="api_client") == [
        "created",
        "deactivated",
        "changed",
        "secret_rotated",
    ]
    assert actions(subject_kind="employee") == [
        "created",
        "group_added",
        "password_changed",
        "deactivated",
        "changed",
        "group_removed",
    ]
    assert actions(subject_kind="access_group") == ["created"]
    change = AccessChange.objects.get(subject_kind="api_client", action="changed")
    assert change.before == {"name": "shop", "scopes": ["customer.customer_read"]}
    assert change.after == {"name": "shop-2", "scopes": ["customer.customer_read--DE"]}
    assert (change.actor_kind, change.actor_name, change.channel) == ("employee", "tadmin", "admin")
    assert change.tenant_id == tenant.pk and change.subject_id == client.client_id
    everything = " ".join(f"{row.before} {row.after}" for row in AccessChange.objects.all())
    stored = Employee.objects.get(pk=employee.pk)
    for secret_text in (
        created.secret,
        secret,
        ApiClient.objects.get(pk=client.pk).secret_hash,
        stored.password,
        "passphrase",
    ):
        assert secret_text not in everything


def test_a_refused_change_records_nothing_and_changes_nothing(tenant):
    actor = administrator(tenant, "customer.customer_read")
    client = ApiClientFactory(tenant=tenant, name="shop", scopes=["customer.customer_read"])
    with pytest.raises(NotPermitted):
        api_client_update(
            actor=actor,
            channel=ADMIN,
            client_pk=client.pk,
            name="renamed",
            scopes=["customer.customer_manage"],
            is_active=False,
        )
    stored = ApiClient.objects.get(pk=client.pk)
    assert (stored.name, stored.is_active, stored.token_generation) == (
        "shop",
        True,
        client.token_generation,
    )
    assert not AccessChange.objects.exists()


# --- concurrent writes never undo one another (PostgreSQL row locks) --------------------------


def run_together(*jobs):
    barrier = threading.Barrier(len(jobs))
    failures = []

    def run(job):
        try:
            barrier.wait(timeout=10)
            job()
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures


@pytest.mark.django_db(transaction=True)
def test_a_password_change_and_a_profile_save_never_undo_each_other():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the row locks under test are PostgreSQL's")
    from tests.factories import TenantFactory

    tenant = TenantFactory(code="race")
    actor = Principal.operator(tenant)
    employee = EmployeeFactory(tenant=tenant)
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read"])

    def one_round(round_: int) -> None:
        password = f"a-new-long-passphrase-{round_}"
        secrets = []
        run_together(
            lambda: employee_set_password(
                actor=actor, channel=ADMIN, employee_pk=employee.pk, password=password
            ),
            lambda: employee_update(
                actor=actor,
                channel=ADMIN,
                employee_pk=employee.pk,
                fields={"first_name": f"Round {round_}"},
            ),
            lambda: secrets.append(
                api_client_rotate_secret(actor=actor, channel=ADMIN, client_pk=client.pk)
            ),
            lambda: api_client_update(
                actor=actor,
                channel=ADMIN,
                client_pk=client.pk,
                name=f"shop {round_}",
                scopes=["customer.customer_read"],
                is_active=True,
            ),
        )
        stored = Employee.objects.get(pk=employee.pk)
        assert stored.check_password(password), round_
        assert stored.first_name == f"Round {round_}"
        assert stored.token_generation == round_ + 1
        stored_client = ApiClient.objects.get(pk=client.pk)
        assert stored_client.check_secret(secrets[0]), round_
        assert stored_client.name == f"shop {round_}"

    for round_ in range(20):
        one_round(round_)


def test_a_superuser_without_a_tenant_cannot_become_an_ordinary_employee(tenant):
    from core.errors import InvalidInput

    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    other = EmployeeFactory(tenant=None, is_superuser=True, username="root2")
    with pytest.raises(InvalidInput, match="superuser"):
        employee_update(
            actor=Principal.platform(root),
            channel=ADMIN,
            employee_pk=other.pk,
            fields={"is_superuser": False},
        )
    assert Employee.objects.get(pk=other.pk).is_superuser
