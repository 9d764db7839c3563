"""Scope strings and the grants they add up to. Pure Python, no Django.

A scope is ``base`` or ``base--SUFFIX``. An unsuffixed scope covers every customer of the tenant,
null restriction included; suffixed scopes cover exactly the restrictions named by their suffixes;
the union of everything held wins. Nothing else in the code base parses scope strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from core.restrictions import is_restriction_code

CUSTOMER_READ = "customer.customer_read"
CUSTOMER_MANAGE = "customer.customer_manage"
RESTRICTION_MANAGE = "restriction.restriction_manage"
IMPORT_MANAGE = "customer.import_manage"
# Reading the tenant's import configuration (the password-migration retention window).
IMPORT_READ = "customer.import_read"
# Administration of the caller's own tenant: access groups, employees, API clients (admin only).
TENANT_MANAGE = "tenant.tenant_manage"
# The audit API: the restriction history (a suffix: of the customers it covers) and, unsuffixed,
# the access-change log.
AUDIT_READ = "audit.audit_read"
# Data-subject rights over customers it covers: export everything held about one, erase one, put
# one under a legal hold (a suffix: of the customers whose restriction it covers).
PRIVACY_MANAGE = "customer.privacy_manage"
# Provisioning employees and access groups over SCIM 2.0 (unsuffixed only: identities are not
# customers). Whatever a provisioning client hands out it must hold itself.
SCIM_MANAGE = "iam.scim_manage"

KNOWN_SCOPES = frozenset(
    {
        CUSTOMER_READ,
        CUSTOMER_MANAGE,
        RESTRICTION_MANAGE,
        IMPORT_MANAGE,
        IMPORT_READ,
        TENANT_MANAGE,
        AUDIT_READ,
        PRIVACY_MANAGE,
        SCIM_MANAGE,
    }
)
SUFFIX_SEPARATOR = "--"


class InvalidScope(ValueError):
    """A scope string that is malformed or names no known scope."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which customers a right reaches: every one (``everything``) or those whose restriction is
    in ``restrictions``. Null restrictions are covered only by ``everything``."""

    everything: bool = False
    restrictions: frozenset[str] = frozenset()

    def covers(self, restriction: str | None) -> bool:
        if self.everything:
            return True
        return restriction is not None and restriction in self.restrictions

    def __or__(self, other: Coverage) -> Coverage:
        if self.everything or other.everything:
            return EVERYTHING
        return Coverage(restrictions=self.restrictions | other.restrictions)

    def __and__(self, other: Coverage) -> Coverage:
        if self.everything:
            return other
        if other.everything:
            return self
        return Coverage(restrictions=self.restrictions & other.restrictions)

    @property
    def is_empty(self) -> bool:
        return not self.everything and not self.restrictions

    @property
    def single_restriction(self) -> str | None:
        """The one value a restricted coverage is limited to, if it is exactly one."""
        if not self.everything and len(self.restrictions) == 1:
            return next(iter(self.restrictions))
        return None


NOTHING = Coverage()
EVERYTHING = Coverage(everything=True)


@dataclass(frozen=True, slots=True)
class Scope:
    base: str
    restriction: str | None = None

    def __str__(self) -> str:
        if self.restriction is None:
            return self.base
        return f"{self.base}{SUFFIX_SEPARATOR}{self.restriction}"


def parse_scope(text: str) -> Scope:
    """Parse one scope string; raise :class:`InvalidScope` with a reason when it is not valid."""
    base, separator, suffix = text.partition(SUFFIX_SEPARATOR)
    if not base:
        raise InvalidScope(f"Scope {text!r} has no name before '--'.")
    if base not in KNOWN_SCOPES:
        raise InvalidScope(f"Unknown scope {base!r}.")
    if not separator:
        return Scope(base)
    if not suffix:
        raise InvalidScope(f"Scope {text!r} has an empty restriction after '--'.")
    if SUFFIX_SEPARATOR in suffix:
        raise InvalidScope(f"Scope {text!r} has more than one '--'.")
    if not is_restriction_code(suffix):
        raise InvalidScope(f"Scope {text!r} has an invalid restriction {suffix!r}.")
    return Scope(base, suffix)


def parse_scopes(texts: Iterable[str]) -> list[Scope]:
    """Parse strictly: every string must be valid (used where scopes are granted)."""
    return [parse_scope(text) for text in texts]


def split_scope_string(value: str) -> list[str]:
    """OAuth scope parameter / claim: space-separated."""
    return [part for part in value.split(" ") if part]


@dataclass(frozen=True, slots=True)
class Grants:
    """The rights a principal holds, one :class:`Coverage` per known scope."""

    coverage: dict[str, Coverage] = field(default_factory=dict)

    @classmethod
    def from_scopes(cls, scopes: Iterable[Scope]) -> Grants:
        coverage: dict[str, Coverage] = {}
        for scope in scopes:
            granted = (
                EVERYTHING
                if scope.restriction is None
                else Coverage(restrictions=frozenset({scope.restriction}))
            )
            coverage[scope.base] = coverage.get(scope.base, NOTHING) | granted
        return cls(coverage)

    @classmethod
    def from_strings(cls, texts: Iterable[str]) -> Grants:
        """Lenient: unknown or malformed strings are ignored (token use)."""
        scopes = []
        for text in texts:
            try:
                scopes.append(parse_scope(text))
            except InvalidScope:
                continue
        return cls.from_scopes(scopes)

    @classmethod
    def everything(cls) -> Grants:
        return cls({name: EVERYTHING for name in KNOWN_SCOPES})

    def expanded(self, below: Mapping[str, frozenset[str]] | None) -> Grants:
        """The grants with every suffix covering the values below it in the tenant's tree
        (``below``: value -> itself and its descendants, tenancy.tree; None: a flat tenant).
        Done once where a principal's grants are built; everything downstream (filters, row
        security, answers for one value) reads the expanded coverage."""
        if not below:
            return self
        coverage = {}
        for name, granted in self.coverage.items():
            if granted.everything:
                coverage[name] = granted
                continue
            values = set()
            for value in granted.restrictions:
                values |= below.get(value, {value})
            coverage[name] = Coverage(restrictions=frozenset(values))
        return Grants(coverage)

    def __and__(self, other: Grants) -> Grants:
        """What both hold: a token's scopes limited to what its principal still holds."""
        both = {name: self._get(name) & other._get(name) for name in self.coverage}
        return Grants({name: coverage for name, coverage in both.items() if not coverage.is_empty})

    def __or__(self, other: Grants) -> Grants:
        """What either holds: standing grants and temporary ones together."""
        names = self.coverage.keys() | other.coverage.keys()
        return Grants({name: self._get(name) | other._get(name) for name in names})

    def _get(self, name: str) -> Coverage:
        return self.coverage.get(name, NOTHING)

    # The three rights over customers. Each is one Coverage: the querysets of
    # customers.querysets turn it into SQL, and the may_* answers below read it for one value,
    # so the filter and the single-record answer cannot disagree (a property test checks it).

    def readable(self) -> Coverage:
        """Customers that may be read: customer_manage grants everything customer_read does."""
        return self._get(CUSTOMER_READ) | self._get(CUSTOMER_MANAGE)

    def manageable(self) -> Coverage:
        """Customers that may be changed or deleted."""
        return self._get(CUSTOMER_MANAGE)

    def assignable(self) -> Coverage:
        """Restriction values that may be taken away from a customer or given to one: manage
        and restriction_manage both cover the value."""
        return self.manageable() & self.restriction_managing()

    def restriction_managing(self) -> Coverage:
        """restriction_manage on its own (explanations only; it decides nothing alone)."""
        return self._get(RESTRICTION_MANAGE)

    def may_read(self, restriction: str | None) -> bool:
        return self.readable().covers(restriction)

    def may_manage(self, restriction: str | None) -> bool:
        return self.manageable().covers(restriction)

    def may_assign(self, restriction: str | None) -> bool:
        return self.assignable().covers(restriction)

    def can_import(self) -> bool:
        return not self._get(IMPORT_MANAGE).is_empty

    def can_read_import_configuration(self) -> bool:
        return not (self._get(IMPORT_READ) | self._get(IMPORT_MANAGE)).is_empty

    def can_configure_import(self) -> bool:
        """The tenant-wide import configuration: unsuffixed import_manage only (it governs
        every customer's imported credentials, whatever their restriction)."""
        return self._get(IMPORT_MANAGE).everything

    def can_manage_tenant(self) -> bool:
        return self._get(TENANT_MANAGE).everything

    def can_provision(self) -> bool:
        """Employees and access groups over SCIM: unsuffixed iam.scim_manage only."""
        return self._get(SCIM_MANAGE).everything

    def auditable(self) -> Coverage:
        """Customers whose restriction history may be read (the audit API)."""
        return self._get(AUDIT_READ)

    def privacy_manageable(self) -> Coverage:
        """Customers whose data-subject requests (export, erasure, legal hold) may be handled."""
        return self._get(PRIVACY_MANAGE)

    def can_audit_access(self) -> bool:
        """The access-change log: unsuffixed audit_read only (it is about identities, not
        customers)."""
        return self._get(AUDIT_READ).everything

    def covers_grants(self, other: Grants) -> bool:
        """True when every right of ``other`` is also held here (no privilege escalation)."""
        for name, wanted in other.coverage.items():
            held = self._get(name)
            if held.everything:
                continue
            if wanted.everything or not wanted.restrictions <= held.restrictions:
                return False
        return True

    def not_covered_in(self, held: Grants) -> list[str]:
        """The scope strings of these grants that ``held`` does not cover (what a refusal
        names)."""
        missing = []
        for name in sorted(self.coverage):
            wanted, have = self.coverage[name], held._get(name)
            if have.everything:
                continue
            if wanted.everything:
                missing.append(name)
            else:
                missing += [
                    f"{name}{SUFFIX_SEPARATOR}{value}"
                    for value in sorted(wanted.restrictions - have.restrictions)
                ]
        return missing

    def scope_strings(self) -> list[str]:
        result = []
        for name in sorted(self.coverage):
            granted = self.coverage[name]
            if granted.everything:
                result.append(name)
            else:
                result.extend(f"{name}{SUFFIX_SEPARATOR}{r}" for r in sorted(granted.restrictions))
        return result


