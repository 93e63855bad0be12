"""Inline SVG pictures for the UI's pages (pure functions, no I/O).

The confusion matrix is drawn in the browser from ``GET /ai-judging-runs/{id}/agreement``
(``static/app.js``), since the human judge is chosen on the page.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from releval_judge.scale import Scale

CHART_WIDTH = 480  # the bars share this width, up to MAX_BAR each
MAX_BAR = 72
MIN_BAR = 10
PLOT_HEIGHT = 150
MARGIN_TOP = 22
MARGIN_BOTTOM = 40
MARGIN_SIDE = 12


def _svg_head(
    kind: str, width: int, height: int, *, ident: str, title: str, description: str
) -> list[str]:
    """The opening of a chart: an ``img`` named by its title and described by its numbers
    (``description`` is escaped here)."""
    return [
        f'<svg class="chart{kind}" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{ident}-title {ident}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]


def grade_colour(grade: int, scale: Scale) -> str:
    """Red for the lowest grade through amber to green for the highest (HSL hue 0–130)."""
    share = (grade - scale.min) / (scale.max - scale.min)
    return f"hsl({round(130 * share)} 55% 42%)"


def grade_distribution_svg(
    counts: dict[int, int], scale: Scale, *, title: str, ident: str = "dist"
) -> Markup:
    """Bars of judgments per grade, every grade of the scale shown (zero included).

    Grades outside the scale (none are written, but counts come from the database) are
    left out. The numbers are in the picture as text and in its accessible description,
    so the chart does not depend on colour or sight.
    """
    grades = list(range(scale.min, scale.max + 1))
    values = [counts.get(g, 0) for g in grades]
    bar_width = max(MIN_BAR, min(MAX_BAR, (CHART_WIDTH * 3 // 4) // len(grades)))
    gap = max(2, bar_width // 4)
    # Every grade is written under its bar while there is room, else every fifth.
    every = 1 if bar_width >= 18 else 5
    total = sum(values)
    highest = max(values) if values and max(values) > 0 else 1
    width = MARGIN_SIDE * 2 + len(grades) * bar_width + (len(grades) - 1) * gap
    height = MARGIN_TOP + PLOT_HEIGHT + MARGIN_BOTTOM
    baseline = MARGIN_TOP + PLOT_HEIGHT
    description = ", ".join(
        f"grade {g}{_label_suffix(scale, g)}: {n}" for g, n in zip(grades, values, strict=True)
    )
    parts = _svg_head(
        "", width, height, ident=ident, title=title, description=f"{total} judgments. {description}"
    )
    parts.append(
        f'<line x1="{MARGIN_SIDE - 4}" y1="{baseline}" x2="{width - MARGIN_SIDE + 4}" '
        f'y2="{baseline}" class="axis"/>'
    )
    for i, (grade, n) in enumerate(zip(grades, values, strict=True)):
        x = MARGIN_SIDE + i * (bar_width + gap)
        bar = round(PLOT_HEIGHT * n / highest) if n else 0
        centre = x + bar_width / 2
        parts.append(
            f'<rect x="{x}" y="{baseline - bar}" width="{bar_width}" height="{bar}" '
            f'fill="{grade_colour(grade, scale)}" data-grade="{grade}" data-count="{n}"/>'
        )
        if bar_width >= 18:
            parts.append(
                f'<text x="{centre}" y="{baseline - bar - 6}" text-anchor="middle" '
                f'class="count">{n}</text>'
            )
        if (grade - scale.min) % every == 0:
            parts.append(
                f'<text x="{centre}" y="{baseline + 16}" text-anchor="middle" '
                f'class="grade">{grade}</text>'
            )
        label = scale.label(grade)
        if label and bar_width >= 40:
            parts.append(
                f'<text x="{centre}" y="{baseline + 32}" text-anchor="middle" '
                f'class="label">{escape(_short(label, (bar_width + gap) // 6))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _label_suffix(scale: Scale, grade: int) -> str:
    label = scale.label(grade)
    return f" ({label})" if label else ""


def _short(label: str, limit: int = 9) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


BAR_ROW = 18
BARS_WIDTH = 400  # drawn this wide; the page scales it to its column (several side by side)
LABEL_WIDTH = 110
VALUE_WIDTH = 48


def per_query_bars_svg(
    values: list[tuple[str, float | None]], *, title: str, ident: str = "bars"
) -> Markup:
    """One horizontal bar per query for a measure in [0, 1] (nDCG, P, AP, RR, judged),
    the value written beside it; a query without a value (None) gets an empty row."""
    plot = BARS_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = MARGIN_TOP + BAR_ROW * len(values) + 8
    description = ", ".join(f"{q}: {'none' if v is None else f'{v:.3f}'}" for q, v in values)
    parts = _svg_head(
        " bars", BARS_WIDTH, height, ident=ident, title=title, description=description
    )
    for i, (query_id, value) in enumerate(values):
        y = MARGIN_TOP + i * BAR_ROW
        share = 0.0 if value is None else max(0.0, min(1.0, value))
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 12}" text-anchor="end" class="label">'
            f"{escape(_short(query_id, 16))}</text>"
        )
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y + 2}" width="{round(plot * share, 1)}" '
            f'height="{BAR_ROW - 4}" fill="hsl({round(130 * share)} 55% 42%)" '
            f'data-query="{escape(query_id)}" data-value="{"" if value is None else value}"/>'
        )
        parts.append(
            f'<text x="{LABEL_WIDTH + plot + 6}" y="{y + 12}" class="count">'
            f"{'–' if value is None else f'{value:.3f}'}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


POSITION_WIDTH = 320
POSITION_LABEL = 90
POSITION_ROW = 26


def grade_by_position_svg(
    mean_first: float, mean_last: float, scale: Scale, *, title: str, ident: str = "position"
) -> Markup:
    """Two horizontal bars, an audit's mean grade of the same documents when first in their
    batch and when last, on the scale from its lowest grade (an empty bar) to its highest
    (a full one), each value written beside its bar. A judge without a position effect
    draws two bars of the same length."""
    plot = POSITION_WIDTH - POSITION_LABEL - VALUE_WIDTH
    span = scale.max - scale.min
    height = 2 * POSITION_ROW + 24
    rows = (("when first", mean_first), ("when last", mean_last))
    description = "; ".join(f"mean grade {name}: {value:.2f}" for name, value in rows)
    parts = _svg_head(
        " position",
        POSITION_WIDTH,
        height,
        ident=ident,
        title=title,
        description=f"{description} (scale {scale.min} to {scale.max})",
    )
    for i, (name, value) in enumerate(rows):
        y = 4 + i * POSITION_ROW
        share = max(0.0, min(1.0, (value - scale.min) / span))
        parts.append(
            f'<text x="{POSITION_LABEL - 6}" y="{y + 15}" text-anchor="end" class="label">'
            f"{name}</text>"
        )
        parts.append(
            f'<rect x="{POSITION_LABEL}" y="{y}" width="{round(plot * share, 1)}" '
            f'height="{POSITION_ROW - 6}" fill="hsl({round(130 * share)} 55% 42%)" '
            f'data-position="{name.split()[1]}" data-mean="{value:.4f}"/>'
        )
        parts.append(
            f'<text x="{POSITION_LABEL + plot + 6}" y="{y + 15}" class="count">{value:.2f}</text>'
        )
    axis = 2 * POSITION_ROW + 4
    parts.append(
        f'<line x1="{POSITION_LABEL}" y1="{axis}" x2="{POSITION_LABEL + plot}" y2="{axis}" '
        'class="axis"/>'
    )
    for grade, anchor, x in (
        (scale.min, "start", POSITION_LABEL),
        (scale.max, "end", POSITION_LABEL + plot),
    ):
        parts.append(
            f'<text x="{x}" y="{axis + 14}" text-anchor="{anchor}" class="label">{grade}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
