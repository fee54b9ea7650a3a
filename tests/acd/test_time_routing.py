"""Time-based routing (queue-admin.md §2.3, §15.53, §15.54)."""

import datetime as dt

import pytest
from acd_helpers import make, of_type, queue, rung

from acd import AcdConfigError
from acd.commands import PlayPrompt, RouteTask
from acd.config import DestinationType
from acd.events import RouteReason, TaskJoined, TaskRouted

BERLIN = dt.timezone(dt.timedelta(hours=1))  # CET in winter
HOURS = [{"time_zone": "Europe/Berlin",
          "periods": [{"days": ["mon", "tue", "wed", "thu", "fri"], "time": "09:00-18:00"}]}]
HOLIDAYS = [{"name": "Christmas", "time_zone": "Europe/Berlin", "start": "2026-12-25",
             "end": "2026-12-26", "prompt": "christmas-greeting"}]


def _acd(**rule: object):  # type: ignore[no-untyped-def]
    tbr = {"time_zone": "Europe/Berlin",
           "outside_business_hours": {"type": "voicemail", "target": "1001"},
           "holiday": {"type": "prompt", "target": "closed-holiday"}}
    tbr.update(rule)
    return make(queue(static_agents=["1001"], time_based_routing=tbr),
                business_hours=HOURS, holidays=HOLIDAYS)


def _route(out):  # type: ignore[no-untyped-def]
    (routed,) = of_type(out, TaskRouted)
    return routed


def test_business_hours_join_the_queue() -> None:
    acd = _acd()
    out = acd.handle_task_arrived("c1", "6400", 0.0,
                                  wall_clock=dt.datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN))
    assert of_type(out, TaskJoined) and rung(out) == [("1001",)]


def test_outside_business_hours_destination() -> None:
    acd = _acd()
    out = acd.handle_task_arrived("c1", "6400", 0.0,
                                  wall_clock=dt.datetime(2026, 11, 24, 19, 0, tzinfo=BERLIN))
    assert _route(out).reason is RouteReason.OUTSIDE_BUSINESS_HOURS
    assert of_type(out, RouteTask)[0].destination.type is DestinationType.VOICEMAIL
    assert not of_type(out, TaskJoined)


def test_time_zone_is_the_queues() -> None:
    acd = _acd()  # 08:30 UTC = 09:30 Berlin -> open
    out = acd.handle_task_arrived("c1", "6400", 0.0,
                                  wall_clock=dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC))
    assert of_type(out, TaskJoined)


def test_holiday_destination_with_prompt() -> None:
    acd = _acd(play_holiday_prompt=True)
    out = acd.handle_task_arrived("c1", "6400", 0.0,
                                  wall_clock=dt.datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN))
    assert _route(out).reason is RouteReason.HOLIDAY
    assert of_type(out, PlayPrompt)[0].prompt == "christmas-greeting"
    assert of_type(out, RouteTask)[0].destination.target == "closed-holiday"


def test_holiday_without_prompt_setting_routes_directly() -> None:
    """§15.54: no prompt played."""
    acd = _acd(play_holiday_prompt=False)
    out = acd.handle_task_arrived("c1", "6400", 0.0,
                                  wall_clock=dt.datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN))
    assert not of_type(out, PlayPrompt)
    assert _route(out).reason is RouteReason.HOLIDAY


def test_ignore_holiday_destination_uses_business_hours() -> None:
    acd = _acd(ignore_holiday_destination=True)  # Dec 25 2026 is a Friday
    out = acd.handle_task_arrived("c1", "6400", 0.0,
                                  wall_clock=dt.datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN))
    assert of_type(out, TaskJoined)
    out = acd.handle_task_arrived("c2", "6400", 0.0,
                                  wall_clock=dt.datetime(2026, 12, 25, 20, 0, tzinfo=BERLIN))
    assert _route(out).reason is RouteReason.OUTSIDE_BUSINESS_HOURS


def test_time_zone_without_business_hours_is_a_config_error() -> None:
    with pytest.raises(AcdConfigError) as exc:
        make(queue(static_agents=["1001"], time_based_routing={
            "time_zone": "Asia/Shanghai",
            "outside_business_hours": {"type": "hangup"}}), business_hours=HOURS)
    assert exc.value.path == ("queues", 0, "time_based_routing", "time_zone")
