"""Charts as SVG drawn on the server: no script and nothing fetched from elsewhere. Labels are
escaped like any other text of the page."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 40
COLOURS = ("#2563eb", "#d97706", "#059669", "#dc2626")


def _scale(top: float) -> float:
    """A top for the axis whose four grid steps are round: 1, 2, 2.5 or 5 times a power of
    ten (counts of 3 get an axis of 0-4, scores of 90 one of 0-100)."""
    quarter = max(top, 4) / 4
    power = 1.0
    while power * 10 < quarter:
        power *= 10
    return 4 * next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= quarter)


def _number(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def _frame(title: str, top: float, labels: Sequence[str], every: int) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{_number(top * i / 4)}</text>"
        )
    step = plot_w / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + step * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'class="axis">{escape(label)}</text>'
            )
    return parts


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]
) -> Markup:
    """One line per series over the labels (days); a None is a gap in its line."""
    values = [v for _, points in series for v in points if v is not None]
    top = _scale(max(values, default=0))
    every = max(1, len(labels) // 10)
    parts = _frame(title, top, labels, every)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)
    for n, (name, points) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        runs: list[list[str]] = [[]]
        for i, value in enumerate(points):
            if value is None:
                runs.append([])
                continue
            x, y = LEFT + step * (i + 0.5), TOP + plot_h - plot_h * value / top
            runs[-1].append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(labels[i])}: {escape(name)} {_number(value)}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(run)}"/>'
                )
        parts.append(
            f'<rect x="{LEFT + 120 * n}" y="{HEIGHT - 14}" width="10" height="10" '
            f'fill="{colour}"/><text x="{LEFT + 14 + 120 * n}" y="{HEIGHT - 5}" '
            f'class="legend">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> Markup:
    """One bar per label (hours of the day, buckets of a distribution, categories)."""
    top = _scale(max(values, default=0))
    every = max(1, len(labels) // 12)
    parts = _frame(title, top, labels, every)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)
    for i, value in enumerate(values):
        height = plot_h * value / top
        parts.append(
            f'<rect x="{LEFT + step * i + step * 0.15:.1f}" y="{TOP + plot_h - height:.1f}" '
            f'width="{step * 0.7:.1f}" height="{height:.1f}" fill="{COLOURS[0]}">'
            f"<title>{escape(labels[i])}: {_number(value)}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
