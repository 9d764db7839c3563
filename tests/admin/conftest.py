import pytest

from tests.factories import AccessGroupFactory, EmployeeFactory


@pytest.fixture
def employee(tenant):
    """``employee("name", (scopes, restrictions), ...)``: a staff employee of ``acme``."""

    def make(username, *groups, is_staff=True, on_tenant=None):
        target = on_tenant or tenant
        access_groups = [
            AccessGroupFactory(tenant=target, scopes=list(scopes), restrictions=list(restrictions))
            for scopes, restrictions in groups
        ]
        return EmployeeFactory(
            tenant=target, username=username, is_staff=is_staff, access_groups=access_groups
        )

    return make


READ_MANAGE = ["customer.customer_read", "customer.customer_manage"]


@pytest.fixture
def de_agent(employee):
    return employee("de_agent", (READ_MANAGE, ["DE"]))


@pytest.fixture
def de_restriction_agent(employee):
    return employee("de_boss", (READ_MANAGE, ["DE"]), (["restriction.restriction_manage"], ["DE"]))


@pytest.fixture
def restriction_manager(employee):
    return employee("mover", ([*READ_MANAGE, "restriction.restriction_manage"], []))


@pytest.fixture
def tenant_admin(employee):
    return employee("tadmin", (["customer.customer_read", "tenant.tenant_manage"], []))
