"""The scoping lint (tools/scoping_lint.py) passes on the code base and catches what it must:
planted unscoped queries in copies of real modules are reported at their line."""

import shutil
import textwrap
from pathlib import Path

import pytest

from tools.scoping_lint import check_source, check_tree

ROOT = Path(__file__).resolve().parent.parent
VIEW = "customers/api/customers.py"
COMMAND = "customers/management/commands/assign_restriction.py"

PLANTED = {
    "manager across lines": "customer = (\n    Customer.objects\n    .get(pk=1)\n)",
    "default manager": "customer = Customer._default_manager.get(pk=1)",
    "base manager": "customer = Customer._base_manager.all()",
    "manager of a module-qualified model": "rows = models.Address.objects.filter(city='x')",
    "manager of a model not named statically": "rows = self.model.objects.all()",
    "manager passed around": "manager = Account.objects",
    "mass update on a view's queryset": "self.get_queryset().update(restriction='FR')",
    "mass update after the filter": "Customer.objects.visible_to(p).update(restriction=None)",
    "bulk update": "Customer.objects.bulk_update(rows, ['restriction'])",
    "delete through a variable's chain": "selection.filter(pk=1).delete()",
    "raw SQL through a cursor": "cursor = connection.cursor()",
    "raw query": "rows = Customer.objects.visible_to(p).raw('SELECT * FROM customers_customer')",
    "RawSQL expression": "rows = annotate(x=RawSQL('SELECT 1', []))",
    "a tenant's reverse relation": "rows = p.tenant.customers.filter(city='x')",
    "the admin registry": "model_admin = admin.site._registry[Customer]",
    "a made-up request": "request = RequestFactory().get('/admin/')",
    "an identity table": "rows = Employee.objects.filter(username='root')",
    "an audit table by its tenant": "rows = AccessChange.objects.filter(tenant_id=2)",
    "temporary grants of every tenant": "rows = TemporaryGrant.objects.current()",
}


def plant(source: str, code: str) -> tuple[str, int]:
    """Append ``code`` as a function at the end of ``source``; returns it and the line of the
    planted statement."""
    line = source.count("\n") + 3
    return source + "\n\ndef planted(self, p, rows, selection, connection, annotate):\n" + (
        textwrap.indent(code, "    ") + "\n"
    ), line


def test_the_code_base_passes():
    findings = check_tree(ROOT)
    # Every finding named in the failure (pytest would shorten a list comparison to the first).
    assert not findings, "\n".join(str(finding) for finding in findings)


@pytest.mark.parametrize("path", [VIEW, COMMAND])
@pytest.mark.parametrize("name", PLANTED)
def test_a_planted_unscoped_query_is_caught(path, name):
    source = (ROOT / path).read_text()
    assert check_source(source, path) == []  # the unmodified module is clean
    mutated, line = plant(source, PLANTED[name])
    findings = check_source(mutated, path)
    assert findings, f"not caught: {name}"
    assert all(line <= f.line <= line + 2 for f in findings), findings


@pytest.mark.parametrize(
    "code",
    [
        "rows = Customer.objects.visible_to(p).filter(city='x')",
        "rows = Customer.objects.manageable_by(p)",
        "check = Customer.objects.assignable_by",
        "rows = self.model._default_manager.none()",
        "Job.objects.filter(pk=1).update(status='failed')",
        "rows = Employee.objects.administered_by(p).filter(is_active=True)",
        "rows = AccessChange.objects.audited_by(p)",
        "rows = AccessGroup.objects.in_tenant_of(p)",
        "headers.update({'X': '1'})",
    ],
)
def test_scoped_and_unrelated_code_is_not_reported(code):
    mutated, _ = plant("", code)
    assert check_source(mutated, VIEW) == []


def test_commands_and_every_app_module_are_walked(tmp_path):
    for app in ("core", "tenancy", "accounts", "customers"):
        shutil.copytree(ROOT / app, tmp_path / app)
    assert check_tree(tmp_path) == []
    planted = tmp_path / "customers/management/commands/leak.py"
    planted.write_text("from customers.models import Customer\n\nROWS = Customer.objects.all()\n")
    assert [str(f) for f in check_tree(tmp_path)] == [
        "customers/management/commands/leak.py:3: "
        "Customer.objects used without its scoped entry point (visible_to, administered_by, "
        "audited_by, …)"
    ]
