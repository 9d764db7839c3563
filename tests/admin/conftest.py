import pytest

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
