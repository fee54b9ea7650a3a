"""The printable page's chart axis: whole calls on every tick, "1 call" in the singular."""

from __future__ import annotations

import re

from softswitch.reports.output import chart_svg
from softswitch.reports.report import COUNT, TEXT, Column, Report, ReportFilters, Row


def _report(values: list[int]) -> Report:
    return Report(type="queue_performance_activity", title="Activity",
                  columns=[Column("bucket", "Time", TEXT), Column("answered", "Answered", COUNT)],
                  rows=[Row({"bucket": f"{h:02d}:00", "answered": v})
                        for h, v in enumerate(values)],
                  filters=ReportFilters(since=0.0, until=86400.0), chart=["answered"])


def _ticks(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]*)</text>', svg)


def test_a_peak_of_one_call_gives_whole_ticks_and_the_singular() -> None:
    assert _ticks(chart_svg(_report([1, 0]))) == ["0 calls", "1 call", "2 calls"]


def test_an_odd_peak_is_raised_to_even_so_the_middle_tick_is_whole() -> None:
    assert _ticks(chart_svg(_report([3, 7, 2]))) == ["0 calls", "4 calls", "8 calls"]
