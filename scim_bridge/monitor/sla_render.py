"""The SLA report's three formats: one self-contained HTML file, CSV and JSON (issue 12).

The HTML is rendered by Jinja2 with autoescaping from ``templates/sla_report.html``: no
script, no external URL (no CDN, no web font), charts drawn as inline SVG from the geometry
computed here, and print CSS so the risk committee's PDF looks like the screen.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass
from importlib.resources import files

from jinja2 import Environment, Template, select_autoescape

from scim_bridge.errors import ConfigError
from scim_bridge.monitor.sla_report import SlaFigures

FORMATS = ("html", "csv", "json")
#: Chart geometry (SVG user units).
WIDTH, HEIGHT, PAD = 720, 180, 30


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: position, size, label, and whether it is below the target."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    low: bool


def render(figures: SlaFigures, fmt: str) -> str:
    """Render the report in ``fmt`` (html, csv or json)."""
    if fmt == "json":
        return json.dumps(figures.as_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(figures)
    if fmt == "html":
        return _html(figures)
    raise ConfigError(f"report format {fmt!r} is not one of {', '.join(FORMATS)}")


def _csv(f: SlaFigures) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "name", "value", "down_minutes", "measured_minutes", "elapsed_minutes"])
    for name in (
        "month",
        "tz",
        "target_percent",
        "availability_percent",
        "downtime_minutes",
        "measured_minutes",
        "elapsed_minutes",
        "coverage_percent",
        "maintenance_minutes",
        "credit_percent",
        "changes_processed",
        "dead_letters",
        "accuracy_percent",
    ):
        w.writerow(["summary", name, _plain(getattr(f, name)), "", "", ""])
    for key, value in f.sync_lag.percentiles.items():
        w.writerow(["sync_lag_seconds", key, _plain(value), "", "", ""])
    for day in f.daily:
        w.writerow(
            [
                "day",
                day.day,
                _plain(day.percent),
                day.down_minutes,
                day.measured_minutes,
                day.elapsed_minutes,
            ]
        )
    for i in f.incidents:
        w.writerow(["incident", f"{i.start}/{i.end or ''}", i.minutes, i.minutes, "", ""])
    return out.getvalue()


def _plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def pct(value: float | None, digits: int = 3) -> str:
    """Format a percentage for people ("n/a" when there is nothing to divide)."""
    return "n/a" if value is None else f"{value:.{digits}f}%"


def daily_bars(f: SlaFigures) -> list[Bar]:
    """Bars of daily availability, scaled from the month's lowest day (or 99%) to 100%."""
    if not f.daily:
        return []
    values = [d.percent for d in f.daily if d.percent is not None]
    lowest = min([99.0, *values, f.target_percent - 0.1])
    floor = lowest - max(0.1, (100.0 - lowest) * 0.15)  # the worst day still shows a bar
    slot = (WIDTH - 2 * PAD) / len(f.daily)
    bars = []
    for n, day in enumerate(f.daily):
        value = 100.0 if day.percent is None else day.percent
        height = (HEIGHT - 2 * PAD) * (value - floor) / (100.0 - floor)
        bars.append(
            Bar(
                x=PAD + n * slot + 1,
                y=HEIGHT - PAD - height,
                width=max(1.0, slot - 2),
                height=max(0.5, height),
                label=day.day[-2:],
                value=pct(day.percent),
                low=day.percent is not None and day.percent < f.target_percent,
            )
        )
    return bars


def lag_bars(f: SlaFigures) -> list[Bar]:
    """Bars of the sync-lag percentiles, on a log-like scale (sqrt) so seconds and hours fit."""
    known = {k: v for k, v in f.sync_lag.percentiles.items()}
    top = max([1.0, *(v for v in known.values() if v is not None)])
    slot = (WIDTH - 2 * PAD) / max(1, len(known))
    bars = []
    for n, (name, value) in enumerate(known.items()):
        shown = top if value is None else value
        height = (HEIGHT - 2 * PAD) * (shown / top) ** 0.5
        label = (
            "n/a" if f.sync_lag.changes == 0 else ("> 6 h" if value is None else f"≤ {value:g} s")
        )
        bars.append(
            Bar(
                PAD + n * slot + slot / 4,
                HEIGHT - PAD - height,
                slot / 2,
                height,
                name,
                label,
                False,
            )
        )
    return bars


def incident_marks(f: SlaFigures) -> list[Bar]:
    """Marks of each incident on a timeline of the month (position by its start day)."""
    days = max(1, len(f.daily))
    span = WIDTH - 2 * PAD
    marks = []
    for i in f.incidents:
        # An incident that began last month is drawn from this month's first minute.
        inside = i.start.startswith(f.month)
        day = int(i.start[8:10]) - 1 if inside else 0
        minute = int(i.start[11:13]) * 60 + int(i.start[14:16]) if inside else 0
        x = PAD + span * (day + minute / 1440) / days
        width = max(2.0, span * (i.minutes / 1440) / days)
        marks.append(Bar(x, PAD, width, 40, i.start[:16], f"{i.minutes} min", True))
    return marks


@functools.cache
def _template() -> Template:
    """Compile the report's template once per process: compiling costs more than rendering
    (about 150 ms against 20 ms), and the console's report page renders it on every request."""
    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
    env.filters["pct"] = pct
    source = files("scim_bridge.monitor").joinpath("templates/sla_report.html").read_text("utf-8")
    return env.from_string(source)


def _html(f: SlaFigures) -> str:
    return _template().render(
        f=f,
        width=WIDTH,
        height=HEIGHT,
        pad=PAD,
        days=daily_bars(f),
        lags=lag_bars(f),
        marks=incident_marks(f),
    )
