"""Charts as server-rendered SVG: an indicator over periods, and a funnel plot of providers.

Plain string building, not a charting library: the two charts are a few dozen shapes each, a
library (Vega-Lite through vl-convert, matplotlib) would bring a renderer of hundreds of MB and
emit inline ``style`` attributes the CSP refuses. Here every colour is a presentation attribute
(``fill=``, ``stroke=``), which ``style-src 'self'`` allows, and every text is escaped.

Each chart is ``role="img"`` with a ``<title>`` and a ``<desc>`` it is labelled by; the page
shows the same figures as a table beside it (the table is the accessible alternative, and what
the CSV download holds). Nothing here reads a database or decides what may be shown: the
callers pass only published figures, and suppressed periods or providers as such.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from app.reports.statistics import funnel_limits

PRIMARY = "#154273"  # the theme's dark blue, 10.3:1 on white
TEXT = "#1a1a1a"
MUTED = "#4d4d4d"  # 8.5:1 on white
GRID = "#d0d5dd"
GAP_FILL = "#f3f5f8"
LIMIT_95 = "#8a4b00"  # 6.3:1 on white: a non-text line needs 3:1
LIMIT_998 = "#a4000f"

WIDTH = 720
HEIGHT = 340
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 20, 64


def number_nl(value: float, digits: int = 1) -> str:
    """A number the Dutch way: a decimal comma, no thousands separator ("12,5")."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",")


def _attrs(**attrs: object) -> Markup:
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:.1f}"
        parts.append(Markup('{}="{}"').format(name.rstrip("_").replace("_", "-"), str(value)))
    return Markup(" ").join(parts)


def _el(tag: str, text: str | None = None, **attrs: object) -> Markup:
    if text is None:
        return Markup("<{} {}/>").format(tag, _attrs(**attrs))
    return Markup("<{} {}>{}</{}>").format(tag, _attrs(**attrs), text, tag)


def _frame(chart_id: str, title: str, description: str, body: list[Markup]) -> Markup:
    title_id, desc_id = f"{chart_id}-titel", f"{chart_id}-beschrijving"
    head = Markup('<svg xmlns="http://www.w3.org/2000/svg" {} role="img" class="ttp-chart__svg" '
                  'font-family="Segoe UI, Helvetica Neue, Arial, sans-serif" font-size="13">').format(
        _attrs(id=chart_id, viewBox=f"0 0 {WIDTH} {HEIGHT}", aria_labelledby=f"{title_id} {desc_id}"))
    return Markup("\n").join([
        head,
        _el("title", title, id=title_id),
        _el("desc", description, id=desc_id),
        *body,
        Markup("</svg>"),
    ])


@dataclass(frozen=True)
class Scale:
    """A value axis: ``low``..``high`` with ticks every ``step``; ``suffix`` after tick labels."""

    low: float
    high: float
    step: float
    suffix: str = ""
    digits: int = 0

    def y(self, value: float) -> float:
        span = self.high - self.low or 1.0
        clipped = min(self.high, max(self.low, value))
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (clipped - self.low) / span)

    def ticks(self) -> list[float]:
        count = int(round((self.high - self.low) / self.step))
        return [self.low + i * self.step for i in range(count + 1)]


PERCENT = Scale(0, 100, 20, "%")
MARK = Scale(1, 10, 1, "", 0)


def _y_axis(scale: Scale, label: str) -> list[Markup]:
    out = []
    for tick in scale.ticks():
        y = scale.y(tick)
        out.append(_el("line", x1=LEFT, x2=WIDTH - RIGHT, y1=y, y2=y, stroke=GRID, stroke_width=1))
        out.append(_el("text", number_nl(tick, scale.digits) + scale.suffix, x=LEFT - 8, y=y + 4,
                       text_anchor="end", fill=MUTED))
    middle = (TOP + HEIGHT - BOTTOM) / 2
    out.append(_el("text", label, x=14, y=middle, text_anchor="middle", fill=TEXT,
                   transform=f"rotate(-90 14 {middle:.1f})"))
    out.append(_el("line", x1=LEFT, x2=LEFT, y1=TOP, y2=HEIGHT - BOTTOM, stroke=MUTED, stroke_width=1))
    out.append(_el("line", x1=LEFT, x2=WIDTH - RIGHT, y1=HEIGHT - BOTTOM, y2=HEIGHT - BOTTOM, stroke=MUTED,
                   stroke_width=1))
    return out


# ---- an indicator over periods ----------------------------------------------------------------
@dataclass(frozen=True)
class PeriodPoint:
    """One period of the series. ``status``: "shown" (value, maybe an interval), "suppressed"
    (withheld by disclosure control), "band" (only a bound is published: ``note``), or "missing"
    (no figures for the period)."""

    label: str
    status: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    note: str = ""


GAP_TEXT = {"suppressed": "afgeschermd", "missing": "geen gegevens"}


def period_chart(chart_id: str, title: str, description: str, points: Sequence[PeriodPoint], scale: Scale,
                 axis_label: str) -> Markup:
    """The value per period with its confidence interval as a whisker; a period without a value
    is a gap with a label saying why (never a point at 0)."""
    axis = _y_axis(scale, axis_label)
    gaps: list[Markup] = []
    marks: list[Markup] = []
    plot_width = WIDTH - LEFT - RIGHT
    band = plot_width / max(1, len(points))
    rotate = len(points) > 10
    middle = (TOP + HEIGHT - BOTTOM) / 2
    line: list[str] = []
    segments: list[list[str]] = []
    for i, point in enumerate(points):
        x = LEFT + band * (i + 0.5)
        label_y = HEIGHT - BOTTOM + 18
        if rotate:
            axis.append(_el("text", point.label, x=x, y=label_y, text_anchor="end", fill=TEXT,
                            transform=f"rotate(-40 {x:.1f} {label_y:.1f})"))
        else:
            axis.append(_el("text", point.label, x=x, y=label_y, text_anchor="middle", fill=TEXT))
        if point.status == "shown" and point.value is not None:
            y = scale.y(point.value)
            if point.low is not None and point.high is not None:
                y_low, y_high = scale.y(point.low), scale.y(point.high)
                marks.append(_el("line", x1=x, x2=x, y1=y_low, y2=y_high, stroke=PRIMARY, stroke_width=2))
                for cap in (y_low, y_high):
                    marks.append(_el("line", x1=x - 6, x2=x + 6, y1=cap, y2=cap, stroke=PRIMARY, stroke_width=2))
            marks.append(_el("circle", cx=x, cy=y, r=5, fill=PRIMARY))
            shown = number_nl(point.value, 1) + scale.suffix
            marks.append(_el("text", shown, x=x + 9, y=y - 6, fill=TEXT, font_size=12))
            line.append(f"{x:.1f},{y:.1f}")
            continue
        if len(line) > 1:
            segments.append(line)
        line = []
        gaps.append(_el("rect", x=x - band / 2 + 3, y=TOP, width=max(1.0, band - 6), height=HEIGHT - TOP - BOTTOM,
                        fill=GAP_FILL, stroke=MUTED, stroke_width=1, stroke_dasharray="4 3"))
        gap_text = point.note or GAP_TEXT.get(point.status) or "geen waarde"
        gaps.append(_el("text", gap_text, x=x, y=middle, text_anchor="middle", fill=MUTED, font_size=12,
                        transform=f"rotate(-90 {x:.1f} {middle:.1f})"))
    if len(line) > 1:
        segments.append(line)
    lines = [_el("polyline", points=" ".join(segment), fill="none", stroke=PRIMARY, stroke_width=1.5,
                 stroke_opacity=0.6) for segment in segments]
    return _frame(chart_id, title, description, [*axis, *gaps, *lines, *marks])


# ---- a funnel plot ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FunnelPoint:
    """A provider (or municipality) with a published share: ``rate`` as a fraction 0..1."""

    label: str
    n: int
    rate: float


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 10.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def funnel_chart(chart_id: str, title: str, description: str, target: float, points: Sequence[FunnelPoint],
                 *, n_from: int = 10, centre_label: str = "eigen gemiddelde") -> Markup:
    """Rate against denominator with the centre line at ``target`` and the 95% and 99.8%
    control limits (:func:`app.reports.statistics.funnel_limits`); one labelled dot per point."""
    widest = funnel_limits(target, max(1, n_from))
    top = max([p.rate for p in points] + [target, widest.high_998 if widest else 1.0])
    y_max = min(100, 10 * math.ceil(100 * top / 10 + 0.5))  # zoomed to the funnel, in whole tens of percent
    scale = Scale(0, y_max, 10 if y_max <= 60 else 20, "%")
    body = _y_axis(scale, "percentage")
    x_max = _nice_ceiling(max([p.n for p in points] + [n_from * 2]) * 1.1)
    plot_width = WIDTH - LEFT - RIGHT

    def x_of(n: float) -> float:
        return LEFT + plot_width * n / x_max

    for i in range(6):
        n = x_max * i / 5
        body.append(_el("text", number_nl(n, 0), x=x_of(n), y=HEIGHT - BOTTOM + 18, text_anchor="middle",
                        fill=MUTED))
    body.append(_el("text", "aantal (noemer)", x=LEFT + plot_width / 2, y=HEIGHT - BOTTOM + 40,
                    text_anchor="middle", fill=TEXT))
    samples = [n_from + (x_max - n_from) * (i / 80) ** 2 for i in range(81)]  # dense where the funnel bends
    for name in ("low_95", "high_95", "low_998", "high_998"):
        colour, dash = (LIMIT_95, "6 4") if name.endswith("95") else (LIMIT_998, "2 3")
        segments: list[list[str]] = [[]]
        for n in samples:
            limits = funnel_limits(target, max(1, round(n)))
            value = getattr(limits, name) if limits is not None else 0.0
            if 0.0 < value < 1.0 and 100 * value <= y_max:  # a clipped limit is no line: the axis is the bound
                segments[-1].append(f"{x_of(n):.1f},{scale.y(100 * value):.1f}")
            elif segments[-1]:
                segments.append([])
        for segment in segments:
            if len(segment) > 1:
                body.append(_el("polyline", points=" ".join(segment), fill="none", stroke=colour,
                                stroke_width=1.5, stroke_dasharray=dash))
    centre_y = scale.y(100 * target)
    body.append(_el("line", x1=x_of(0), x2=x_of(x_max), y1=centre_y, y2=centre_y, stroke=TEXT, stroke_width=1.5))
    # legend, top right
    lx, ly = WIDTH - RIGHT - 190, TOP + 6
    body.append(_el("rect", x=lx - 8, y=ly - 4, width=194, height=58, fill="#ffffff", stroke=GRID))
    legend: list[tuple[str, str | None, str]] = [(TEXT, None, f"{centre_label} ({number_nl(100 * target)}%)"),
                                                 (LIMIT_95, "6 4", "95%-grens"), (LIMIT_998, "2 3", "99,8%-grens")]
    for i, (stroke, pattern, text) in enumerate(legend):
        row_y = ly + 8 + 17 * i
        body.append(_el("line", x1=lx, x2=lx + 24, y1=row_y, y2=row_y, stroke=stroke, stroke_width=1.5,
                        stroke_dasharray=pattern))
        body.append(_el("text", text, x=lx + 30, y=row_y + 4, fill=TEXT, font_size=12))
    # the providers last, so the legend never hides one
    for point in sorted(points, key=lambda p: p.label):
        x, y = x_of(point.n), scale.y(100 * point.rate)
        body.append(_el("circle", cx=x, cy=y, r=5, fill=PRIMARY, stroke="#ffffff", stroke_width=1))
        anchor = "end" if x > WIDTH - RIGHT - 90 else "start"
        body.append(_el("text", point.label, x=x + (-9 if anchor == "end" else 9), y=y + 4, text_anchor=anchor,
                        fill=TEXT, font_size=12))
    return _frame(chart_id, title, description, body)
