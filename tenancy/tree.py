"""A tenant's restriction values as a tree (pure Python): each value has at most one parent, a
value of the same tenant; a suffix covers its value and every value below it. A tenant whose
values have no parents is Emporix's flat list, unchanged.

``parents`` maps every value to its parent (or None); ``below`` maps every value to itself and
all its descendants — what a scope suffixed with that value covers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

logger = logging.getLogger(__name__)

MAX_DEPTH = 6  # levels, the top one included: EU > DACH > DE > BY > … at most six deep


class InvalidTree(ValueError):
    """A tree that cannot be: the message names the values."""


def parse_values(items: Iterable[str]) -> dict[str, str | None]:
    """``VALUE`` or ``VALUE:PARENT`` items (``create_tenant --restrictions EU,DE:EU``) as a
    parents mapping; see :func:`validate`."""
    parents: dict[str, str | None] = {}
    for item in items:
        value, _, parent = item.partition(":")
        value, parent = value.strip(), parent.strip()
        if not value or (":" in item and not parent):
            raise InvalidTree(f"{item!r} is not VALUE or VALUE:PARENT.")
        if value in parents:
            raise InvalidTree(f"{value!r} is listed twice.")
        parents[value] = parent or None
    return parents


def validate(parents: Mapping[str, str | None]) -> None:
    """Refuse unknown parents, cycles and trees deeper than :data:`MAX_DEPTH`."""
    unknown = sorted(
        f"{value} (parent {parent})"
        for value, parent in parents.items()
        if parent is not None and parent not in parents
    )
    if unknown:
        raise InvalidTree(f"Unknown parent: {', '.join(unknown)}.")
    for value in sorted(parents):
        path = [value]
        parent = parents[value]
        while parent is not None:
            if parent in path:
                cycle = [*path[path.index(parent) :], parent]
                raise InvalidTree(f"The parents form a cycle: {' → '.join(cycle)}.")
            path.append(parent)
            if len(path) > MAX_DEPTH:
                chain = " under ".join(path)
                raise InvalidTree(f"More than {MAX_DEPTH} levels: {chain}.")
            parent = parents[parent]


def below(parents: Mapping[str, str | None]) -> dict[str, frozenset[str]]:
    """Every value with itself and all its descendants. A tree that is not valid (a cycle, a
    lost parent: the database refuses both, so only a corrupted one) covers each value alone:
    fail-closed, and never a walk that does not end."""
    try:
        validate(parents)
    except InvalidTree:
        logger.error("invalid restriction tree; each value covers itself only", exc_info=True)
        return {value: frozenset({value}) for value in parents}
    covered: dict[str, set[str]] = {value: {value} for value in parents}
    for value in parents:
        parent = parents[value]
        while parent is not None:
            covered[parent].add(value)
            parent = parents[parent]
    return {value: frozenset(values) for value, values in covered.items()}


def path_to(parents: Mapping[str, str | None], value: str, ancestor: str) -> list[str] | None:
    """``[ancestor, …, value]`` when ``ancestor`` is ``value`` or above it, else None."""
    path = [value]
    current: str | None = value
    while current is not None and current != ancestor:
        if len(path) > len(parents):  # a corrupted tree: a cycle never reaches the ancestor
            return None
        current = parents.get(current)
        if current is not None:
            path.append(current)
    return list(reversed(path)) if current == ancestor else None


def is_flat(parents: Mapping[str, str | None]) -> bool:
    return all(parent is None for parent in parents.values())
