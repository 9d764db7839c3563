"""Access changes as staff read them: sentences, not stored values.

``before``/``after`` of an access change hold field names and stored values (ISO date-times,
lists of scope strings, booleans). The log's pages say them in words: "scopes added:
audit.audit_read", "from 5 Dec 2026 14:25 until 16:25", "active: no → yes".
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime, parse_duration

LABELS = {
    "valid_from": "from",
    "valid_until": "until",
    "is_active": "active",
    "is_staff": "staff",
    "is_superuser": "superuser",
    "break_glass": "emergency self-activation",
    "max_temporary_access": "longest temporary access",
    "break_glass_per_day": "emergency activations per day",
    "first_name": "first name",
    "last_name": "last name",
    "email": "e-mail address",
    "request": "request no.",
}


def _moment(value: datetime) -> str:
    local = timezone.localtime(value)
    return f"{local.day} {local:%b %Y %H:%M}"


def _value(value) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    if isinstance(value, str):
        moment = parse_datetime(value) if "T" in value else None
        if moment is not None:
            return _moment(moment)
        if value.startswith("P") and (duration := parse_duration(value)) is not None:
            hours = duration.total_seconds() / 3600
            return f"{hours:g} hour{'s' if hours != 1 else ''}"
    return str(value)


def _window(before: dict, after: dict) -> str | None:
    """A granted window as one phrase: "from 5 Dec 2026 14:25 until 16:25" (the date again only
    when the window crosses midnight)."""
    start, end = after.get("valid_from"), after.get("valid_until") or before.get("valid_until")
    start = parse_datetime(start) if isinstance(start, str) else None
    end = parse_datetime(end) if isinstance(end, str) else None
    if end is None:
        return None
    if start is None:
        return f"until {_moment(end)}"
    local_start, local_end = timezone.localtime(start), timezone.localtime(end)
    until = f"{local_end:%H:%M}" if local_start.date() == local_end.date() else _moment(end)
    return f"from {_moment(start)} until {until}"


def describe(before: dict, after: dict) -> str:
    """The change in words, one phrase per changed field."""
    phrases = []
    window = _window(before, after)
    if window:
        phrases.append(window)
    for name in sorted(set(before) | set(after)):
        if window and name in ("valid_from", "valid_until"):
            continue
        label = LABELS.get(name, name.replace("_", " "))
        old, new = before.get(name), after.get(name)
        if isinstance(old, list) or isinstance(new, list):
            added = [item for item in new or [] if item not in (old or [])]
            removed = [item for item in old or [] if item not in (new or [])]
            if added:
                phrases.append(f"{label} added: {', '.join(map(str, added))}")
            if removed:
                phrases.append(f"{label} removed: {', '.join(map(str, removed))}")
        elif name not in before:
            phrases.append(f"{label}: {_value(new)}")
        elif name not in after:
            phrases.append(f"{label} was {_value(old)}")
        else:
            phrases.append(f"{label}: {_value(old)} → {_value(new)}")
    return "; ".join(phrases)
