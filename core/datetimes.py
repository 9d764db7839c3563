"""Date-times as the API writes them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone


def iso_formatter() -> Callable[[datetime | None], str | None]:
    """Date-times as the API writes them: ISO 8601 in the current time zone, UTC as ``Z``.
    (The time zone is looked up once per response, not per value.)"""
    zone = timezone.get_current_timezone()

    def iso(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso
