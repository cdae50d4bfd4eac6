"""Bar charts as server-rendered SVG, for the group health page (no JavaScript, no library).

Each chart is an `<svg role="img">` named by its `<title>` and described by its `<desc>` (the
text alternative: what is counted, the totals and the highest bar), sized by its viewBox
alone, so it scales to its column. The page puts the same numbers in a table beside it.

Strict CSP: no `style` attribute and no `<style>` element. Colours are presentation attributes
(fill, stroke), which the classes in static/css/hearth.css ("Group health charts") override,
among others with system colours in forced-colours mode. Series differ by more than colour:
the first is solid, the second hatched, both outlined, each bar with its number on top
(where there is room) and a legend that shows the same fill.

Colours are from the Okabe–Ito palette, told apart with every common colour-vision deficiency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

WIDTH = 720
HEIGHT = 300
LEFT = 44  # room for the axis numbers
RIGHT = 8
TOP = 36  # room for the legend
BOTTOM = 44  # room for the category labels
MIN_LABEL_SPACING = 56  # viewBox units between two category labels
MIN_BAR_FOR_NUMBER = 16  # narrower bars have no number on top (the table has it)
INK = "#1f2430"
GRID = "#d9d3c7"


@dataclass(frozen=True)
class Style:
    css: str
    fill: str  # fill of the bar, or of its hatching's background
    hatch: str = ""  # colour of the hatching lines ("" for a solid bar)


SOLID = Style("solid", "#0072B2")
HATCHED = Style("hatched", "#E69F00", hatch="#5c3d00")
STYLES = (SOLID, HATCHED)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
) -> SafeString:
    """A bar chart, grouped when there are two series: one group of bars per label.

    `chart_id` must be unique in the page (it prefixes the ids of the title, description and
    hatching pattern). `description` is the text alternative, read in full by screen readers.
    """
    if not 1 <= len(series) <= len(STYLES):
        raise ValueError(f"a chart has 1 to {len(STYLES)} series, got {len(series)}")
    if any(len(one.values) != len(labels) for one in series):
        raise ValueError("each series needs one value per label")
    ident = escape(chart_id)
    peak = max((value for one in series for value in one.values), default=0)
    top = nice_ceiling(peak)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    base = TOP + plot_height
    slot = plot_width / max(len(labels), 1)
    bar = max(min((slot * 0.8) / len(series), 48.0), 1.0)
    group_width = bar * len(series)

    parts = [
        f'<svg class="chart" role="img" aria-labelledby="{ident}-title" aria-describedby="{ident}-desc" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        "<defs>",
        f'<pattern id="{ident}-hatch" class="chart__hatch" width="6" height="6" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect class="chart__hatch-back" width="6" height="6" fill="{HATCHED.fill}"/>'
        f'<line class="chart__hatch-line" x1="1" y1="0" x2="1" y2="6" stroke="{HATCHED.hatch}" stroke-width="2"/>'
        "</pattern>",
        "</defs>",
    ]
    parts += _legend(ident, series)
    parts += _axis(top, base, plot_height)
    step = max(1, math.ceil(MIN_LABEL_SPACING / slot))
    for index, label in enumerate(labels):
        left = LEFT + slot * index + (slot - group_width) / 2
        for position, one in enumerate(series):
            x = left + bar * position
            parts += _bar(ident, STYLES[position], one.values[index], x, bar, top, base, plot_height)
        if index % step == 0:
            centre = LEFT + slot * index + slot / 2
            parts.append(
                f'<text class="chart__text chart__category" x="{centre:.1f}" y="{base + 18}" '
                f'text-anchor="middle" fill="{INK}">{escape(label)}</text>'
            )
    parts.append(f'<line class="chart__axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="{INK}"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every text in it went through escape()


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 4, 5, 6, 8, 10, 20, 40… at or above `value` (at least 1): the axis' top."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 4, 5, 6, 8, 10):
        if factor * magnitude >= value:
            return int(factor * magnitude)
    return int(10 * magnitude)  # pragma: no cover -- the loop always returns


def describe(series: Sequence[Series], labels: Sequence[str]) -> str:
    """For a text alternative: each series' total and its highest value, and where."""
    sentences = []
    for one in series:
        pairs = list(zip(one.values, labels, strict=True))
        if not pairs:
            sentences.append(_("%(series)s: not known.") % {"series": one.name})
            continue
        total = sum(value for value, _label in pairs)
        highest, where = max(pairs, key=lambda pair: pair[0])
        text = _("%(series)s: %(total)d in all, highest %(highest)d (%(where)s).") % {
            "series": one.name,
            "total": total,
            "highest": highest,
            "where": where,
        }
        sentences.append(text)
    return " ".join(sentences)


def _legend(ident: str, series: Sequence[Series]) -> list[str]:
    parts = []
    x = float(LEFT)
    for position, one in enumerate(series):
        style = STYLES[position]
        fill = f"url(#{ident}-hatch)" if style.hatch else style.fill
        parts.append(
            f'<rect class="chart__bar chart__bar--{style.css}" x="{x:.1f}" y="10" width="16" height="16" '
            f'fill="{fill}" stroke="{INK}"/>'
        )
        parts.append(f'<text class="chart__text" x="{x + 22:.1f}" y="23" fill="{INK}">{escape(one.name)}</text>')
        x += 22 + 8 * len(one.name) + 24
    return parts


def _axis(top: int, base: float, plot_height: float) -> list[str]:
    parts = []
    ticks = next((count for count in (4, 5, 3, 2) if top % count == 0), 1)
    for tick in range(ticks + 1):
        value = top * tick // ticks
        y = base - plot_height * tick / ticks
        if tick:
            parts.append(
                f'<line class="chart__grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                f'stroke="{GRID}" stroke-dasharray="3 3"/>'
            )
        parts.append(
            f'<text class="chart__text chart__tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="{INK}">{value}</text>'
        )
    return parts


def _bar(
    ident: str, style: Style, value: int, x: float, width: float, top: int, base: float, plot_height: float
) -> list[str]:
    centre = x + width / 2
    height = plot_height * value / top
    fill = f"url(#{ident}-hatch)" if style.hatch else style.fill
    parts = [
        f'<rect class="chart__bar chart__bar--{style.css}" x="{x:.1f}" y="{base - height:.1f}" '
        f'width="{width:.1f}" height="{height:.1f}" fill="{fill}" stroke="{INK}" stroke-width="1"/>'
    ]
    if width >= MIN_BAR_FOR_NUMBER:
        parts.append(
            f'<text class="chart__text chart__value" x="{centre:.1f}" y="{base - height - 4:.1f}" '
            f'text-anchor="middle" fill="{INK}">{value}</text>'
        )
    return parts
