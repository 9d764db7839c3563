"""Changelist lookups are an allowlist: only what a page's own filters and date hierarchy put
into its URL. Django accepts a lookup on any local field by default, which let a customer
reader learn stored password hashes character by character from the login-account changelist
and run any regular expression on the customer changelist."""

import pytest
from django.contrib import admin
from django.urls import reverse

from core.admin import ScopedAdminMixin
from customers.passwords import PREFIX as EMPORIX_HASHER_PREFIX
from tests.factories import AccountFactory, CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db

PROBES = ("startswith", "regex", "gt")


def project_admins():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, ScopedAdminMixin)
    ]


def probed_lookups(model):
    for field in model._meta.get_fields():
        if not field.concrete or field.many_to_many:
            continue
        for probe in PROBES:
            yield f"{field.name}__{probe}"
    yield "legacy_auth__hash__startswith"  # a key inside a JSON column
    yield "tenant__code__startswith"  # across a relation


def test_every_project_admin_is_walked():
    names = {model._meta.model_name for model, _ in project_admins()}
    assert {"customer", "account", "employee", "apiclient", "accessgroup", "job"} <= names


@pytest.mark.parametrize(
    ("model", "model_admin"),
    project_admins(),
    ids=[model.__name__ for model, _ in project_admins()],
)
def test_no_changelist_answers_a_lookup_its_filters_do_not_make(client, tenant, model, model_admin):
    # The most powerful user: what they may not ask, nobody may.
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True, username="root"))
    changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert client.get(changelist).status_code == 200
    answered = {
        lookup: status
        for lookup in probed_lookups(model)
        if (status := client.get(changelist, {lookup: "a"}).status_code) != 400
    }
    assert answered == {}, f"{model.__name__}: lookups answered other than 400: {answered}"


def test_a_customer_reader_learns_nothing_of_stored_password_hashes(client, employee, tenant):
    customer = CustomerFactory(tenant=tenant, restriction="DE")
    account = AccountFactory(customer=customer)
    account.password = f"{EMPORIX_HASHER_PREFIX}$1000$salt$key"
    account.legacy_auth = {"algorithm": "md5", "hash": "5f4dcc3b"}
    account.save()
    client.force_login(employee("reader", (["customer.customer_read"], [])))
    page = reverse("admin:customers_account_changelist")
    assert account.email in client.get(page).content.decode()
    for lookup, prefix in (
        ("password__startswith", EMPORIX_HASHER_PREFIX),
        ("password__startswith", "zzz"),
        ("legacy_auth__hash__startswith", "5f"),
        ("password__regex", "^e"),
    ):
        response = client.get(page, {lookup: prefix})
        assert response.status_code == 400, lookup
        assert account.email not in response.content.decode()


def test_the_pages_own_filters_and_hierarchy_still_work(client, tenant, employee):
    CustomerFactory(tenant=tenant, restriction="DE", active=False, customer_number="SLEEPY")
    client.force_login(employee("reader", (["customer.customer_read"], [])))
    customers = reverse("admin:customers_customer_changelist")
    response = client.get(customers, {"active__exact": "0", "restriction": "DE"})
    assert response.status_code == 200
    assert "SLEEPY" in response.content.decode()
    history = reverse("admin:customers_restrictionchange_changelist")
    assert (
        client.get(history, {"changed_at__year": "2026", "channel__exact": "api"}).status_code
        == 200
    )
    assert client.get(history, {"changed_at__year": "2026"}).status_code == 200
    assert client.get(customers, {"last_name__regex": "^(a+)+$"}).status_code == 400
