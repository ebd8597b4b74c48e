"""Text and colour helpers shared by the inline views: escaping, numbers, status colours."""

from __future__ import annotations

import html
import math

GREY = "#6e7781"

# Health of a window (a badge, a strip square, a sparkline point). Amber and red are dark enough
# for white text on the badge and visible on both light and dark notebook themes.
HEALTH_COLOURS = {
    "healthy": "#1a7f37",
    "warning": "#9a6700",
    "critical": "#cf222e",
    "error": "#6e2c2c",
}

# Status of one check (a bar of the drift chart).
STATUS_COLOURS = {
    "fail": "#cf222e",
    "warn": "#d4a72c",
    "pass": "#6a9f78",
}


def esc(value: object) -> str:
    """Text made safe for both element content and quoted attribute values."""
    return html.escape(str(value), quote=True)


def finite(value: object) -> float | None:
    """``value`` as a float when it is a real, finite number; else ``None`` (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def number_text(value: float) -> str:
    """A number to 4 significant digits: ``0.1235``, ``1500``, ``nan``."""
    return f"{value:.4g}"


def cell_text(value: object) -> str:
    """A table cell's text: ``None`` is empty, floats have 4 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        return number_text(value)
    return str(value)


def health_colour(health: object) -> str:
    """The colour of a window's health; grey for anything unknown (no verdict, no baseline)."""
    return HEALTH_COLOURS.get(str(health), GREY)


def status_colour(status: object) -> str:
    """The colour of a check's status; grey for insufficient_data, not_evaluated, error, none."""
    return STATUS_COLOURS.get(str(status), GREY)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
