"""The access explainer: every rule outcome, the same verdicts as enforcement, and no customer
revealed that the asking administrator could not see."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.access import explain_access
from tests.factories import AccessGroupFactory, ApiClientFactory, EmployeeFactory

pytestmark = pytest.mark.django_db
EXPLAIN = "/admin/customers/customer/explain-access/"


@pytest.fixture
def staff(tenant):
    def make(username, *groups, **fields):
        access_groups = [
            AccessGroupFactory(tenant=tenant, name=name, scopes=scopes, restrictions=restrictions)
            for name, scopes, restrictions in groups
        ]
        return EmployeeFactory(
            tenant=tenant, username=username, access_groups=access_groups, **fields
        )

    return make


def answers(explanation):
    return {verdict.right: verdict.allowed for verdict in explanation.verdicts}


def reasons(explanation, right):
    return " | ".join(next(v for v in explanation.verdicts if v.right == right).reasons)


def test_unsuffixed_read_covers_every_customer_and_names_the_group(world, tenant, staff):
    reader = staff("reader", ("readers", ["customer.customer_read"], []))
    for key in ("DE1", "NULL1"):
        explanation = explain_access(identity=reader, tenant=tenant, customer=world[key])
        assert answers(explanation) == {"read": True, "manage": False, "assign": False}
        assert "access group “readers” (customer.customer_read)" in reasons(explanation, "read")


def test_suffixed_scopes_cover_only_their_values_and_never_null(world, tenant, staff):
    de = staff("de", ("de-team", ["customer.customer_read", "customer.customer_manage"], ["DE"]))
    assert answers(explain_access(identity=de, tenant=tenant, customer=world["DE1"])) == {
        "read": True,
        "manage": True,
        "assign": False,
    }
    fr = explain_access(identity=de, tenant=tenant, customer=world["FR1"])
    assert answers(fr) == {"read": False, "manage": False, "assign": False}
    assert "no customer.customer_manage covers FR" in reasons(fr, "manage")
    null = explain_access(identity=de, tenant=tenant, customer=world["NULL1"])
    assert not any(answers(null).values())
    assert "covered only by scopes without a suffix" in reasons(null, "read")


def test_the_union_wins_read_everything_manage_de(world, tenant, staff):
    mixed = staff(
        "mixed",
        ("readers", ["customer.customer_read"], []),
        ("de-managers", ["customer.customer_manage"], ["DE"]),
    )
    assert answers(explain_access(identity=mixed, tenant=tenant, customer=world["FR1"])) == {
        "read": True,
        "manage": False,
        "assign": False,
    }
    de = explain_access(identity=mixed, tenant=tenant, customer=world["DE1"])
    assert answers(de)["manage"] is True
    assert "“de-managers”" in reasons(de, "manage")


def test_changing_the_restriction_needs_manage_and_restriction_manage(world, tenant, staff):
    only_rm = staff("only-rm", ("movers", ["restriction.restriction_manage"], ["DE"]))
    explanation = explain_access(identity=only_rm, tenant=tenant, customer=world["DE1"])
    assert answers(explanation)["assign"] is False
    assert "no customer.customer_manage covers DE" in reasons(explanation, "assign")
    both = staff(
        "both",
        ("de-managers", ["customer.customer_manage"], ["DE"]),
        ("de-movers", ["restriction.restriction_manage"], ["DE"]),
    )
    explanation = explain_access(identity=both, tenant=tenant, customer=world["DE1"])
    assert answers(explanation)["assign"] is True
    assert "“de-movers”" in reasons(explanation, "assign")


def test_api_clients_are_explained_by_their_scope_strings(world, tenant):
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_read--FR"])
    explanation = explain_access(identity=client, tenant=tenant, customer=world["FR1"])
    assert answers(explanation)["read"] is True
    assert "scope customer.customer_read--FR" in reasons(explanation, "read")


def test_deactivated_identities_may_do_nothing(world, tenant, staff):
    gone = staff("gone", ("readers", ["customer.customer_read"], []), is_active=False)
    explanation = explain_access(identity=gone, tenant=tenant, customer=world["DE1"])
    assert not any(answers(explanation).values())
    assert "deactivated" in reasons(explanation, "read")


def test_a_value_gets_the_same_verdict_as_a_customer_carrying_it(world, tenant, staff):
    """The value path (Coverage) and the customer path (the enforcing querysets) agree."""
    identities = [
        staff("a", ("g1", ["customer.customer_read"], [])),
        staff("b", ("g2", ["customer.customer_manage"], ["DE", "FR"])),
        staff(
            "c",
            ("g3", ["customer.customer_manage"], []),
            ("g4", ["restriction.restriction_manage"], ["US"]),
        ),
        ApiClientFactory(tenant=tenant, scopes=["customer.customer_manage--US"]),
    ]
    for identity in identities:
        for key in ("DE1", "FR1", "US1", "NULL1"):
            customer = world[key]
            by_customer = explain_access(identity=identity, tenant=tenant, customer=customer)
            by_value = explain_access(
                identity=identity, tenant=tenant, restriction=customer.restriction
            )
            assert answers(by_customer) == answers(by_value), (identity, key)


def test_the_page_never_reveals_a_customer_the_administrator_cannot_see(
    world, tenant, staff, client
):
    admin = staff(
        "de-admin",
        ("de-readers", ["customer.customer_read"], ["DE"]),
        ("admins", ["tenant.tenant_manage"], []),
        is_staff=True,
    )
    subject = staff("subject", ("everything", ["customer.customer_read"], []))
    client.force_login(admin)
    hidden = client.get(EXPLAIN, {"identity": f"employee:{subject.pk}", "customer_number": "FR1"})
    missing = client.get(
        EXPLAIN, {"identity": f"employee:{subject.pk}", "customer_number": "NOPE1"}
    )
    assert hidden.context["form"].errors == missing.context["form"].errors
    assert hidden.context["explanation"] is None
    assert "FirstFR1" not in hidden.content.decode()

    shown = client.get(EXPLAIN, {"identity": f"employee:{subject.pk}", "customer_number": "DE1"})
    page = shown.content.decode()
    assert "employee subject and customer DE1 (restriction DE)" in page
    assert "access group “everything”" in page


def test_who_may_see_it_as_csv_writes_no_formula(world, tenant, staff, client):
    """An identity named like a formula stays text in the spreadsheet (CSV injection)."""
    import csv
    import io

    admin = staff(
        "admin", ("admins", ["customer.customer_read", "tenant.tenant_manage"], []), is_staff=True
    )
    ApiClientFactory(tenant=tenant, name="@SUM(1+1)*cmd", scopes=["customer.customer_read"])
    client.force_login(admin)
    response = client.get(EXPLAIN, {"customer_number": "DE1", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["kind", "name", "read", "manage", "change restriction", "because"]
    assert "who-may-see-customer-de1" in response["Content-Disposition"]
    names = [row[1] for row in rows[1:]]
    assert any(name.startswith("'@SUM(1+1)*cmd (cl_") for name in names), names
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_only_administrators_may_open_the_explainer(world, staff, client):
    agent = staff("agent", ("readers", ["customer.customer_read"], []), is_staff=True)
    client.force_login(agent)
    refused = client.get(EXPLAIN)
    assert refused.status_code == 403
    text = refused.content.decode()
    assert "Explain access is for tenant administrators" in text
    assert 'id="site-name"' in text  # the back office's own page, not a bare 403
    assert "Explain access" not in client.get("/admin/customers/customer/").content.decode()


def test_the_command_explains_and_refuses_bad_input(world, tenant, staff, capsys):
    staff("de", ("de-team", ["customer.customer_read"], ["DE"]))
    call_command("explain_access", "--tenant", "acme", "--employee", "de", "--customer", "FR1")
    out = capsys.readouterr().out
    assert "employee de and customer FR1 (restriction FR):" in out
    assert "may read it: no" in out
    assert "no customer.customer_read or customer.customer_manage covers FR" in out
    call_command("explain_access", "--tenant", "acme", "--employee", "de", "--restriction", "DE")
    assert "may read it: yes" in capsys.readouterr().out
    call_command("explain_access", "--tenant", "acme", "--employee", "de", "--customer", "NULL1")
    out = capsys.readouterr().out
    assert "employee de and customer NULL1 (no restriction):" in out
    assert "restriction no restriction" not in out
    assert "nothing lets them read customers without a restriction" in out
    for arguments in (
        ["--tenant", "nope", "--employee", "de", "--customer", "DE1"],
        ["--tenant", "acme", "--employee", "nobody", "--customer", "DE1"],
        ["--tenant", "acme", "--employee", "de", "--customer", "OT-DE1"],  # another tenant's
        ["--tenant", "acme", "--employee", "de", "--restriction", "XX"],
    ):
        with pytest.raises(CommandError) as refused:
            call_command("explain_access", *arguments)
        assert refused.value.returncode == 2


def test_a_platform_superuser_may_do_everything_and_is_told_why(world, tenant):
    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    explanation = explain_access(identity=root, tenant=tenant, customer=world["NULL1"])
    assert all(answers(explanation).values())
    assert "platform superuser" in reasons(explanation, "assign")


def test_the_command_explains_an_api_client(world, tenant, capsys):
    client = ApiClientFactory(tenant=tenant, scopes=["customer.customer_manage--US"])
    call_command(
        "explain_access", "--tenant", "acme", "--client", client.client_id, "--restriction", "US"
    )
    out = capsys.readouterr().out
    assert f"API client {client.name} ({client.client_id}) and customers with restriction US" in out
    assert "may manage it (change, delete): yes" in out
    assert "scope customer.customer_manage--US" in out
    call_command(
        "explain_access", "--tenant", "acme", "--client", client.client_id, "--restriction", "null"
    )
    assert "may read it: no" in capsys.readouterr().out


def test_temporary_access_is_explained_with_its_end_and_only_while_it_lasts(world, tenant, staff):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import TemporaryGrant
    from accounts.principal import Principal
    from accounts.services.temporary_access import temporary_grant_create
    from core.channels import Channel
    from customers.access import who_has_access

    agent = staff("agent", ("de", ["customer.customer_read"], ["DE"]))
    fr = AccessGroupFactory(
        tenant=tenant, name="fr", scopes=["customer.customer_read"], restrictions=["FR"]
    )
    tenant.max_temporary_access = timedelta(days=1)  # (whatever the hour the test runs)
    tenant.save(update_fields=["max_temporary_access"])
    end = timezone.localtime().replace(hour=23, minute=59, second=0, microsecond=0)
    if end <= timezone.localtime():  # (a test run in the last minute of the day)
        end += timedelta(days=1)
    grant = temporary_grant_create(
        actor=Principal.operator(tenant),
        channel=Channel.COMMAND,
        employee_pk=agent.pk,
        group=fr,
        valid_until=end,
    )
    explanation = explain_access(identity=agent, tenant=tenant, customer=world["FR1"])
    assert answers(explanation)["read"]
    assert "temporary access group “fr”" in reasons(explanation, "read")
    assert "until 23:59" in reasons(explanation, "read")
    everyone = {a.name: a for a in who_has_access(tenant=tenant, restriction="FR")}
    assert everyone["agent"].read and "until 23:59" in " ".join(everyone["agent"].because)
    TemporaryGrant.objects.filter(pk=grant.pk).update(
        valid_from=timezone.now() - timedelta(hours=2), valid_until=timezone.now()
    )
    assert not answers(explain_access(identity=agent, tenant=tenant, customer=world["FR1"]))["read"]
    assert not {a.name: a for a in who_has_access(tenant=tenant, restriction="FR")}["agent"].read


def test_why_names_each_group_once_with_the_scopes_that_matter(world, tenant, staff):
    from customers.access import who_has_access

    staff(
        "boss",
        ("admins", ["customer.customer_read", "customer.customer_manage", "customer.import_manage"],
         []),
    )  # fmt: skip
    [boss] = [a for a in who_has_access(tenant=tenant, restriction="DE") if a.name == "boss"]
    assert boss.because[0] == (
        "read: access group “admins” (customer.customer_manage customer.customer_read)"
    )
    assert "change and delete: access group “admins” (customer.customer_manage)" in boss.because
    assert not any("import_manage" in reason for reason in boss.because)


def test_who_may_see_it_counts_the_platform_superusers_everywhere(world, tenant, staff, client):
    import csv
    import io
    import json

    EmployeeFactory(tenant=None, is_superuser=True, username="root")
    EmployeeFactory(tenant=None, is_superuser=True, username="root2")
    EmployeeFactory(tenant=None, is_superuser=True, username="retired", is_active=False)
    admin = staff(
        "admin", ("admins", ["customer.customer_read", "tenant.tenant_manage"], []), is_staff=True
    )
    client.force_login(admin)
    page = client.get(EXPLAIN, {"customer_number": "DE1"}).content.decode()
    assert "2 platform superusers" in page
    assert "platform superuser: every right over every customer of every tenant" in page
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(EXPLAIN, {"customer_number": "DE1", "format": "csv"}).content.decode()
            )
        )
    )
    assert rows[-1][:5] == ["platform", "2 platform superusers", "yes", "yes", "yes"]
    assert "  2 platform superusers: read, manage, change restriction" in capsys_out(
        "explain_access", "--tenant", "acme", "--restriction", "DE"
    )
    answers_json = json.loads(
        capsys_out("explain_access", "--tenant", "acme", "--restriction", "DE", "--json")
    )
    assert answers_json[-1] == {
        "kind": "platform",
        "name": "2 platform superusers",
        "read": True,
        "manage": True,
        "assign": True,
        "because": ["platform superuser: every right over every customer of every tenant"],
    }


def capsys_out(*arguments) -> str:
    import io

    out = io.StringIO()
    call_command(*arguments, stdout=out)
    return out.getvalue()


def test_a_customers_page_links_to_who_may_see_it(world, tenant, staff, client):
    admin = staff(
        "admin", ("admins", ["customer.customer_read", "tenant.tenant_manage"], []), is_staff=True
    )
    client.force_login(admin)
    page = client.get(f"/admin/customers/customer/{world['DE1'].pk}/change/").content.decode()
    assert 'id="who-may-see-link"' in page
    assert "explain-access/?customer_number=DE1" in page
    agent = staff("agent", ("readers", ["customer.customer_read"], []), is_staff=True)
    client.force_login(agent)
    page = client.get(f"/admin/customers/customer/{world['DE1'].pk}/change/").content.decode()
    assert 'id="who-may-see-link"' not in page  # (only administrators explain access)
