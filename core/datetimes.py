"""Date-times as the API writes them, and as staff read them on pages and in messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

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


def remaining(valid_from: datetime, valid_until: datetime, now: datetime | None = None) -> str:
    """ "2 h 5 min left", "starts in 40 min", "expired"."""
    now = now or timezone.now()
    if valid_until <= now:
        return "expired"
    if valid_from > now:
        return f"starts in {span(valid_from - now)}"
    return f"{span(valid_until - now)} left"


def span(delta: timedelta) -> str:
    """A duration in words: "4 h", "1 d 2 h", "45 min"."""
    minutes = max(1, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def until(moment: datetime, now: datetime | None = None) -> str:
    """ "until 14:00 today", "until 09:30 tomorrow", "until 2026-12-10 14:00" (local time)."""
    local, today = timezone.localtime(moment), timezone.localtime(now or timezone.now()).date()
    if local.date() == today:
        return f"until {local:%H:%M} today"
    if local.date() == today + timedelta(days=1):
        return f"until {local:%H:%M} tomorrow"
    return f"until {local:%Y-%m-%d %H:%M}"
