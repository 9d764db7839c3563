"""One guarded base owns every admin page's read paths: a subclass that overrides them (or
widens the scope) fails at class creation, and a walk over every registered page finds none
outside it."""

import pytest
from django.contrib import admin

from core.admin import GuardedAdmin
from customers.admin.base import RestrictionAwareModelAdmin

# Pages of the libraries we use, not ours: Django's own model permissions guard them, which no
# employee of a tenant holds (only platform superusers see them).
LIBRARY_PAGES = {"django_tasks_database", "axes"}


def scope_bases():
    from accounts.admin import AccessRequestAdmin, TenantAdministrationAdmin
    from customers.admin.jobs import JobAdmin
    from customers.admin.tenants import SuperuserOnlyAdmin

    return [
        RestrictionAwareModelAdmin,
        TenantAdministrationAdmin,
        AccessRequestAdmin,
        JobAdmin,
        SuperuserOnlyAdmin,
    ]


@pytest.mark.parametrize("method", ["get_queryset", "get_object", "get_search_results"])
def test_overriding_a_read_path_is_refused(method):
    with pytest.raises(TypeError, match=f"must not override {method}"):
        type("LeakyAdmin", (RestrictionAwareModelAdmin,), {method: lambda self, *a: None})


def test_a_subclass_that_narrows_is_accepted():
    class NarrowingAdmin(RestrictionAwareModelAdmin):
        def narrow_queryset(self, request, queryset):
            return queryset.filter(active=True)

    assert NarrowingAdmin.get_queryset is GuardedAdmin.get_queryset


@pytest.mark.parametrize("method", ["get_queryset", "get_object", "scoped_queryset"])
def test_no_page_redefines_or_widens_its_scope(method):
    for base in scope_bases():
        with pytest.raises(TypeError, match=f"must not override {method}"):
            type("LeakyAdmin", (base,), {method: lambda self, *a: None})


def test_a_guarded_page_without_a_scope_base_shows_nothing(rf, tenant):
    from accounts.models import AccessGroup
    from tests.factories import AccessGroupFactory

    AccessGroupFactory(tenant=tenant)

    class Unscoped(GuardedAdmin):
        pass

    page = Unscoped(AccessGroup, admin.site)
    assert not page.get_queryset(rf.get("/")).exists()


def test_every_registered_page_of_ours_is_guarded():
    ours = {
        model.__name__: type(page)
        for model, page in admin.site._registry.items()
        if model._meta.app_label not in LIBRARY_PAGES
    }
    assert {"Customer", "Employee", "AccessRequest", "Job", "Tenant"} <= ours.keys()
    unguarded = sorted(name for name, page in ours.items() if not issubclass(page, GuardedAdmin))
    assert not unguarded, f"admin pages outside GuardedAdmin: {unguarded}"
    libraries = {m._meta.app_label for m in admin.site._registry} - {
        m._meta.app_label for m in admin.site._registry if m.__name__ in ours
    }
    assert libraries <= LIBRARY_PAGES


@pytest.mark.django_db
def test_library_pages_refuse_a_tenant_administrator(client, tenant):
    from tests.factories import employee_holding

    administrator = employee_holding(tenant, "tenant.tenant_manage", "customer.customer_manage")
    client.force_login(administrator)
    for model, _page in admin.site._registry.items():
        if model._meta.app_label in LIBRARY_PAGES:
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            assert client.get(url).status_code == 403, url
