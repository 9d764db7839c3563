"""JSON merge patch (RFC 7396), as PATCH applies it to mixins at every depth."""

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.mergepatch import merge_patch

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)
objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": None, "z": 3}}, {"a": {"x": 1, "z": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),  # arrays are replaced, never merged
        ({"a": 1}, {"a": {"b": None}}, {"a": {}}),
        ({"a": {"b": 1}}, {"a": 5}, {"a": 5}),
        ({}, {"a": {"b": {"c": None}}}, {"a": {"b": {}}}),
        ({"a": 1}, [1], [1]),
        ({"a": 1}, {}, {"a": 1}),
    ],
)
def test_rfc_7396_cases(target, patch, result):
    assert merge_patch(target, patch) == result


@given(objects, objects)
def test_an_object_patch_sets_removes_merges_and_keeps(target, patch):
    before = (copy.deepcopy(target), copy.deepcopy(patch))
    result = merge_patch(target, patch)
    assert (target, patch) == before  # neither argument is modified
    for key, value in patch.items():
        if value is None:
            assert key not in result
        elif isinstance(value, dict):
            assert result[key] == merge_patch(target.get(key), value)
        else:
            assert result[key] == value
    for key in set(target) - set(patch):
        assert result[key] == target[key]
    assert set(result) <= set(target) | set(patch)


@given(objects, objects)
def test_applying_a_patch_twice_changes_nothing_more(target, patch):
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
