import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.scopes import (
    CUSTOMER_MANAGE,
    CUSTOMER_READ,
    KNOWN_SCOPES,
    RESTRICTION_MANAGE,
    Grants,
    InvalidScope,
    Scope,
    parse_scope,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customer.customer_read", Scope(CUSTOMER_READ)),
        ("customer.customer_read--DE", Scope(CUSTOMER_READ, "DE")),
        ("restriction.restriction_manage--eu-west_1", Scope(RESTRICTION_MANAGE, "eu-west_1")),
    ],
)
def test_valid_scopes_parse(text, expected):
    assert parse_scope(text) == expected
    assert str(parse_scope(text)) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("customer.customer_read--", "empty restriction"),
        ("--DE", "no name"),
        ("customer.customer_read--DE--FR", "more than one"),
        ("a--b--c", "Unknown scope"),
        ("customer.customer_write", "Unknown scope"),
        ("customer.customer_read--D E", "invalid restriction"),
        ("customer.customer_read--DE-", "invalid restriction"),
        ("customer.customer_read--" + "X" * 65, "invalid restriction"),
        ("", "no name"),
    ],
)
def test_invalid_scopes_are_refused_with_a_reason(text, reason):
    with pytest.raises(InvalidScope, match=reason):
        parse_scope(text)


def test_unsuffixed_scope_covers_everything_including_null():
    grants = Grants.from_strings([CUSTOMER_READ])
    assert grants.readable().everything
    assert grants.readable().covers(None)
    assert grants.readable().covers("ANY")


def test_suffixed_scopes_cover_only_their_restrictions_and_never_null():
    grants = Grants.from_strings(["customer.customer_read--DE", "customer.customer_read--FR"])
    assert grants.readable().restrictions == {"DE", "FR"}
    assert grants.readable().covers("DE")
    assert not grants.readable().covers("US")
    assert not grants.readable().covers(None)


def test_union_wins_read_everything_manage_de():
    grants = Grants.from_strings([CUSTOMER_READ, "customer.customer_manage--DE"])
    assert grants.readable().everything
    assert grants.manageable().restrictions == {"DE"}
    assert not grants.manageable().covers("FR")


def test_manage_implies_read():
    grants = Grants.from_strings(["customer.customer_manage--FR"])
    assert grants.readable().restrictions == {"FR"}


def test_unknown_scopes_are_ignored_when_lenient():
    grants = Grants.from_strings(["foo.bar", "customer.customer_read--", CUSTOMER_READ + "--DE"])
    assert grants.readable().restrictions == {"DE"}


def test_single_restriction():
    assert (
        Grants.from_strings(["customer.customer_manage--DE"]).manageable().single_restriction
        == "DE"
    )
    assert Grants.from_strings([CUSTOMER_MANAGE]).manageable().single_restriction is None


restrictions = st.sampled_from(["DE", "FR", "US", "eu-1", "X_Y"])
bases = st.sampled_from(sorted(KNOWN_SCOPES))
scope_texts = st.builds(
    lambda base, restriction: base if restriction is None else f"{base}--{restriction}",
    bases,
    st.none() | restrictions,
)


@given(st.lists(scope_texts, max_size=8), st.lists(scope_texts, max_size=8))
def test_union_of_scope_lists_is_the_union_of_their_coverage(left, right):
    combined = Grants.from_strings(left + right)
    a, b = Grants.from_strings(left), Grants.from_strings(right)
    for name in KNOWN_SCOPES:
        assert combined._get(name) == a._get(name) | b._get(name)


@given(st.lists(scope_texts, max_size=8), st.none() | restrictions)
def test_coverage_follows_the_suffix_rules(texts, restriction):
    grants = Grants.from_strings(texts)
    for name in KNOWN_SCOPES:
        unsuffixed = name in texts
        suffixes = {t.split("--")[1] for t in texts if t.startswith(name + "--")}
        expected = unsuffixed or (restriction is not None and restriction in suffixes)
        assert grants._get(name).covers(restriction) == expected


@given(st.lists(scope_texts, max_size=8))
def test_scope_strings_round_trip(texts):
    grants = Grants.from_strings(texts)
    assert Grants.from_strings(grants.scope_strings()) == grants


@given(st.lists(scope_texts, max_size=6), st.lists(scope_texts, max_size=6))
def test_covers_grants_means_every_covered_value_is_held(held, wanted):
    held_grants, wanted_grants = Grants.from_strings(held), Grants.from_strings(wanted)
    if held_grants.covers_grants(wanted_grants):
        for name, coverage in wanted_grants.coverage.items():
            for value in [None, "DE", "FR", "US", "eu-1", "X_Y"]:
                if coverage.covers(value):
                    assert held_grants._get(name).covers(value)


@given(
    st.lists(scope_texts, max_size=8), st.lists(scope_texts, max_size=8), st.none() | restrictions
)
def test_intersection_covers_what_both_cover(left, right, restriction):
    a, b = Grants.from_strings(left), Grants.from_strings(right)
    both = a & b
    for name in KNOWN_SCOPES:
        assert both._get(name).covers(restriction) == (
            a._get(name).covers(restriction) and b._get(name).covers(restriction)
        )
