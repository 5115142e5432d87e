"""Charts as inline SVG, drawn on the server: no script, no CDN, the same picture on the
dashboard, in print and in the weekly PDF (WeasyPrint renders inline SVG).

Every label is escaped; every chart has a ``<title>`` and ``role="img"`` with an accessible
name, and the page shows the same figures in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

#: Colours of the series (the project's red, then calm tones that print well in grey).
PALETTE = {
    "early": "#2e7d32", "on_time": "#81c784", "late": "#b3261e", "received": "#1f5fa8",
    "resolved": "#2e7d32", "pending": "#f2a900", "overdue": "#b3261e", "bar": "#1f5fa8",
}


def _fmt(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}"
    return f"{int(value):,}".replace(",", ".")


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, color: str = PALETTE["bar"],
              width: int = 640, bar_height: int = 22, label_width: int = 230,
              suffix: str = "") -> SafeString:
    """Horizontal bars, one per ``(label, value)``, the value written at the end of the bar."""
    rows = list(items)
    height = max(1, len(rows)) * (bar_height + 8) + 10
    peak = max((v for _l, v in rows), default=0) or 1
    span = width - label_width - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = 6 + i * (bar_height + 8)
        w = max(1.0, span * value / peak) if value else 0
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
            f'font-size="12" fill="#333">{escape(short)}<title>{escape(label)}</title></text>'
            f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_height}" '
            f'fill="{color}" rx="2"></rect>'
            f'<text x="{label_width + w + 6:.1f}" y="{y + bar_height * 0.7:.1f}" font-size="12" '
            f'fill="#111">{escape(_fmt(value))}{escape(suffix)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def stacked_bar(segments: Sequence[tuple[str, float, str]], *, title: str, width: int = 640
                ) -> SafeString:
    """One bar split in segments ``(label, value, colour)``, with a legend below."""
    total = sum(v for _l, v, _c in segments) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {width} 70" width="100%" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
    ]
    x = 0.0
    for label, value, colour in segments:
        w = width * value / total
        if w > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="4" width="{w:.1f}" height="28" fill="{colour}">'
                f'<title>{escape(label)}: {escape(_fmt(value))}</title></rect>'
            )
        x += w
    lx = 0
    for label, value, colour in segments:
        text = f"{label}: {_fmt(value)}"
        parts.append(
            f'<rect x="{lx}" y="44" width="12" height="12" fill="{colour}"></rect>'
            f'<text x="{lx + 16}" y="54" font-size="12" fill="#222">{escape(text)}</text>'
        )
        lx += 24 + 7 * len(text)
    parts.append("</svg>")
    return mark_safe("".join(parts))


def line_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], *,
               title: str, width: int = 640, height: int = 220) -> SafeString:
    """Lines over the ``labels`` (weeks), one per series ``(name, values, colour)``."""
    left, right, top, bottom = 44, 10, 12, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _n, values, _c in series for v in values), default=0) or 1
    n = max(1, len(labels) - 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
    ]
    for k in range(5):
        value = peak * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd">'
            f'</line><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{escape(_fmt(round(value)))}</text>'
        )
    step = 1 if len(labels) <= 8 else 2  # every other week when they would overlap
    for i, label in enumerate(labels):
        if (len(labels) - 1 - i) % step:
            continue
        x = left + plot_w * i / n
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="#555">{escape(label)}</text>'
        )
    lx = left
    for name, values, colour in series:
        points = " ".join(
            f"{left + plot_w * i / n:.1f},{top + plot_h - plot_h * v / peak:.1f}"
            for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5">'
            f"</polyline>"
        )
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{left + plot_w * i / n:.1f}" '
                f'cy="{top + plot_h - plot_h * v / peak:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[i])}: {escape(_fmt(v))}</title></circle>"
            )
        parts.append(
            f'<rect x="{lx}" y="{height - 16}" width="12" height="12" fill="{colour}"></rect>'
            f'<text x="{lx + 16}" y="{height - 6}" font-size="12" fill="#222">{escape(name)}'
            f"</text>"
        )
        lx += 30 + 7 * len(name)
    parts.append("</svg>")
    return mark_safe("".join(parts))