class Right(StrEnum):
    """The three rights over customers. Each carries the coverage it reads from ``Grants``
    (which the one restriction filter, ``Customer.objects.with_right``, turns into SQL), the
    scopes that make it up (for explanations) and its label. Nothing else names a right by a
    string."""

    READ = "read"
    MANAGE = "manage"
    ASSIGN = "assign"

    def coverage(self, grants: Grants) -> Coverage:
        return _RIGHT_COVERAGE[self](grants)

    def held(self, grants: Grants) -> bool:
        """Over at least one customer."""
        return not self.coverage(grants).is_empty

    def covers(self, grants: Grants, restriction: str | None) -> bool:
        return self.coverage(grants).covers(restriction)

    @property
    def queryset_method(self) -> str:
        return {Right.READ: "visible_to", Right.MANAGE: "manageable_by"}.get(self, "assignable_by")

    @property
    def label(self) -> str:
        return {
            Right.READ: "read it",
            Right.MANAGE: "manage it (change, delete)",
            Right.ASSIGN: "change its restriction",
        }[self]

    @property
    def needs(self) -> list[tuple[str, str, Callable[[Grants], Coverage]]]:
        """(scope label, what it allows in staff words, coverage) of each part the right needs
        (all of them)."""
        if self is Right.READ:
            return [(f"{CUSTOMER_READ} or {CUSTOMER_MANAGE}", "read", Grants.readable)]
        manage = (CUSTOMER_MANAGE, "change and delete", Grants.manageable)
        if self is Right.MANAGE:
            return [manage]
        return [
            manage,
            (RESTRICTION_MANAGE, "move between restrictions", Grants.restriction_managing),
        ]


_RIGHT_COVERAGE: dict[Right, Callable[[Grants], Coverage]] = {
    Right.READ: Grants.readable,
    Right.MANAGE: Grants.manageable,
    Right.ASSIGN: Grants.assignable,
}
