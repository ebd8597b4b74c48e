"""Inline SVG charts for the notebook views: a bar chart, a sparkline, a health strip.

Plain SVG strings (no script, no external font or stylesheet): text and strokes use
``currentColor`` so they follow the notebook's light or dark theme.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlflow_monitor.views._format import esc, finite, number_text, status_colour, truncate

MAX_BARS = 12
LABEL_CHARS = 28
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11"'

# Bar chart geometry (px).
_ROW = 20
_BAR = 12
_TOP = 24
_FOOT = 18
_VALUE_W = 56


def _svg_open(width: float, height: float, label: str) -> str:
    """The root ``<svg>`` tag: sized, labelled for screen readers, theme-coloured text."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{esc(label)}" '
        f'{_FONT} fill="currentColor" style="display:block;overflow:visible">'
    )


# -- bar chart ---------------------------------------------------------------------------------


def _rank(bar: Mapping[str, object]) -> tuple[int, float]:
    """How much a bar deserves a place: value/bound ratio first, then raw value, n/a last."""
    value = finite(bar.get("value"))
    bound = finite(bar.get("bound"))
    if value is None:
        return (0, 0.0)
    if bound is not None and bound > 0:
        return (2, value / bound)
    return (1, value)


def _keep(bars: Sequence[Mapping[str, object]], limit: int) -> list[Mapping[str, object]]:
    """The ``limit`` highest-ranked bars, in their given order."""
    if len(bars) <= limit:
        return list(bars)
    ranked = sorted(range(len(bars)), key=lambda i: _rank(bars[i]), reverse=True)
    return [bars[i] for i in sorted(ranked[:limit])]


def _scale(bars: Sequence[Mapping[str, object]]) -> float:
    """The right end of the axis: the largest finite value or bound (1 when there is none)."""
    ends = [finite(bar.get(key)) for bar in bars for key in ("value", "bound")]
    largest = max((end for end in ends if end is not None), default=0.0)
    return largest if largest > 0 else 1.0


def _bar_tip(bar: Mapping[str, object], value: float | None, bound: float | None) -> str:
    """The tooltip of one bar: full label, value, bound and status."""
    parts = [f"{bar.get('label', '')}: {'n/a' if value is None else number_text(value)}"]
    if bound is not None:
        parts.append(f"bound {number_text(bound)}")
    if bar.get("status"):
        parts.append(str(bar.get("status")))
    return ", ".join(parts)


def _bar_row(bar: Mapping[str, object], y: float, x0: float, plot_w: float, top: float) -> str:
    """One ``<g>``: label, bar, bound tick and value text, with a tooltip over all of it."""
    value = finite(bar.get("value"))
    bound = finite(bar.get("bound"))
    label = str(bar.get("label", ""))
    middle = y + _BAR / 2
    parts = [
        f"<g><title>{esc(_bar_tip(bar, value, bound))}</title>",
        f'<text x="{x0 - 6:.1f}" y="{middle:.1f}" dy="0.35em" text-anchor="end">'
        f"{esc(truncate(label, LABEL_CHARS))}</text>",
    ]
    if value is not None:
        length = max(value, 0.0) / top * plot_w
        parts.append(
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{length:.1f}" height="{_BAR}" rx="2" '
            f'fill="{esc(status_colour(bar.get("status")))}"/>'
        )
    if bound is not None and bound >= 0:
        at = x0 + bound / top * plot_w
        parts.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{y - 3:.1f}" y2="{y + _BAR + 3:.1f}" '
            'stroke="currentColor" stroke-width="2"/>'
        )
    shown = "n/a" if value is None else number_text(value)
    parts.append(
        f'<text x="{x0 + plot_w + 6:.1f}" y="{middle:.1f}" dy="0.35em">{esc(shown)}</text></g>'
    )
    return "".join(parts)


