"""The admin base owns the read paths: a subclass that overrides them fails at class creation,
so a new admin cannot bypass the restriction filter by accident."""

import pytest

from customers.admin.base import RestrictionAwareModelAdmin
from customers.models import Customer


@pytest.mark.parametrize("method", ["get_queryset", "get_object", "get_search_results"])
def test_overriding_a_read_path_is_refused(method):
    with pytest.raises(TypeError, match=f"must not override {method}"):
        type("LeakyAdmin", (RestrictionAwareModelAdmin,), {method: lambda self, *a: None})


def test_a_subclass_that_gives_scoped_queryset_is_accepted():
    class ScopedAdmin(RestrictionAwareModelAdmin):
        def scoped_queryset(self, request, principal):
            return Customer.objects.visible_to(principal)

    assert ScopedAdmin.get_queryset is RestrictionAwareModelAdmin.get_queryset
