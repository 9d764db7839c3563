"""A back-office selection of customers as a domain value: the ids ticked, or "all matching"
a search term and list filters. The customer changelist applies its search and filters through
:func:`search_condition` and :func:`filter_condition`, and a background job stores a
:class:`CustomerSelection` and rebuilds it with the same functions for its requester (through
the one restriction filter), so a job selects exactly what the page showed, without the admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from django.db.models import Q, QuerySet
from django.utils.text import smart_split, unescape_string_literal

from accounts.principal import Principal
from customers.models import Customer

NONE_VALUE = "__none__"  # the list filter's and forms' value for "no restriction"

# The search box: the exact customer number, or a part of a name, the e-mail or the company
# (each word of the term must match one of them; "quoted words" stay together).
SEARCH_LOOKUPS = (
    "customer_number__exact",
    "first_name__ilike",
    "last_name__ilike",
    "contact_email__ilike",
    "company__ilike",
)
# The list filters' query parameters (and the superuser's tenant filter).
FILTERS = ("restriction", "active__exact", "preferred_site", "tenant__id__exact")


def search_condition(term: str) -> Q:
    """Every word of ``term`` (PostgreSQL refuses NUL; nothing stored contains one) matches
    one of :data:`SEARCH_LOOKUPS`."""
    condition = Q()
    for word in smart_split(term.replace("\x00", "")):
        if word.startswith(('"', "'")) and word[0] == word[-1] and len(word) > 1:
            word = unescape_string_literal(word)
        condition &= Q(*((lookup, word) for lookup in SEARCH_LOOKUPS), _connector=Q.OR)
    return condition


def filter_condition(name: str, value: str) -> Q:
    """One list filter's condition; an unknown filter or value matches nothing."""
    if name == "restriction":
        return Q(restriction__isnull=True) if value == NONE_VALUE else Q(restriction=value)
    if name == "active__exact" and value in ("0", "1"):
        return Q(active=value == "1")
    if name == "preferred_site":
        return Q(preferred_site=value)
    if name == "tenant__id__exact" and value.isdigit():
        return Q(tenant_id=int(value))
    return Q(pk__in=[])


@dataclass(frozen=True)
class CustomerSelection:
    ids: tuple[int, ...] | None = None
    search: str = ""
    filters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_changelist(cls, query: dict[str, str]) -> CustomerSelection:
        """ "Select all" on a changelist with these query parameters (its search, ``q``, and
        its list filters; paging and ordering select nothing)."""
        return cls(
            search=query.get("q", ""),
            filters={name: query[name] for name in FILTERS if query.get(name)},
        )

    def to_json(self) -> dict:
        if self.ids is not None:
            return {"ids": list(self.ids)}
        return {"search": self.search, "filters": dict(self.filters)}

    @classmethod
    def from_json(cls, data: dict) -> CustomerSelection:
        if "ids" in data:
            return cls(ids=tuple(int(pk) for pk in data["ids"]))
        if "changelist" in data:  # jobs stored before selections were domain values
            return cls.of_changelist(dict(parse_qsl(data["changelist"])))
        return cls(search=str(data.get("search", "")), filters=dict(data.get("filters", {})))

    def label(self) -> str:
        if self.ids is not None:
            count = len(self.ids)
            return f"{count:,} selected customer{'s' if count != 1 else ''}"
        shown = [f"q={self.search}"] if self.search else []
        shown += [f"{name}={value}" for name, value in self.filters.items()]
        return f"all customers matching {'; '.join(shown)}" if shown else "all customers"

    def visible_customers(self, actor: Principal) -> QuerySet:
        """The selection's customers that ``actor`` may read (the one restriction filter)."""
        visible = Customer.objects.visible_to(actor)
        if self.ids is not None:
            return visible.filter(pk__in=self.ids)
        condition = search_condition(self.search)
        for name, value in self.filters.items():
            condition &= filter_condition(name, value)
        return visible.filter(condition)
