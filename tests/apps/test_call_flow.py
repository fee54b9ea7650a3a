"""Call flows: business hours, holidays and the manual night toggle (softswitch.apps.call_flow)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from acd.config import BusinessHours, Destination, DestinationType, Holiday, TimeBasedRouting
from softswitch.apps.call_flow import CallFlowConfig, ToggleFlow, call_flow_destination
from softswitch.apps.events import CallFlowToggled
from softswitch.apps.flow import Answer, CallInfo, Hangup, Play, Publish

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
DAY = Destination(DestinationType.QUEUE, "6400")
NIGHT = Destination(DestinationType.VOICEMAIL, "1001")
XMAS = Destination(DestinationType.PROMPT, "christmas-greeting")
HOURS = BusinessHours("Europe/Berlin", {d: ((dt.time(9), dt.time(18)),) for d in range(5)})
HOLIDAYS = (Holiday("Christmas", "Europe/Berlin", dt.date(2026, 12, 25),
                    dt.date(2026, 12, 26)),)
FLOW = CallFlowConfig("7100", "Office", DAY,
                      TimeBasedRouting("Europe/Berlin", NIGHT, XMAS), toggle_code="*280")


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_schedule_day_night_and_holiday() -> None:
    assert call_flow_destination(FLOW, False, HOURS, HOLIDAYS, at(2026, 12, 2, 10, 0)) == DAY
    assert call_flow_destination(FLOW, False, HOURS, HOLIDAYS, at(2026, 12, 2, 18, 0)) == NIGHT
    assert call_flow_destination(FLOW, False, HOURS, HOLIDAYS, at(2026, 12, 5, 11, 0)) == NIGHT
    assert call_flow_destination(FLOW, False, HOURS, HOLIDAYS, at(2026, 12, 25, 11, 0)) == XMAS


def test_forced_night_wins_over_hours_and_holidays() -> None:
    for when in (at(2026, 12, 2, 10, 0), at(2026, 12, 25, 11, 0)):
        assert call_flow_destination(FLOW, True, HOURS, HOLIDAYS, when) == NIGHT


def test_toggle_call_flips_says_the_new_mode_and_hangs_up() -> None:
    call = CallInfo("c1", "1001", "Alice", "*280", "en")
    flow = ToggleFlow(FLOW, forced=False)
    out = flow.start(call, 5.0)
    assert isinstance(out[0], Answer)
    assert Publish(CallFlowToggled(5.0, "7100", "night", "1001")) in out
    play = out[-1]
    assert isinstance(play, Play) and list(play.parts) == ["call-flow-night-mode"]
    assert flow.handle_playback_done(play.play_id, False, 7.0) == [Hangup()]
    back = ToggleFlow(FLOW, forced=True).start(call, 9.0)
    assert Publish(CallFlowToggled(9.0, "7100", "", "1001")) in back
