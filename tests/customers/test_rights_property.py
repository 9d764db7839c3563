"""One rule in one place: for any grants, the object-level answers (``Grants.may_read``,
``may_manage``, ``may_assign``) say exactly what the enforcing querysets (``visible_to``,
``manageable_by``, ``assignable_by``) return for that customer, in the principal's tenant and
in another one (never)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.principal import EMPLOYEE, Principal
from accounts.scopes import CUSTOMER_MANAGE, CUSTOMER_READ, RESTRICTION_MANAGE, Grants
from customers.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

VALUES = ["DE", "FR", "US"]
RIGHTS = [
    ("may_read", Customer.objects.visible_to),
    ("may_manage", Customer.objects.manageable_by),
    ("may_assign", Customer.objects.assignable_by),
]

# A scope string: one of the three customer rights, unsuffixed or for one value (also values
# that no customer carries).
scope_strings = st.builds(
    lambda base, suffix: base if suffix is None else f"{base}--{suffix}",
    st.sampled_from([CUSTOMER_READ, CUSTOMER_MANAGE, RESTRICTION_MANAGE]),
    st.none() | st.sampled_from([*VALUES, "IT"]),
)


@pytest.fixture
def customers(tenant, other_tenant):
    """One customer per value and one without, in the tenant; one DE customer elsewhere."""
    here = [CustomerFactory(tenant=tenant, restriction=value) for value in [*VALUES, None]]
    elsewhere = [CustomerFactory(tenant=other_tenant, restriction="DE")]
    return here, elsewhere


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scopes=st.lists(scope_strings, max_size=6))
def test_object_answers_equal_the_querysets(tenant, customers, scopes):
    here, elsewhere = customers
    grants = Grants.from_strings(scopes)
    principal = Principal(tenant.pk, tenant.code, grants, EMPLOYEE, "1", "probe")
    for method, enforcing in RIGHTS:
        returned = set(enforcing(principal).values_list("pk", flat=True))
        for customer in here:
            answer = getattr(grants, method)(customer.restriction)
            assert (customer.pk in returned) == answer, (method, scopes, customer.restriction)
        assert not returned & {customer.pk for customer in elsewhere}


def covered(scopes: list[str], bases: set[str], value: str | None) -> bool:
    """Written out from the rule, independently of Coverage: an unsuffixed scope of one of
    ``bases`` covers every value (null included); a suffixed one covers exactly its value."""
    for scope in scopes:
        base, _, suffix = scope.partition("--")
        if base in bases and (not suffix or suffix == value):
            return True
    return False


@given(scopes=st.lists(scope_strings, max_size=6), value=st.none() | st.sampled_from(VALUES))
def test_the_answers_follow_the_rule(scopes, value):
    grants = Grants.from_strings(scopes)
    assert grants.may_read(value) == covered(scopes, {CUSTOMER_READ, CUSTOMER_MANAGE}, value)
    assert grants.may_manage(value) == covered(scopes, {CUSTOMER_MANAGE}, value)
    assert grants.may_assign(value) == (
        covered(scopes, {CUSTOMER_MANAGE}, value) and covered(scopes, {RESTRICTION_MANAGE}, value)
    )
