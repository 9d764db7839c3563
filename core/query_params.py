"""Query parameters every list shares."""

from __future__ import annotations

from core.errors import InvalidInput


def parse_positive(request, name: str, default: int, maximum: int | None = None) -> int:
    """A whole number of at least 1 (and at most ``maximum``), or ``default`` when absent; a
    400 naming the parameter otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    valid = raw.isascii() and raw.isdigit() and len(raw) <= 12
    if not valid or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        limit = f" and at most {maximum}" if maximum else ""
        raise InvalidInput(f"{name} must be a whole number of at least 1{limit}.", field=name)
    return int(raw)
