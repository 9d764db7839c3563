"""The access explainer: may this employee or API client read, manage, or change the restriction
of a customer (or of customers carrying a restriction value), and why.

The verdict comes from the enforcement code itself: for a customer, the same querysets every
read and write goes through (``visible_to``, ``manageable_by``, ``assignable_by``); for a bare
value, the ``Grants.may_*`` answers, read from the coverage those querysets are built from.
The reasons name the access groups (or, for an API client, the scope strings) whose grants
cover the value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from accounts import holdings, rowsecurity
from accounts.models import ApiClient, Employee
from accounts.principal import Principal
from accounts.scopes import Grants, Right
from core.datetimes import until
from customers.models import Customer
from tenancy import tree
from tenancy.services import restriction_parents

NO_RESTRICTION = "no restriction"
PLATFORM = "platform"
PLATFORM_REASON = "platform superuser: every right over every customer of every tenant"


@dataclass(frozen=True)
class Verdict:
    right: Right
    label: str
    allowed: bool
    reasons: list[str]


@dataclass(frozen=True)
class Explanation:
    subject: str
    target: str
    verdicts: list[Verdict]


@dataclass(frozen=True)
class Source:
    """Where some of an identity's grants come from: an access group (with ``note``: "until
    14:00 today" for a temporary one), a scope string, or the platform. Its grants as written,
    not yet expanded with the tenant's tree."""

    name: str  # "access group “admins”", "scope customer.customer_read--DE"
    grants: Grants
    note: str = ""  # after the name: ", until 14:00 today (break-glass)"
    is_group: bool = False

    def named(self, need) -> str:
        """As a reason for one part of a right: a group with only its scopes that matter here
        ("access group “admins” (customer.customer_manage)"), anything else as it is."""
        if not self.is_group:
            return f"{self.name}{self.note}"
        relevant = [
            text
            for text in self.grants.scope_strings()
            if not need(Grants.from_strings([text])).is_empty
        ]
        return f"{self.name} ({' '.join(relevant)}){self.note}"


def _sources(held: holdings.Holdings) -> list[Source]:
    """Where an identity's grants come from now: standing ones first, then the temporary grants
    open now with their end, read from its holdings."""
    if held.everything:
        return [Source("platform superuser (every scope in every tenant)", Grants.everything())]
    now = timezone.now()
    standing, temporary = [], []
    for holding in held.items:
        if not holding.open_at(now):
            continue
        if holding.kind == holdings.GrantKind.CLIENT_SCOPE:
            standing += [
                Source(f"scope {text}", Grants.from_strings([text])) for text in holding.scopes
            ]
            continue
        group = holding.group
        name = f"access group “{group.name}”" if group is not None else f"scope {holding.scopes[0]}"
        if holding.standing:
            standing.append(Source(name, holding.grants(), is_group=group is not None))
        else:
            note = f", {until(holding.valid_until)}"
            note += " (break-glass)" if holding.break_glass else ""
            source = Source(f"temporary {name}", holding.grants(), note, group is not None)
            temporary.append((holding.valid_until, source))
    temporary.sort(key=lambda entry: entry[0])
    return standing + [source for _, source in temporary]


@dataclass(frozen=True)
class Access:
    """One identity's answers for "who can see this customer?"."""

    kind: str  # "employee", "api_client" or "platform" (the superusers, counted)
    name: str
    read: bool
    manage: bool
    assign: bool
    because: list[str]

    @property
    def label(self) -> str:
        """How a page names it: "employee bob", "API client shop (cl_…)", "2 platform
        superusers"."""
        if self.kind == PLATFORM:
            return self.name
        return f"{'API client' if self.kind == 'api_client' else 'employee'} {self.name}"

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "read": self.read,
            "manage": self.manage,
            "assign": self.assign,
            "because": self.because,
        }