def bar_chart_svg(bars: Sequence[Mapping[str, object]], *, title: str, width: int = 420) -> str:
    """A horizontal bar chart of ``label``/``value`` with an optional ``bound`` tick per bar.

    Bars are coloured by ``status`` (fail red, warn amber, pass green, others grey) and scaled
    from 0 to the largest finite value or bound; a missing, NaN or infinite value reads "n/a".
    Over 12 bars, the 12 nearest to or furthest past their bound are kept ("12 of N shown").
    Empty input gives "" (no chart).
    """
    if not bars:
        return ""
    kept = _keep(bars, MAX_BARS)
    top = _scale(kept)
    label_w = min(175.0, width * 0.42)
    plot_w = max(width - label_w - _VALUE_W, 40.0)
    footer = len(kept) < len(bars)
    height = _TOP + len(kept) * _ROW + (_FOOT if footer else 0)
    parts = [
        _svg_open(width, height, title),
        f'<text x="0" y="14" font-size="12" font-weight="600">{esc(title)}</text>',
    ]
    for index, bar in enumerate(kept):
        parts.append(_bar_row(bar, _TOP + index * _ROW + 2, label_w, plot_w, top))
    if footer:
        parts.append(
            f'<text x="0" y="{height - 4}" fill-opacity="0.7">'
            f"{len(kept)} of {len(bars)} shown</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# -- sparkline ---------------------------------------------------------------------------------


def _x_positions(count: int, left: float, span: float) -> list[float]:
    """Evenly spaced x of ``count`` windows (one window sits in the middle)."""
    if count == 1:
        return [left + span / 2]
    return [left + span * index / (count - 1) for index in range(count)]


def sparkline_svg(
    values: Sequence[object],
    *,
    colours: Sequence[str],
    tips: Sequence[str],
    name: str,
    width: int = 320,
    height: int = 60,
) -> str:
    """A small line chart of one metric over windows, points coloured, min and max labelled.

    ``values``, ``colours`` and ``tips`` are parallel, one per window; windows without a finite
    value are skipped (the line joins its neighbours). No finite value at all gives "".
    """
    present = [(i, v) for i, raw in enumerate(values) if (v := finite(raw)) is not None]
    if not present:
        return ""
    pad, label_w = 6.0, 70.0
    xs = _x_positions(len(values), pad, width - label_w - 2 * pad)
    low, high = min(v for _, v in present), max(v for _, v in present)

    def y(value: float) -> float:
        if high == low:
            return height / 2
        return height - pad - (value - low) / (high - low) * (height - 2 * pad)

    line = " ".join(f"{xs[i]:.1f},{y(v):.1f}" for i, v in present)
    parts = [
        _svg_open(width, height, name),
        f'<polyline points="{line}" fill="none" stroke="currentColor" stroke-opacity="0.45" '
        'stroke-width="1.5"/>',
    ]
    for i, value in present:
        parts.append(
            f'<circle cx="{xs[i]:.1f}" cy="{y(value):.1f}" r="2.5" fill="{esc(colours[i])}">'
            f"<title>{esc(tips[i])}</title></circle>"
        )
    label_x = width - label_w + 4
    parts.append(f'<text x="{label_x:.1f}" y="{pad + 8:.1f}">max {number_text(high)}</text>')
    parts.append(f'<text x="{label_x:.1f}" y="{height - pad:.1f}">min {number_text(low)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- health strip ------------------------------------------------------------------------------


def health_strip_svg(cells: Sequence[tuple[str, str]], *, label: str = "health by window") -> str:
    """One coloured square per window, ``(tooltip, colour)`` each, oldest on the left."""
    if not cells:
        return ""
    size = 12 if len(cells) <= 60 else max(4, 720 // len(cells))
    step = size + 2
    parts = [_svg_open(len(cells) * step, size, label)]
    for index, (tip, colour) in enumerate(cells):
        parts.append(
            f'<rect x="{index * step}" y="0" width="{size}" height="{size}" rx="2" '
            f'fill="{esc(colour)}"><title>{esc(tip)}</title></rect>'
        )
    parts.append("</svg>")
    return "".join(parts)
