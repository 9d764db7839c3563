"""One answer to "what does this identity hold now", whoever asks.

For random standing groups, client scopes and temporary grants whose windows have passed, are
open or start later, in a tenant with a restriction tree, these all say the same:

- the token's principal (the request's lookup, its SQL written by hand);
- the back office's principal (``Principal.for_employee`` / ``for_api_client``);
- the holdings module (``accounts.holdings``), which the identity services read;
- "who may see it" (read, manage, change restriction for every value and for none);
- the access review's snapshot (the lines whose window is open now).
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import holdings
from accounts.api.authentication import principal_from_claims
from accounts.models import AccessGroup, AccessReviewLine, TemporaryGrant
from accounts.principal import Principal, in_tree
from accounts.scopes import (
    CUSTOMER_MANAGE,
    CUSTOMER_READ,
    RESTRICTION_MANAGE,
    SUFFIX_SEPARATOR,
    Grants,
)
from accounts.services.reviews import access_review_start
from accounts.tokens import issue_token, verify_token
from core.channels import Channel
from customers.access import who_has_access
from tenancy.models import Restriction
from tenancy.services import tree_changed
from tests.factories import ApiClientFactory, EmployeeFactory, TenantFactory

pytestmark = pytest.mark.django_db

VALUES = ["EU", "DE", "FR", "US"]  # DE and FR below EU
BASES = [CUSTOMER_READ, CUSTOMER_MANAGE, RESTRICTION_MANAGE]
WINDOWS = {
    "past": (timedelta(hours=-3), timedelta(hours=-1)),
    "now": (timedelta(hours=-1), timedelta(hours=1)),
    "later": (timedelta(hours=1), timedelta(hours=3)),
}

groups = st.tuples(
    st.lists(st.sampled_from(BASES), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(VALUES), max_size=2, unique=True),
)
scope_strings = st.builds(
    lambda base, suffix: base if suffix is None else f"{base}{SUFFIX_SEPARATOR}{suffix}",
    st.sampled_from(BASES),
    st.none() | st.sampled_from(VALUES),
)
windows = st.sampled_from(sorted(WINDOWS))


@pytest.fixture
def euro():
    tenant = TenantFactory(code="prop", restrictions=VALUES)
    eu = Restriction.objects.get(tenant=tenant, code="EU")
    Restriction.objects.filter(tenant=tenant, code__in=["DE", "FR"]).update(parent=eu)
    tree_changed(tenant.pk)
    tenant.refresh_from_db()
    return tenant


def token_principal(subject: str, identity, tenant) -> Principal:
    everything = Grants.everything().scope_strings()
    token = issue_token(
        subject=subject,
        tenant_code=tenant.code,
        scopes=everything,
        generation=identity.token_generation,
    )
    return principal_from_claims(verify_token(token.access_token))


def snapshot(tenant, subject_name: str) -> Grants:
    """What the review's lines of one identity hold now."""
    review = access_review_start(
        actor=Principal.operator(tenant), channel=Channel.COMMAND, tenant=tenant, reviewers=[]
    )
    now = timezone.now()
    held = []
    for line in AccessReviewLine.objects.filter(review=review, subject_name=subject_name):
        if line.valid_until is not None and not (line.valid_from <= now < line.valid_until):
            continue
        if line.holding == AccessReviewLine.Holding.GROUP and line.restrictions:
            held += [f"{s}{SUFFIX_SEPARATOR}{r}" for s in line.scopes for r in line.restrictions]
        else:
            held += line.scopes
    return in_tree(Grants.from_strings(held), tenant)


def window(kind: str) -> dict:
    start, end = WINDOWS[kind]
    now = timezone.now()
    return {"valid_from": now + start, "valid_until": now + end}


def the_same(*answers: Grants) -> bool:
    return len({tuple(answer.scope_strings()) for answer in answers}) == 1


def explained_like(tenant, name: str, grants: Grants) -> None:
    for value in [*VALUES, None]:
        [answer] = [a for a in who_has_access(tenant=tenant, restriction=value) if a.name == name]
        assert (answer.read, answer.manage, answer.assign) == (
            grants.may_read(value),
            grants.may_manage(value),
            grants.may_assign(value),
        ), value


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    standing=st.lists(groups, max_size=3),
    temporary_groups=st.lists(st.tuples(groups, windows), max_size=2),
    temporary_scopes=st.lists(st.tuples(scope_strings, windows), max_size=2),
)
def test_an_employee_holds_the_same_whoever_asks(
    euro, standing, temporary_groups, temporary_scopes
):
    with transaction.atomic():
        made = [
            AccessGroup.objects.create(tenant=euro, name=f"g{i}", scopes=s, restrictions=r)
            for i, (s, r) in enumerate(standing)
        ]
        employee = EmployeeFactory(tenant=euro, username="probe", access_groups=made)
        for i, ((scopes, restrictions), kind) in enumerate(temporary_groups):
            group = AccessGroup.objects.create(
                tenant=euro, name=f"t{i}", scopes=scopes, restrictions=restrictions
            )
            TemporaryGrant.objects.create(
                tenant=euro, employee=employee, group=group, granted_by_kind="operator",
                granted_by_id="test", **window(kind),
            )  # fmt: skip
        for scope, kind in temporary_scopes:
            TemporaryGrant.objects.create(
                tenant=euro, employee=employee, scope=scope, granted_by_kind="operator",
                granted_by_id="test", **window(kind),
            )  # fmt: skip

        token = token_principal(f"employee:{employee.pk}", employee, euro).grants
        session = Principal.for_employee(employee, euro).grants
        held = in_tree(holdings.of_employee(employee).at(), euro)
        assert the_same(token, session, held, snapshot(euro, "probe"))
        explained_like(euro, "probe", session)
        transaction.set_rollback(True)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scopes=st.lists(scope_strings, max_size=4, unique=True),
    temporary=st.lists(st.tuples(scope_strings, windows), max_size=3),
)
def test_an_api_client_holds_the_same_whoever_asks(euro, scopes, temporary):
    with transaction.atomic():
        client = ApiClientFactory(tenant=euro, name="probe", scopes=scopes)
        for scope, kind in temporary:
            TemporaryGrant.objects.create(
                tenant=euro, api_client=client, scope=scope, granted_by_kind="operator",
                granted_by_id="test", **window(kind),
            )  # fmt: skip

        token = token_principal(f"client:{client.client_id}", client, euro).grants
        session = Principal.for_api_client(client).grants
        held = in_tree(holdings.of_api_client(client).at(), euro)
        assert the_same(token, session, held, snapshot(euro, "probe"))
        explained_like(euro, f"probe ({client.client_id})", session)
        transaction.set_rollback(True)