def _active_identities(tenant) -> list[tuple[str, str, list[Source]]]:
    """``(kind, name, sources)`` of every active employee and API client of ``tenant``, read
    from their holdings (four queries)."""
    held = holdings.of_tenant(tenant.pk)
    found = [
        ("employee", employee.username, _sources(items))
        for employee, items in held.employees.values()
    ]
    found += [
        ("api_client", f"{client.name} ({client.client_id})", _sources(items))
        for client, items in held.api_clients.values()
    ]
    return found


def _union(grants: Iterable[Grants]) -> Grants:
    """What all of ``grants`` hold together."""
    return Grants.from_strings(text for held in grants for text in held.scope_strings())


def who_has_access(*, tenant, restriction: str | None) -> list[Access]:
    """Every active employee and API client of ``tenant`` with their answers for customers
    carrying ``restriction`` (a customer's: look it up through the asker's own visibility
    first), and what decides each: the groups or scopes (and the path in the tree).

    Computed from grants, as the filter is built from them (the property tests tie the two):
    five queries whatever the number of identities. Platform superusers (every right in every
    tenant) are one line at the end: how many there are."""
    parents = restriction_parents(tenant.pk)
    below = None if tree.is_flat(parents) else tree.below(parents)
    answers = []
    for kind, name, written in _active_identities(tenant):
        sources = [(source, source.grants.expanded(below)) for source in written]
        held = _union(expanded for _, expanded in sources)
        allowed = {right: right.covers(held, restriction) for right in Right}
        because = []
        for right in Right:
            if not allowed[right]:
                continue
            for _scope, allows, need in right.needs:
                for source, expanded in sources:
                    if need(expanded).covers(restriction):
                        path = _through_tree(need, source.grants, restriction, parents)
                        via = f", through the tree: {path}" if path else ""
                        because.append(f"{allows}: {source.named(need)}{via}")
        answers.append(
            Access(
                kind,
                name,
                allowed[Right.READ],
                allowed[Right.MANAGE],
                allowed[Right.ASSIGN],
                list(dict.fromkeys(because)),
            )
        )
    answers.sort(key=lambda a: (not a.read, a.kind, a.name.lower()))
    superusers = holdings.platform_superusers()
    if superusers:
        # Platform superusers read everything everywhere: one line says how many.
        name = f"{superusers} platform superuser{'s' if superusers != 1 else ''}"
        answers.append(Access(PLATFORM, name, True, True, True, [PLATFORM_REASON]))
    return answers


def _through_tree(
    need, grants: Grants, value: str | None, parents: dict[str, str | None]
) -> str | None:
    """How ``grants`` reach ``value`` from a value above it ("EU > DE"), or None when they
    name it (or do not reach it)."""
    coverage = need(grants)
    if value is None or coverage.everything or value in coverage.restrictions:
        return None
    for ancestor in sorted(coverage.restrictions):
        path = tree.path_to(parents, value, ancestor)
        if path is not None:
            return " > ".join(path)
    return None


def principal_of(identity: Employee | ApiClient, tenant) -> Principal:
    if isinstance(identity, ApiClient):
        return Principal.for_api_client(identity)
    return Principal.for_employee(identity, tenant)


