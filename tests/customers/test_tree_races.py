"""Two saves of a tenant's tree at once never leave a cycle, and no tree walk can loop.

Reported: two platform superusers saving DE under FR and FR under DE at the same moment both
succeeded, and every request of the tenant then looped forever in the tree code."""

import re
import threading

import psycopg
import pytest
from django.db import IntegrityError, connection
from psycopg.conninfo import make_conninfo

from customers.admin.tenants import TenantAdmin
from tenancy import tree
from tenancy.models import Restriction
from tests.factories import EmployeeFactory, TenantFactory
from tests.forms import tenant_settings

FLAT = {"DE": None, "FR": None, "US": None}


def tenant_form(tenant, parents):
    rows = list(Restriction.objects.filter(tenant=tenant).order_by("pk"))
    by_code = {row.code: row for row in rows}
    data = {
        **tenant_settings(tenant),
        "restrictions-TOTAL_FORMS": str(len(rows)),
        "restrictions-INITIAL_FORMS": str(len(rows)),
        "sites-TOTAL_FORMS": "0",
        "sites-INITIAL_FORMS": "0",
    }
    for i, row in enumerate(rows):
        parent = parents.get(row.code)
        data[f"restrictions-{i}-id"] = row.pk
        data[f"restrictions-{i}-tenant"] = tenant.pk
        data[f"restrictions-{i}-code"] = row.code
        data[f"restrictions-{i}-parent"] = by_code[parent].pk if parent else ""
    return data


def set_parent(tenant, code, parent_code):
    parent = Restriction.objects.get(tenant=tenant, code=parent_code) if parent_code else None
    Restriction.objects.filter(tenant=tenant, code=code).update(parent=parent)


@pytest.mark.django_db
def test_a_tree_save_validated_before_another_committed_is_refused(client, monkeypatch):
    tenant = TenantFactory(code="race", restrictions=list(FLAT))
    client.force_login(EmployeeFactory(tenant=None, is_superuser=True))
    # The other superuser's save (DE under FR) lands after this page validated its form (FR
    # under DE, valid in the tree it saw) and before it saves: the interleaving of the report.
    save_formset = TenantAdmin.save_formset

    def after_the_other_save(self, request, form, formset, change):
        if formset.model is Restriction:
            set_parent(tenant, "DE", "FR")
        return save_formset(self, request, form, formset, change)

    monkeypatch.setattr(TenantAdmin, "save_formset", after_the_other_save)
    data = {**tenant_form(tenant, {"FR": "DE"}), "confirm_tree_change": "on"}
    page = client.post(f"/admin/tenancy/tenant/{tenant.pk}/change/", data)
    assert page.status_code == 200
    errors = re.findall(r"errorlist[^>]*><li>([^<]*)", page.content.decode())
    assert any("The restriction tree changed while you edited it" in e for e in errors), errors
    stored = dict(Restriction.objects.filter(tenant=tenant).values_list("code", "parent__code"))
    assert stored["FR"] is None  # nothing of this save was kept


def test_a_corrupted_tree_never_loops_and_covers_each_value_alone():
    parents = {"DE": "FR", "FR": "DE", "US": None}
    assert tree.below(parents) == {v: frozenset({v}) for v in parents}
    assert tree.path_to(parents, "DE", "US") is None
    assert tree.path_to(parents, "DE", "FR") == ["FR", "DE"]


def _dsn() -> str:
    settings = connection.settings_dict
    given = {
        "host": settings["HOST"],
        "port": settings["PORT"],
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
    }
    return make_conninfo(**{key: value for key, value in given.items() if value})


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_cycle_from_two_concurrent_transactions():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the trigger under test is PostgreSQL's")
    tenant = TenantFactory(code="race", restrictions=list(FLAT))
    ids = dict(Restriction.objects.filter(tenant=tenant).values_list("code", "pk"))
    first, second = psycopg.connect(_dsn()), psycopg.connect(_dsn())
    try:
        first.execute(
            "UPDATE tenancy_restriction SET parent_id = %s WHERE id = %s", [ids["FR"], ids["DE"]]
        )
        second.execute(
            "UPDATE tenancy_restriction SET parent_id = %s WHERE id = %s", [ids["DE"], ids["FR"]]
        )
        outcome = {}

        def commit_second():
            try:
                second.commit()
                outcome["second"] = "committed"
            except psycopg.errors.CheckViolation as exc:
                outcome["second"] = str(exc)

        # The second commit's check waits for the first's lock on the tenant, then sees it.
        thread = threading.Thread(target=commit_second)
        first.execute("SELECT 1 FROM tenancy_tenant WHERE id = %s FOR UPDATE", [tenant.pk])
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), "the second commit did not wait for the first"
        first.commit()
        thread.join(timeout=30)
        assert "form a cycle" in outcome["second"]
    finally:
        first.close()
        second.close()
    stored = dict(Restriction.objects.filter(tenant=tenant).values_list("code", "parent__code"))
    assert stored == {**FLAT, "DE": "FR"}
    with pytest.raises(IntegrityError, match="form a cycle"), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tenancy_restriction SET parent_id = %s WHERE id = %s",
            [ids["DE"], ids["DE"]],
        )


@pytest.mark.django_db(transaction=True)
def test_a_statement_committed_alone_answers_a_refusal_at_its_commit_as_djangos_error(
    settings,
):
    """Outside a transaction, a statement under a standing context on a distributed database
    runs in a transaction of its own (the binding first): the deferred check that refuses it
    at that commit is Django's ``IntegrityError``, like any refusal (plain PostgreSQL here,
    binding as on Citus)."""
    if connection.vendor != "postgresql":
        pytest.skip("the standing context and the trigger under test are PostgreSQL's")
    settings.DATABASE_DISTRIBUTED = True
    tenant = TenantFactory(code="alone", restrictions=list(FLAT))
    de = Restriction.objects.get(tenant=tenant, code="DE")
    with pytest.raises(IntegrityError, match="form a cycle"), connection.cursor() as cursor:
        cursor.execute("UPDATE tenancy_restriction SET parent_id = id WHERE id = %s", [de.pk])
    assert Restriction.objects.get(pk=de.pk).parent_id is None
