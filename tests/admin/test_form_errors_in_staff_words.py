"""Every back-office form refuses in staff words: no database constraint name, no column name,
whatever is submitted (empty, or an impossible combination)."""

import re

import pytest
from django.contrib import admin

from tests.factories import AccessGroupFactory, EmployeeFactory, employee_holding

pytestmark = pytest.mark.django_db
DATABASE_WORDS = re.compile(r"Constraint|constraint “|_id\b|violat", re.IGNORECASE)


def errors(page) -> list[str]:
    return re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', page.content.decode(), re.S)


def test_every_add_form_submitted_empty_speaks_staff_words(client, tenant):
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    client.force_login(root)
    checked = 0
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/add/"
        page = client.post(url, {})
        if page.status_code != 200:
            continue  # (read-only pages refuse adding; libraries' pages are not ours)
        checked += 1
        for error in errors(page):
            assert not DATABASE_WORDS.search(error), (url, error)
    assert checked >= 5


def test_asking_for_a_group_and_a_scope_at_once_is_refused_in_words(client, tenant):
    group = AccessGroupFactory(tenant=tenant, name="FR readers", restrictions=["FR"])
    client.force_login(employee_holding(tenant, "customer.customer_read--DE"))
    page = client.post(
        "/admin/accounts/accessrequest/add/",
        {"group": group.pk, "scope": "customer.customer_read--FR", "hours": "4", "reason": "x"},
    )
    assert page.status_code == 200
    shown = " ".join(errors(page))
    assert "Ask for either an access group or one scope" in shown
    assert not DATABASE_WORDS.search(shown), shown


def test_the_request_form_says_what_each_group_grants(client, tenant):
    AccessGroupFactory(
        tenant=tenant, name="incident", scopes=["customer.customer_read"], restrictions=["US"],
        break_glass=True,
    )  # fmt: skip
    client.force_login(employee_holding(tenant, "customer.customer_read--DE"))
    page = client.get("/admin/accounts/accessrequest/add/").content.decode()
    assert (
        "incident: customer.customer_read for US · emergency self-activation (break-glass)" in page
    )
