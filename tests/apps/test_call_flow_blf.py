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


async def test_the_forced_mode_reaches_the_key_and_survives_a_restart(tmp_path: Path) -> None:
    """In the running switch: a phone dials *280 (night forced) and a key on *280 is busy;
    after a restart (the mode comes back from the store) a new key on *280 is busy at once;
    *280 again: idle."""
    from app_calls import dial, rtp_socket, start_switch, udp
    from sipua import SipUA
    from test_applications import APPS

    from softswitch.presence import SubscribeRequest

    def key(switch: object, n: int) -> tuple[object, str]:
        notifier = switch.router.agentdesk.notifier  # type: ignore[attr-defined]
        now = switch.router.clock.monotonic()  # type: ignore[attr-defined]
        result = notifier.handle_subscribe(SubscribeRequest(
            call_id=f"key-{n}", from_tag="ph", to_tag=None, event="dialog", resource="*280",
            subscriber="1002", accept=None, expires=600), now)
        assert result.response.status == 200
        return notifier, lamp(result.notifies[0])

    async def toggle(switch: object, call_id: str) -> None:
        caller = await SipUA("1001", "pw-1001", udp(switch)).start()  # type: ignore[arg-type]
        rtp = rtp_socket()
        try:
            assert (await dial(caller, "*280", call_id, rtp)).status == 200
            bye = await caller.next_request("BYE")  # said the mode, hung up
            caller.reply(bye, 200)
        finally:
            caller.close()
            rtp.close()

    switch = await start_switch(tmp_path, **APPS)
    try:
        notifier, before = key(switch, 1)
        assert before == "green"
        await toggle(switch, "toggle-1")
        [sub] = [s for s in notifier.subscriptions()  # type: ignore[attr-defined]
                 if s.key.dialog.call_id == "key-1"]
        assert sub.last_view.dialogs[0].state == "confirmed"  # the NOTIFY went out busy
        await switch.store.flush()
    finally:
        await switch.stop()
    switch = await start_switch(tmp_path, **APPS)  # the same database
    try:
        assert key(switch, 2)[1] == "red"
        await toggle(switch, "toggle-2")
        assert key(switch, 3)[1] == "green"
    finally:
        await switch.stop()
