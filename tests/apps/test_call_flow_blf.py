"""The call flow's day/night BLF key (softswitch.presence.resources.CallFlowToggleKey,
wired by softswitch.apps.desk): a phone subscribes to the toggle code; the lamp is busy
(confirmed) while night mode is forced, idle (terminated) while the schedule applies, with a
NOTIFY on every change and none when nothing changed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "presence"))

from blf_helpers import Switch, basic, dialogs, lamp  # noqa: E402


def test_day_night_key_follows_the_forced_mode() -> None:
    sw = Switch(call_flow_toggles={"*280": "7100", "*281": "7101"})
    key = sw.subscribe("*280", "1003", 0.0)
    assert key.result.response.status == 200
    [first] = key.result.notifies
    assert lamp(first) == "green"  # following the schedule
    [dialog] = dialogs(first)
    assert dialog.get("id") == "callflow-7100"
    other = sw.subscribe("*281", "1001", 0.0)
    # night forced for 7100: its key turns red; 7101's key gets nothing
    [busy] = sw.notifier.call_flow_mode_changed("7100", True, 1.0)
    assert busy.key == key.result.notifies[0].key and lamp(busy) == "red"
    assert sw.notifier.call_flow_mode_changed("7100", True, 2.0) == []  # no change, no NOTIFY
    [idle] = sw.notifier.call_flow_mode_changed("7100", False, 3.0)
    assert lamp(idle) == "green"
    [night] = sw.notifier.call_flow_mode_changed("7101", True, 4.0)
    assert night.key == other.result.notifies[0].key
    # a refresh shows the current state; the presence package too
    assert lamp(sw.refresh(other, 5.0).notifies[0]) == "red"
    pres = sw.subscribe("*281", "1002", 6.0, event="presence")
    assert basic(pres.result.notifies[0]) == "closed"


def test_a_key_on_an_unknown_code_is_refused() -> None:
    sw = Switch(call_flow_toggles={"*280": "7100"})
    assert sw.subscribe("*289", "1003", 0.0).result.response.status == 404
    sw.notifier.set_call_flow_toggles({})  # the code left the config
    assert sw.subscribe("*280", "1003", 0.0).result.response.status == 404
