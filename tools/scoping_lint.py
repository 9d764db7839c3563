"""The scoping lint: customer data is reached only through the one restriction filter, and
identity and audit rows only tenant first (``accounts.querysets``) outside the identity services.

Walks the syntax tree of every module of the project's apps (API views, admin, management
commands, tasks, everything) and reports:

- a manager (``objects``, ``_default_manager``, ``_base_manager``) of a guarded model, or of a
  model that cannot be named statically (``self.model``, ``apps.get_model(…)``), used for
  anything but ``visible_to(…)``, ``manageable_by(…)``, ``assignable_by(…)`` (or the count of
  the first, ``visible_count(…)``), ``audited_by(…)`` (the audit API's),
  ``privacy_managed_by(…)`` (data-subject requests) or ``none()`` —
  however the expression is split across lines;
- raw SQL: ``.cursor()``, ``.raw(…)``, ``.extra(…)``, ``RawSQL``;
- mass writes on a query chain: ``….update(…)``, ``….delete()``, ``….bulk_update(…)``,
  ``….bulk_create(…)`` whose receiver is a query expression (a call chain or a manager) not
  rooted in another model's class, which would skip the services' checks and audit;
- the tenant's reverse relation to its customers (``tenant.customers``), every customer of the
  tenant whatever the restriction;
- product code entering through the back office's front door: ``RequestFactory`` (a made-up
  request) and the admin registry (``admin.site._registry``); domain code takes a principal.

Only the modules in ``ALLOWED`` may do these things; each says why. Run ``python
tools/scoping_lint.py [ROOT]``: exit status 1 and one line per finding when anything is found.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

CUSTOMER_MODELS = frozenset(
    {
        "Customer",
        "Address",
        "Account",
        "RestrictionChange",
        # what is recorded about customers: who read them, their erasure, their exports
        "CustomerView",
        "CustomerErasure",
        "PrivacyExport",
        "MassReadAlert",
    }
)
# Who holds what, and its audit: reached tenant first (accounts.querysets), like customers.
IDENTITY_MODELS = frozenset(
    {
        "Employee",
        "ApiClient",
        "AccessGroup",
        "TemporaryGrant",
        "AccessRequest",
        "AccessReview",
        "AccessReviewLine",
        "AccessChange",
        "SignInProvider",
        "ProviderGroup",
    }
)
GUARDED_MODELS = CUSTOMER_MODELS | IDENTITY_MODELS
MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
SCOPED_ENTRY_POINTS = frozenset(
    {
        "visible_to",
        "manageable_by",
        "assignable_by",
        "with_right",
        "visible_count",
        "audited_by",
        "privacy_managed_by",
        "requested_by",
        "none",
        # identities (accounts.querysets)
        "administered_by",
        "provisioned_by",
        "in_tenant_of",
    }
)
RAW_SQL_METHODS = frozenset({"cursor", "raw", "extra"})
REVERSE_RELATIONS = frozenset({"customers"})  # Tenant -> Customer (related_name)
ADMIN_FRONT_DOOR = frozenset({"RequestFactory", "_registry"})
MASS_WRITES = frozenset({"update", "delete", "bulk_update", "bulk_create"})
APPS = ("core", "tenancy", "accounts", "customers")

# Module (or package, ending in "/") -> why it may touch the tables directly.
ALLOWED = {
    "customers/querysets.py": "the one restriction filter",
    "customers/services/": "the one write path: checks the principal and writes the audit",
    "customers/models.py": "the model and manager definitions",
    "customers/deletion.py": "a delete the services ordered, each statement naming the tenant",
    "customers/demo.py": "demo data, bulk-created with its audit rows by seed_demo",
    "customers/mail.py": "the e-mail task of the create service, by the account it was given",
    "customers/read_log.py": "adds the read-access log's lines of what an edge served",
    "customers/read_log_store.py": "files the read log's lines and drops its past months, "
    "for every tenant (the platform's upkeep, no customer data read)",
    "customers/read_log_journal.py": "ships the read log's lines from the servers' journal "
    "files into the log, for every tenant (no customer data read; erasures asked by number)",
    "customers/exports.py": "the export task: one customer's data, through privacy_managed_by",
    "tenancy/services.py": "locks a valid restriction's row (no customer data)",
    "core/database.py": "sets the statement time limit of a connection",
    "accounts/rowsecurity.py": "hands the principal's coverage to the policies (SET LOCAL)",
    "customers/lookups.py": "asks the planner whether a trigram search pays (reads no rows)",
    "core/roles.py": "grants the service's role its row privileges (as the owner, no rows read)",
    "core/health.py": "the readiness probe's SELECT 1 (no table)",
    "core/replicas.py": "asks a read replica how far behind it is (no table)",
    "accounts/services/": "the identity write paths: lock, check the actor, record",
    "accounts/holdings.py": "what a given identity, or every identity of a given tenant, holds",
    "accounts/models.py": "the model definitions",
    "accounts/mail.py": "the e-mail tasks, by the request or review the services gave them",
    "accounts/api/token.py": "the token endpoint: the credentials name the identity",
    "accounts/commands.py": "resolves a command's --actor, named by the operator",
    "customers/management/commands/seed_demo.py": "the demo's identities, made by the operator",
    "customers/management/commands/distribute_tenants.py": "distributes the tables (Citus's "
    "catalogue and functions, as the owner; no rows read)",
    "core/checks.py": "a system check: is the database distributed (Citus's catalogue)",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _is_allowed(relative: str) -> bool:
    return any(
        relative.startswith(prefix) if prefix.endswith("/") else relative == prefix
        for prefix in ALLOWED
    )


def _model_name(node: ast.expr) -> str | None:
    """``Customer`` or ``models.Customer`` -> "Customer" when it is a guarded model."""
    if isinstance(node, ast.Name) and node.id in GUARDED_MODELS:
        return node.id
    if isinstance(node, ast.Attribute) and node.attr in GUARDED_MODELS:
        return node.attr
    return None


def _names_other_model(node: ast.expr) -> bool:
    """``Job`` (a capitalised name that is not a guarded model): plainly another model."""
    return isinstance(node, ast.Name) and node.id[:1].isupper() and node.id not in GUARDED_MODELS


def _chain_root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _may_be_customer_query(node: ast.expr) -> bool:
    """A query expression (a call chain or a manager) that is not plainly another model's:
    ``Job.objects.filter(…)`` is not customer data; ``selection.filter(…)`` may be."""
    if not isinstance(node, ast.Call) and not (
        isinstance(node, ast.Attribute) and node.attr in MANAGERS
    ):
        return False
    return not _names_other_model(_chain_root(node))


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: str):
        self.path = path
        self.findings: list[Finding] = []
        self.parents: dict[ast.AST, ast.AST] = {}

    def report(self, node: ast.AST, message: str) -> None:
        self.findings.append(Finding(self.path, node.lineno, message))

    def visit(self, node: ast.AST):
        for child in ast.iter_child_nodes(node):
            self.parents[child] = node
        return super().visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ADMIN_FRONT_DOOR:
            self.report(node, f"{node.id}: product code acts through a principal, not the admin")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name in ADMIN_FRONT_DOOR:
                self.report(node, f"{alias.name}: product code does not make requests")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ADMIN_FRONT_DOOR:
            self.report(node, f"{node.attr}: product code acts through a principal, not the admin")
        if node.attr in REVERSE_RELATIONS:
            self.report(node, f".{node.attr}: a tenant's customers bypass the restriction filter")
        model = _model_name(node.value)
        if model is None and node.attr in MANAGERS and not _names_other_model(node.value):
            model = ast.unparse(node.value)  # self.model, get_model(…): may be a customer
        if model is not None and node.attr in MANAGERS:
            parent = self.parents.get(node)
            if not (isinstance(parent, ast.Attribute) and parent.attr in SCOPED_ENTRY_POINTS):
                self.report(
                    node,
                    f"{model}.{node.attr} used without its scoped entry point (visible_to, "
                    "administered_by, audited_by, …)",
                )
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in RAW_SQL_METHODS:
                self.report(node, f"raw SQL (.{func.attr}) outside the filter and the services")
            elif func.attr in MASS_WRITES and _may_be_customer_query(func.value):
                self.report(node, f"mass write (.{func.attr}) outside the services")
        elif isinstance(func, ast.Name) and func.id == "RawSQL":
            self.report(node, "raw SQL (RawSQL) outside the filter and the services")
        self.generic_visit(node)


def check_source(source: str, path: str) -> list[Finding]:
    visitor = _Visitor(path)
    visitor.visit(ast.parse(source, filename=path))
    return visitor.findings


def check_tree(root: Path) -> list[Finding]:
    findings: list[Finding] = []
    for app in APPS:
        for file in sorted((root / app).rglob("*.py")):
            relative = file.relative_to(root).as_posix()
            if "/migrations/" in relative or _is_allowed(relative):
                continue
            findings += check_source(file.read_text(), relative)
    return findings


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    findings = check_tree(root)
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
