"""Where queue callers go over real SIP: queue priority across the queues an agent serves
(manual §5 example), time-based routing with the holiday prompt (§2.3), and the max-wait /
capacity failover (§9.2)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import audio
import pytest
from phones import Phone, wait_wav_complete
from queue_support import EN, phone, queue_config

from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

CALLER = ("3000", "caller-pw")
OTHER = ("3001", "other-pw")
AGENT = ("2000", "agent-pw")
EXTENSIONS = [Extension(*x) for x in (CALLER, OTHER, AGENT)]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def queue(number: str, name: str, **kw: Any) -> dict[str, Any]:
    return queue_config(number, name, **{"static_agents": [AGENT[0]], **kw})


PRIORITY = [queue("6470", "VIP", priority={"weight": 2}),
            queue("6471", "Support", priority={"weight": 1, "acceleration": 10})]


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=PRIORITY)
def test_priority_example(switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
    """Manual §5 with a 10 s acceleration instead of 60 s: call 1 (VIP, weight 2) and call 2
    (Support, weight 1) arrive together: call 1 rings the agent first. After call 2 has waited
    15.5 s its weight is 1 + 1.55 -> 3 (rounded half up) > 2: when call 3 enters VIP and the
    agent finishes call 1, call 2 is offered before call 3."""
    caller = phone(phone_factory, CALLER, switch)
    uri = f"sip:{{}}@{switch.host}:{switch.port}"
    call1 = caller.call(uri.format("6470"))
    call2 = caller.call(uri.format("6471"))
    caller.wait_call_state(call1, "CONFIRMED")
    caller.wait_call_state(call2, "CONFIRMED")
    joined2 = time.monotonic()
    agent = phone(phone_factory, AGENT, switch)  # the agent's phone comes online
    ring1 = agent.wait_incoming(timeout=10)
    assert agent.incoming(ring1)["from"].startswith('"VIP: ')
    agent.answer(ring1)
    agent.wait_call_state(ring1, "CONFIRMED")
    time.sleep(max(0.0, joined2 + 15.5 - time.monotonic()))
    call3 = caller.call(uri.format("6470"))
    caller.wait_call_state(call3, "CONFIRMED")
    time.sleep(0.3)
    agent.hangup(ring1)
    caller.wait_call_state(call1, "DISCONNECTED")
    ring2 = agent.wait_incoming(timeout=10)
    assert agent.incoming(ring2)["from"].startswith('"Support: ')
    agent.answer(ring2)
    agent.wait_call_state(ring2, "CONFIRMED")
    agent.hangup(ring2)
    caller.wait_call_state(call2, "DISCONNECTED")
    ring3 = agent.wait_incoming(timeout=10)
    assert agent.incoming(ring3)["from"].startswith('"VIP: ')
    agent.answer(ring3, 486)
    caller.hangup(call3)


def time_routing_config() -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    tokyo_day = dt.datetime.now(ZoneInfo("Asia/Tokyo")).weekday()
    return {
        "business_hours": [
            {"time_zone": "UTC", "periods": [{"days": DAYS, "time": "00:00-24:00"}]},
            # Tokyo: open only on a weekday three days away, so it is closed now
            {"time_zone": "Asia/Tokyo", "periods": [{"days": [DAYS[(tokyo_day + 3) % 7]],
                                                     "time": "09:00-18:00"}]}],
        "holidays": [{"name": "Test day", "time_zone": "UTC",
                      "start": str(today - dt.timedelta(days=1)),
                      "end": str(today + dt.timedelta(days=1)),
                      "prompt": "holiday-greeting"}],
    }


TIME_QUEUES = [
    queue("6480", "Holiday", time_based_routing={
        "time_zone": "UTC", "outside_business_hours": {"type": "hangup"},
        "holiday": {"type": "extension", "target": OTHER[0]}, "play_holiday_prompt": True}),
    queue("6481", "Tokyo", time_based_routing={
        "time_zone": "Asia/Tokyo",
        "outside_business_hours": {"type": "prompt", "target": "outside-business-hours"},
        "holiday": {"type": "hangup"}}),
    queue("6482", "Small", max_callers=1, max_wait=6,
          failover={"type": "prompt", "target": "goodbye"}),
]


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=TIME_QUEUES,
                           overrides=time_routing_config())
def test_time_based_routing_and_failover(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    caller, other = phone(phone_factory, CALLER, switch), phone(phone_factory, OTHER, switch)
    uri = f"sip:{{}}@{switch.host}:{switch.port}"

    # a holiday: the holiday prompt, then the holiday destination (extension 3001)
    call = caller.call(uri.format("6480"))
    caller.wait_call_state(call, "CONFIRMED")
    caller.wait_media(call)
    caller.record(call, tmp_path / "holiday.wav")
    ring = other.wait_incoming(timeout=15)
    heard = caller.stop_record(call)
    audio.wav_contains_prompt(heard, EN / "holiday-greeting.wav")
    other.answer(ring)
    other.wait_call_state(ring, "CONFIRMED")
    caller.hangup(call)
    assert other.wait_call_state(ring, "DISCONNECTED")["code"] == 200

    # outside business hours: the destination is a prompt, then the switch hangs up
    call = caller.call(uri.format("6481"))
    caller.wait_call_state(call, "CONFIRMED")
    caller.wait_media(call)
    rec = tmp_path / "closed.wav"
    caller.record(call, rec)
    assert caller.wait_call_state(call, "DISCONNECTED", timeout=15)["code"] == 200
    wait_wav_complete(rec)
    audio.wav_contains_prompt(rec, EN / "outside-business-hours.wav")

    # capacity 1: the second caller goes to failover at once; the first after max wait (6 s).
    # The failover plays "goodbye" (a prompt destination, run by the call shell), then BYE.
    first = caller.call(uri.format("6482"))
    caller.wait_call_state(first, "CONFIRMED")
    started = time.monotonic()
    second = caller.call(uri.format("6482"))
    caller.wait_call_state(second, "CONFIRMED")
    assert caller.wait_call_state(second, "DISCONNECTED", timeout=5)["code"] == 200
    assert time.monotonic() - started < 4.0
    caller.wait_call_state(first, "DISCONNECTED", timeout=12)
    assert time.monotonic() - started > 5.0
