"""The admin base owns the read paths: a subclass that overrides them fails at class creation,
so a new admin cannot bypass the restriction filter by accident."""

import pytest

from customers.admin.base import RestrictionAwareModelAdmin


@pytest.mark.parametrize("method", ["get_queryset", "get_object", "get_search_results"])
def test_overriding_a_read_path_is_refused(method):
    with pytest.raises(TypeError, match=f"must not override {method}"):
        type("LeakyAdmin", (RestrictionAwareModelAdmin,), {method: lambda self, *a: None})


def test_a_subclass_that_narrows_is_accepted():
    class NarrowingAdmin(RestrictionAwareModelAdmin):
        def narrow_queryset(self, request, queryset):
            return queryset.filter(active=True)

    assert NarrowingAdmin.get_queryset is RestrictionAwareModelAdmin.get_queryset


@pytest.mark.parametrize("method", ["get_queryset", "get_object"])
def test_identity_and_job_admins_own_their_queryset_too(method):
    from accounts.admin import TenantAdministrationAdmin
    from customers.admin.jobs import JobAdmin

    for base in (TenantAdministrationAdmin, JobAdmin):
        with pytest.raises(TypeError, match=f"must not override {method}"):
            type("LeakyAdmin", (base,), {method: lambda self, *a: None})