def explain_access(
    *,
    identity: Employee | ApiClient,
    tenant,
    customer: Customer | None = None,
    restriction: str | None = None,
) -> Explanation:
    """Explain ``identity``'s rights over ``customer`` (found by the caller through their own
    visibility) or, without one, over customers whose restriction is ``restriction``."""
    principal = principal_of(identity, tenant)
    value = customer.restriction if customer is not None else restriction
    inactive = not getattr(identity, "is_active", True)
    parents = restriction_parents(tenant.pk)
    below = None if tree.is_flat(parents) else tree.below(parents)
    held = (
        holdings.of_api_client(identity)
        if isinstance(identity, ApiClient)
        else holdings.of_employee(identity)
    )
    sources = [(source, source.grants.expanded(below)) for source in _sources(held)]
    verdicts = []
    for right in Right:
        if customer is not None:
            # The subject's querysets, evaluated over the whole tenant (the caller found the
            # customer through their own visibility; the answer is about the subject's).
            whole_tenant = rowsecurity.RowContext.whole_tenant(principal.tenant_id)
            with rowsecurity.row_context(whole_tenant, reason="explaining access"):
                allowed = (
                    Customer.objects.with_right(principal, right).filter(pk=customer.pk).exists()
                )
        else:
            allowed = right.covers(principal.grants, value)
        reasons = []
        for scope, allows, need in right.needs:
            granting = []
            for source, expanded in sources:
                if need(expanded).covers(value):
                    path = _through_tree(need, source.grants, value, parents)
                    named = source.named(need)
                    granting.append(f"{named}, through the tree: {path}" if path else named)
            if granting:
                reasons.append(f"may {allows} them through " + "; ".join(granting))
            elif value is None:
                reasons.append(
                    f"nothing lets them {allows} customers without a restriction (no unsuffixed "
                    f"{scope}: customers with no restriction are covered only by scopes without "
                    "a suffix)"
                )
            else:
                reasons.append(
                    f"nothing lets them {allows} {value} customers (no {scope} covers {value})"
                )
        if inactive:
            allowed = False
            reasons.insert(0, "deactivated: nothing is allowed")
        verdicts.append(Verdict(right, right.label, allowed, reasons))
    restriction_words = f"restriction {value}" if value is not None else NO_RESTRICTION
    if customer is not None:
        target = f"customer {customer.customer_number} ({restriction_words})"
    else:
        target = (
            f"customers with {restriction_words}" if value else "customers without a restriction"
        )
    subject = (
        f"API client {identity.name} ({identity.client_id})"
        if isinstance(identity, ApiClient)
        else f"employee {identity.username}"
    )
    return Explanation(subject, target, verdicts)


def _readable(grants: Grants, below) -> frozenset[str] | None:
    """The values ``grants`` read in a tree (None: every customer)."""
    coverage = Right.READ.coverage(grants.expanded(below))
    return None if coverage.everything else coverage.restrictions


def tree_change_effect(
    *, tenant, before: dict[str, str | None], after: dict[str, str | None]
) -> str:
    """What changing the tenant's tree from ``before`` to ``after`` does to who reads what:
    "lets 1 employee and 2 API clients read 41,203 more customers; 1 employee reads 50 fewer".
    Computed from the active identities' grants and one count per restriction value."""
    below = {
        "before": None if tree.is_flat(before) else tree.below(before),
        "after": None if tree.is_flat(after) else tree.below(after),
    }
    labels = {"employee": "employee", "api_client": "API client"}
    identities = [
        (labels[kind], _union(source.grants for source in sources))
        for kind, _, sources in _active_identities(tenant)
    ]
    whole_tenant = rowsecurity.RowContext.whole_tenant(tenant.pk)
    with rowsecurity.row_context(whole_tenant, reason="previewing a change of the tree"):
        everyone = Principal.operator(tenant, "tree preview")  # every customer of the tenant
        counts = dict(
            Customer.objects.visible_to(everyone)
            .exclude(restriction__isnull=True)
            .values_list("restriction")
            .annotate(n=Count("pk"))
            .values_list("restriction", "n")
        )
    more: dict[str, int] = {}
    fewer: dict[str, int] = {}
    gained = lost = 0
    for kind, grants in identities:
        old, new = _readable(grants, below["before"]), _readable(grants, below["after"])
        if old is None or new is None:
            continue  # reads every customer either way
        if new - old:
            more[kind] = more.get(kind, 0) + 1
            gained += sum(counts.get(value, 0) for value in new - old)
        if old - new:
            fewer[kind] = fewer.get(kind, 0) + 1
            lost += sum(counts.get(value, 0) for value in old - new)
    parts = []
    if more:
        parts.append(f"lets {_who(more)} read {gained:,} more customers (counted per identity)")
    if fewer:
        parts.append(f"leaves {_who(fewer)} reading {lost:,} fewer customers")
    return "; ".join(parts) or "changes what nobody reads"


def _who(counted: dict[str, int]) -> str:
    return " and ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counted.items())
