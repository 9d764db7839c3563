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


# -- restriction trees --------------------------------------------------------------------------

TREE_VALUES = ["EU", "DE", "FR", "US", "BY"]


@st.composite
def trees(draw):
    """Random valid trees over TREE_VALUES: each value's parent is none or an earlier value."""
    order = draw(st.permutations(TREE_VALUES))
    return {
        value: draw(st.none() | st.sampled_from(order[:index])) if index else None
        for index, value in enumerate(order)
    }


def ancestors_or_self(parents: dict, value: str) -> set[str]:
    """Written out from the rule: the value and every value above it."""
    found, current = set(), value
    while current is not None:
        found.add(current)
        current = parents[current]
    return found


def covered_in_tree(scopes, bases, value, parents) -> bool:
    """A suffix covers its value and everything below it: a scope of ``bases`` covers
    ``value`` when unsuffixed, or when its suffix is the value or above it."""
    for scope in scopes:
        base, _, suffix = scope.partition("--")
        if base not in bases:
            continue
        if not suffix or (value is not None and suffix in ancestors_or_self(parents, value)):
            return True
    return False


tree_scope_strings = st.builds(
    lambda base, suffix: base if suffix is None else f"{base}--{suffix}",
    st.sampled_from([CUSTOMER_READ, CUSTOMER_MANAGE, RESTRICTION_MANAGE]),
    st.none() | st.sampled_from(TREE_VALUES),
)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parents=trees(),
    scopes=st.lists(tree_scope_strings, max_size=5),
    explained=st.sampled_from([*TREE_VALUES, None]),
)
def test_in_a_tree_the_filter_the_answers_and_the_rule_agree(tenant, parents, scopes, explained):
    """For random trees and grants: the querysets (as a principal built the usual way gets
    them), the object-level answers and the rule written out independently agree."""
    from accounts.principal import in_tree
    from tenancy import tree
    from tenancy.models import Restriction
    from tenancy.services import tree_changed

    Customer.objects.filter(tenant=tenant).delete()
    Restriction.objects.filter(tenant=tenant).update(parent=None)
    Restriction.objects.filter(tenant=tenant).delete()
    rows = {v: Restriction.objects.create(tenant=tenant, code=v) for v in TREE_VALUES}
    for value, parent in parents.items():
        if parent is not None:
            Restriction.objects.filter(pk=rows[value].pk).update(parent=rows[parent])
    tree_changed(tenant.pk)
    tenant.refresh_from_db()
    here = [CustomerFactory(tenant=tenant, restriction=v) for v in [*TREE_VALUES, None]]

    grants = in_tree(Grants.from_strings(scopes), tenant)
    assert tree.below(parents)  # (a valid tree)
    principal = Principal(tenant.pk, tenant.code, grants, EMPLOYEE, "1", "probe")
    rule = {
        "may_read": {CUSTOMER_READ, CUSTOMER_MANAGE},
        "may_manage": {CUSTOMER_MANAGE},
    }
    policy = _policy_reads(principal, tenant)
    for method, enforcing in RIGHTS:
        returned = set(enforcing(principal).values_list("pk", flat=True))
        if method == "may_read" and policy is not None:
            # PostgreSQL's row security, fed the same expanded grants, reads the same rows.
            assert policy == returned, (scopes, parents)
        for customer in here:
            answer = getattr(grants, method)(customer.restriction)
            assert (customer.pk in returned) == answer, (method, scopes, parents)
            if method in rule:
                expected = covered_in_tree(scopes, rule[method], customer.restriction, parents)
            else:
                expected = covered_in_tree(
                    scopes, {CUSTOMER_MANAGE}, customer.restriction, parents
                ) and covered_in_tree(scopes, {RESTRICTION_MANAGE}, customer.restriction, parents)
            assert answer == expected, (method, scopes, parents, customer.restriction)
    # The explainer, asked about one of them for an API client holding the scopes, agrees.
    from customers.access import explain_access
    from tests.factories import ApiClientFactory

    client = ApiClientFactory(tenant=tenant, scopes=scopes)
    customer = next(c for c in here if c.restriction == explained)
    verdicts = explain_access(identity=client, tenant=tenant, customer=customer).verdicts
    assert [v.allowed for v in verdicts] == [
        grants.may_read(explained),
        grants.may_manage(explained),
        grants.may_assign(explained),
    ], (scopes, parents, explained)


def _policy_reads(principal, tenant) -> set[int] | None:
    """The tenant's rows an unscoped query reads under the principal's row-security context
    (PostgreSQL, as the service role); None on SQLite, which has no policies."""
    from django.db import connection

    from accounts import rowsecurity

    if connection.vendor != "postgresql":
        return None
    with rowsecurity.row_context(rowsecurity.RowContext.of(principal)):
        return set(Customer.objects.filter(tenant=tenant).values_list("pk", flat=True))
