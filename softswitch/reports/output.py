"""A report as CSV, as a console table, and as a printable HTML page with its chart drawn
server-side as inline SVG (no script, prints as it shows). All three are made from
`Report.grid()`, so they show exactly the cells of the manual's tables."""

from __future__ import annotations

import csv
import html
import io
import json
import math
from typing import Any

from .report import COUNT, DURATION, Report

CSV_TYPE = "text/csv; charset=utf-8"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(report.grid())
    return out.getvalue()


def to_json(report: Report) -> str:
    return json.dumps(report.as_json(), ensure_ascii=False)


def to_table(report: Report) -> str:
    grid = report.grid()
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([report.title, *lines]) + "\n"


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


def chart_svg(report: Report, width: int = 720, height: int = 260) -> str:
    """Lines of the report's chart columns over its buckets (rows without the Total)."""
    rows = [r for r in report.rows if not r.total]
    columns = [c for c in report.columns if c.key in report.chart]
    if not rows or not columns:
        return ""
    left, right, top, bottom = 56, 16, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((float(r.values.get(c.key) or 0) for r in rows for c in columns), default=0)
    peak = peak or 1.0
    kind = columns[0].kind
    if kind == COUNT:  # whole calls on every tick: an even peak of at least 2
        peak = float(max(2, math.ceil(peak)))
        peak += peak % 2
    step = plot_w / max(len(rows) - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if len(rows) > 1 else plot_w / 2)

    def y(v: Any) -> float:
        return top + plot_h - float(v or 0) / peak * plot_h

    unit = "s" if kind == DURATION else ("calls" if kind == COUNT else "")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{html.escape(report.title)} chart">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
             f'y2="{top + plot_h}" stroke="#444"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>']
    for frac in (0.0, 0.5, 1.0):
        value = peak * frac
        label = f"{value:.0f} {'call' if unit == 'calls' and round(value) == 1 else unit}"
        label = label.strip()
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{html.escape(label)}</text>')
    every = max(1, len(rows) // 12)
    for i, row in enumerate(rows):
        if i % every == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" font-size="11" '
                         f'text-anchor="middle">{html.escape(str(row.values.get(report.columns[0].key, "")))}</text>')  # noqa: E501
    for n, column in enumerate(columns):
        colour = _COLOURS[n % len(_COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(r.values.get(column.key)):.1f}"
                          for i, r in enumerate(rows))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"><title>{html.escape(column.label)}</title></polyline>')
        for i, r in enumerate(rows):
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(r.values.get(column.key)):.1f}" '
                         f'r="3" fill="{colour}"/>')
        lx = left + n * 170
        parts.append(f'<rect x="{lx}" y="{height - 18}" width="10" height="10" '
                     f'fill="{colour}"/><text x="{lx + 14}" y="{height - 9}" '
                     f'font-size="11">{html.escape(column.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: Report) -> str:
    f = report.as_json()["filters"]
    grid = report.grid()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in grid[0])
    body = "".join(
        f'<tr{" class=total" if row.total else ""}>'
        + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        for row, cells in zip(report.rows, grid[1:], strict=True))
    scope = ", ".join(f["queues"]) or "all queues"
    agents = f" · agents {', '.join(f['agents'])}" if f["agents"] else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(report.title)}</title>
<style>
body {{ font: 13px sans-serif; margin: 24px; color: #111; }}
table {{ border-collapse: collapse; margin-top: 12px; }}
th, td {{ border: 1px solid #bbb; padding: 3px 8px; text-align: right; white-space: nowrap; }}
th:first-child, td:first-child {{ text-align: left; }}
tr.total td {{ font-weight: bold; background: #f2f2f2; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>{html.escape(report.title)}</h1>
<p>{html.escape(f["from"][:19])} ~ {html.escape(f["to"][:19])} ({html.escape(f["tz"])}) ·
{html.escape(scope)}{html.escape(agents)}</p>
{chart_svg(report)}
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>
"""
