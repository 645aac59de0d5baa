"""A small SVG line-chart writer for the report: lines (with gaps), step lines, shaded bands,
horizontal reference lines and labelled vertical markers, with tick labels and a legend.

Written here rather than vendored: the report must open offline as one file, the charts needed
are few and simple, and plain SVG text is easy to test. Pure string building; no I/O.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f6fb4", "#e8710a", "#2c9f45", "#c73a3a", "#7b4fb0", "#8c564b", "#d36bb8")
MUTED = "#6b7280"
Point = float | None
Scale = Callable[[float], float]


@dataclass(frozen=True)
class Line:
    name: str
    xs: Sequence[float]
    ys: Sequence[Point]
    color: str
    dashed: bool = False
    step: bool = False  # hold each value until the next x (configured weights)
    width: float = 1.8
    dots: bool = False


@dataclass(frozen=True)
class Band:
    xs: Sequence[float]
    lower: Sequence[Point]
    upper: Sequence[Point]
    color: str


@dataclass(frozen=True)
class Marker:
    x: float
    label: str
    color: str = MUTED


@dataclass(frozen=True)
class HLine:
    y: float
    label: str
    color: str = MUTED


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.3g}%"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _runs(xs: Sequence[float], ys: Sequence[Point]) -> list[list[tuple[float, float]]]:
    """Consecutive defined points (a None breaks the line)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if y is None or not math.isfinite(y):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


class Chart:
    def __init__(
        self,
        title: str,
        *,
        x_max: float,
        width: int = 960,
        height: int = 250,
        y_label: str = "",
        percent: bool = False,
        y_min: float | None = None,
        y_max: float | None = None,
    ) -> None:
        self.title, self.x_max = title, max(x_max, 1e-9)
        self.width, self.height = width, height
        self.y_label, self.percent = y_label, percent
        self.y_min, self.y_max = y_min, y_max
        self.lines: list[Line] = []
        self.bands: list[Band] = []
        self.markers: list[Marker] = []
        self.hlines: list[HLine] = []
        self.left, self.right, self.top, self.bottom = 64, 150, 30, 34

    def _y_range(self) -> tuple[float, float]:
        values = [y for line in self.lines for y in line.ys if y is not None and math.isfinite(y)]
        values += [y for band in self.bands for y in (*band.lower, *band.upper) if y is not None]
        values += [h.y for h in self.hlines]
        low = self.y_min if self.y_min is not None else min(values, default=0.0)
        high = self.y_max if self.y_max is not None else max(values, default=1.0)
        if high <= low:
            high = low + (abs(low) or 1.0)
        pad = (high - low) * 0.05
        return (low if self.y_min is not None else low - pad), (
            high if self.y_max is not None else high + pad
        )

    def render(self) -> str:
        low, high = self._y_range()
        plot_w = self.width - self.left - self.right
        plot_h = self.height - self.top - self.bottom

        def px(x: float) -> float:
            return self.left + min(max(x, 0.0), self.x_max) / self.x_max * plot_w

        def py(y: float) -> float:
            clamped = min(max(y, low), high)
            return self.top + (1 - (clamped - low) / (high - low)) * plot_h

        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}"'
            f' viewBox="0 0 {self.width} {self.height}" font-family="sans-serif" font-size="11">',
            f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="#fff"/>',
            f'<text x="{self.left}" y="18" font-size="13" font-weight="bold">'
            f"{escape(self.title)}</text>",
        ]
        for tick in nice_ticks(low, high):
            y = py(tick)
            out.append(
                f'<line x1="{self.left}" x2="{self.left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#e5e7eb"/>'
                f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
                f"{escape(_fmt(tick, self.percent))}</text>"
            )
        for tick in nice_ticks(0.0, self.x_max, 8):
            x = px(tick)
            out.append(
                f'<text x="{x:.1f}" y="{self.top + plot_h + 16}" text-anchor="middle" '
                f'fill="{MUTED}">{escape(_fmt(tick, False))}</text>'
            )
        out.append(
            f'<text x="{self.left + plot_w}" y="{self.height - 4}" text-anchor="end" '
            f'fill="{MUTED}">seconds into the run</text>'
        )
        if self.y_label:
            out.append(
                f'<text x="12" y="{self.top + plot_h / 2:.1f}" fill="{MUTED}" '
                f'transform="rotate(-90 12 {self.top + plot_h / 2:.1f})" text-anchor="middle">'
                f"{escape(self.y_label)}</text>"
            )
        out.append(
            f'<rect x="{self.left}" y="{self.top}" width="{plot_w}" height="{plot_h}" '
            'fill="none" stroke="#9ca3af"/>'
        )
        for band in self.bands:
            out.extend(self._band(band, px, py))
        for h in self.hlines:
            y = py(h.y)
            out.append(
                f'<line x1="{self.left}" x2="{self.left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{h.color}" stroke-dasharray="2 3"/>'
                f'<text x="{self.left + plot_w - 4}" y="{y - 3:.1f}" text-anchor="end" '
                f'fill="{h.color}">{escape(h.label)}</text>'
            )
        for number, marker in enumerate(self.markers):
            x = px(marker.x)
            label_y = self.top + 10 + (number % 3) * 11
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.top}" y2="{self.top + plot_h}" '
                f'stroke="{marker.color}" stroke-dasharray="4 3"/>'
                f'<text x="{x + 3:.1f}" y="{label_y}" fill="{marker.color}">'
                f"{escape(marker.label)}</text>"
            )
        for line in self.lines:
            out.extend(self._line(line, px, py))
        out.extend(self._legend(plot_w))
        out.append("</svg>")
        return "".join(out)

    def _line(self, line: Line, px: Scale, py: Scale) -> list[str]:
        parts = []
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        for run in _runs(line.xs, line.ys):
            if line.step:
                stepped: list[tuple[float, float]] = []
                for number, (x, y) in enumerate(run):
                    if number:
                        stepped.append((x, stepped[-1][1]))
                    stepped.append((x, y))
                stepped.append((self.x_max, stepped[-1][1]))
                run = stepped
            points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
            parts.append(
                f'<polyline fill="none" stroke="{line.color}" stroke-width="{line.width}"{dash} '
                f'points="{points}"/>'
            )
            if line.dots:
                parts.extend(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2" fill="{line.color}"/>'
                    for x, y in run
                )
        return parts

    def _band(self, band: Band, px: Scale, py: Scale) -> list[str]:
        parts = []
        both = [
            (x, lo, hi)
            for x, lo, hi in zip(band.xs, band.lower, band.upper, strict=True)
            if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
        ]
        if len(both) >= 2:
            upper = " ".join(f"{px(x):.1f},{py(hi):.1f}" for x, _, hi in both)
            lower = " ".join(f"{px(x):.1f},{py(lo):.1f}" for x, lo, _ in reversed(both))
            parts.append(
                f'<polygon points="{upper} {lower}" fill="{band.color}" fill-opacity="0.18" '
                'stroke="none"/>'
            )
        return parts

    def _legend(self, plot_w: int) -> list[str]:
        x = self.left + plot_w + 12
        parts = []
        named = [line for line in self.lines if line.name]
        for number, line in enumerate(named):
            y = self.top + 8 + number * 16
            dash = ' stroke-dasharray="6 4"' if line.dashed else ""
            parts.append(
                f'<line x1="{x}" x2="{x + 18}" y1="{y}" y2="{y}" stroke="{line.color}" '
                f'stroke-width="2"{dash}/>'
                f'<text x="{x + 24}" y="{y + 4}">{escape(line.name)}</text>'
            )
        return parts
