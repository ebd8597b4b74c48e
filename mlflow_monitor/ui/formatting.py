"""How the pages write times, ages and long lists: one format everywhere, so rows line up.

Times are UTC, written ``YYYY-MM-DD HH:MM`` (``HH:MM:SS`` where seconds tell decisions apart:
the gates page); the page says "UTC" once. An age ("19 days ago") sits beside a verdict's
window end so a stale verdict shows at a glance; ``stale`` says when to flag it. A long list of
check ids shows its first few and "and N more" (the whole list goes in a ``title``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = [
    "STALE_AFTER",
    "ShortList",
    "age_text",
    "is_stale",
    "parse_utc",
    "short_list",
    "utc_text",
]

STALE_AFTER = timedelta(days=7)  # a verdict older than this is flagged (the gate's default max age)
SHOWN = 3


@dataclass(frozen=True)
class ShortList:
    """The first items of a list, how many more there are, and the whole list as one text."""

    shown: tuple[str, ...]
    more: int
    full: str


def parse_utc(text: str | None) -> datetime | None:
    """An ISO-8601 time as an aware UTC datetime (naive text is UTC); None when unreadable."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def utc_text(text: str | None, *, seconds: bool = False) -> str:
    """``YYYY-MM-DD HH:MM`` (with ``:SS`` when asked) in UTC; the text itself when unreadable."""
    parsed = parse_utc(text)
    if parsed is None:
        return text or ""
    return parsed.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def age_text(text: str | None, *, now: datetime | None = None) -> str:
    """How long ago: "just now", "5 minutes ago", "3 hours ago", "19 days ago"; "" if unknown."""
    parsed = parse_utc(text)
    if parsed is None:
        return ""
    seconds = ((now or datetime.now(timezone.utc)) - parsed).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = int(seconds // size)
        if count >= 1:
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def is_stale(text: str | None, *, now: datetime | None = None) -> bool:
    """True when the time is more than ``STALE_AFTER`` ago."""
    parsed = parse_utc(text)
    return parsed is not None and (now or datetime.now(timezone.utc)) - parsed > STALE_AFTER


def short_list(items: Sequence[str], *, shown: int = SHOWN) -> ShortList:
    """The first ``shown`` items, the count of the rest, and all of them comma-separated."""
    return ShortList(
        shown=tuple(items[:shown]), more=max(0, len(items) - shown), full=", ".join(items)
    )
