"""Identity and audit rows are reached tenant first and fail-closed: nobody sees nothing, a
principal without the right sees nothing, a tenant's administrator or auditor sees only their
own tenant's rows, the platform every tenant's."""

import pytest

from accounts.models import (
    AccessChange,
    AccessGroup,
    AccessRequest,
    AccessReview,
    AccessReviewLine,
    ApiClient,
    Employee,
    TemporaryGrant,
)
from accounts.principal import Principal
from tests.factories import (
    AccessGroupFactory,
    ApiClientFactory,
    EmployeeFactory,
    employee_holding,
    themselves,
)

pytestmark = pytest.mark.django_db

MODELS = [
    AccessChange,
    AccessGroup,
    AccessRequest,
    AccessReview,
    AccessReviewLine,
    ApiClient,
    Employee,
    TemporaryGrant,
]


def principal(tenant, *scopes):
    return Principal.for_employee(employee_holding(tenant, *scopes), tenant)


@pytest.mark.parametrize("model", MODELS)
def test_nobody_and_the_rightless_see_nothing(model, tenant):
    reader = principal(tenant, "customer.customer_read")
    de_auditor = principal(tenant, "audit.audit_read--DE")
    for rows in (
        model.objects.administered_by(None),
        model.objects.audited_by(None),
        model.objects.in_tenant_of(None),
        model.objects.administered_by(reader),
        model.objects.audited_by(de_auditor),
    ):
        assert rows.query.is_empty()  # (none(): whatever rows exist, none is read)


def test_each_tenant_sees_its_own_and_the_platform_all(tenant, other_tenant):
    mine = [EmployeeFactory(tenant=tenant), ApiClientFactory(tenant=tenant)]
    theirs = [EmployeeFactory(tenant=other_tenant), ApiClientFactory(tenant=other_tenant)]
    AccessGroupFactory(tenant=other_tenant)
    admin = principal(tenant, "tenant.tenant_manage")
    auditor = principal(tenant, "audit.audit_read")
    for model in (Employee, ApiClient, AccessGroup):
        for rows in (model.objects.administered_by(admin), model.objects.audited_by(auditor)):
            assert set(rows.values_list("tenant_id", flat=True)) <= {tenant.pk}
    assert {mine[1].pk} == set(
        ApiClient.objects.administered_by(admin).values_list("pk", flat=True)
    )
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    platform = Principal.platform(root)
    every = set(ApiClient.objects.administered_by(platform).values_list("pk", flat=True))
    assert {mine[1].pk, theirs[1].pk} <= every


def test_requests_a_non_administrator_sees_are_their_own(tenant):
    from datetime import timedelta

    from accounts.services.temporary_access import access_request_create
    from core.channels import Channel

    group = AccessGroupFactory(tenant=tenant)
    asker, other = EmployeeFactory(tenant=tenant), EmployeeFactory(tenant=tenant)
    for employee in (asker, other):
        access_request_create(
            actor=themselves(employee),
            channel=Channel.ADMIN,
            group=group,
            duration=timedelta(hours=1),
            reason="month end",
        )
    seen = AccessRequest.objects.visible_to(Principal.for_employee(asker, tenant), asker.pk)
    assert [request.requester for request in seen] == [asker]
    admin = principal(tenant, "tenant.tenant_manage")
    assert AccessRequest.objects.visible_to(admin, None).count() == 2
    assert AccessRequest.objects.visible_to(None, asker.pk).count() == 0
