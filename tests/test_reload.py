"""softswitch.reload inside the test's event loop: `apply` on a started switch (dial plan,
feature codes, BLF directory, trunks, restart-only keys) and the change summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import switchproc
import yaml

from acd.events import AgentSignedOut
from softswitch.app import Switch
from softswitch.config import Config, parse_config
from softswitch.dialplan import EXTENSION, EXTERNAL, FEATURE, NOT_FOUND, QUEUE
from softswitch.presence.acd_bridge import notifies_for_events
from softswitch.reload import apply, describe_changes, restart_needed


def parsed(tmp_path: Path, raw: dict[str, Any]) -> Config:
    return parse_config(yaml.safe_dump(raw), str(tmp_path / "c.yaml"), tmp_path)


def raw_config(tmp_path: Path) -> dict[str, Any]:
    raw = switchproc.base_config(tmp_path)
    raw["queues"] = [{"number": "6400", "name": "Sales", "dynamic_agents": ["1001", "1002"]},
                     {"number": "6401", "name": "Support", "static_agents": ["1003"]}]
    return raw


async def test_apply_moves_queues_codes_and_blf_keys(tmp_path: Path) -> None:
    raw = raw_config(tmp_path)
    switch = Switch(parsed(tmp_path, raw))
    await switch.start()
    try:
        router = switch.router
        now = router.loop.time()
        router.queues.execute(router.queues.acd.handle_agent_signed_in("1001", "6400", now))
        raw["extensions"].append({"number": "1004", "name": "New", "password": "pw-1004"})
        raw["queues"] = [{"number": "6400", "name": "Sales", "dynamic_agents": ["1002"]},
                         {"number": "6402", "name": "Billing", "dynamic_agents": ["1001"]}]
        raw["feature_codes"] = {"sign_in_out": "*8"}
        raw["trunks"] = [{"name": "carrier", "host": "127.0.0.1", "port": 5099}]
        raw["outbound_routes"] = [{"name": "out", "prefix": "9", "trunk": "carrier",
                                   "strip": 1}]
        raw["http"] = {"listen": "127.0.0.1:1"}
        changes, restart = apply(switch, parsed(tmp_path, raw))
        assert changes == ["extensions +1004", "queues +6402 -6401 ~6400", "trunks +carrier",
                           "outbound routes +out", "feature codes"]
        assert restart == ["http.listen"]
        plan = router.dialplan
        assert plan.route("1004").kind == EXTENSION
        assert plan.route("6402").kind == QUEUE and plan.route("6401").kind == NOT_FOUND
        assert plan.route("*86402", "1001").kind == FEATURE
        assert plan.route("*76402", "1001").kind == NOT_FOUND  # the old code is gone
        assert (plan.route("90123456").kind, plan.route("90123456").args) == (EXTERNAL,
                                                                              ("0123456",))
        acd = router.queues.acd
        assert acd.agent_queues("1001") == ["6402"] and not acd.is_member("1001", "6400")
        # the BLF keys: the new membership can be watched, the removed one sends nothing
        notifier = router.agentdesk.notifier
        assert notifier.agents.get("1001", "6402") is not None
        assert notifier.agents.get("1001", "6400") is None
        assert notifies_for_events(notifier, acd, [AgentSignedOut(now, "1001", "6400")],
                                   now) == []
        assert switch.config.http == parsed(tmp_path, raw_config(tmp_path)).http
        assert switch.reloads.health()["config_generation"] == 0  # serve() counts, not apply
    finally:
        await switch.stop()


def test_restart_only_keys_are_named_as_in_the_yaml(tmp_path: Path) -> None:
    raw = raw_config(tmp_path)
    old = parsed(tmp_path, raw)
    raw["sip"]["listen"] = ["udp:127.0.0.1:5062"]
    raw["rtp"]["ports"] = "40000-40099"
    raw["database"] = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    new = parsed(tmp_path, raw)
    assert restart_needed(old, new) == ["sip.listen", "rtp.ports", "database"]
    assert describe_changes(old, new) == []


async def test_trunk_registration_follows_a_reload(tmp_path: Path) -> None:
    """A trunk added with `register: true` registers at once; a changed one registers anew;
    a removed one is un-registered (Expires: 0)."""
    from sipua import SipUA

    raw = raw_config(tmp_path)
    switch = Switch(parsed(tmp_path, raw))
    await switch.start()
    server = tuple(switch.sip_addresses[0].split(":")[1:])
    provider = await SipUA("provider", "", (str(server[0]), int(server[1]))).start()
    try:
        trunk = {"name": "carrier", "host": "127.0.0.1", "port": provider.local[1],
                 "register": True, "username": "acme", "password": "secret"}
        raw["trunks"] = [trunk]
        apply(switch, parsed(tmp_path, raw))
        first = await provider.next_request("REGISTER")
        assert first.get("Expires") == "3600" and "acme@" in str(first.to.uri)
        provider.reply(first, 200, to_tag="p1")
        await _until(lambda: switch.router.trunk_registrations.states()["carrier"]["state"]
                     == "registered")
        raw["trunks"] = [dict(trunk, username="acme2")]
        apply(switch, parsed(tmp_path, raw))
        gone = await provider.next_request("REGISTER")
        assert gone.get("Expires") == "0" and "acme@" in str(gone.to.uri)
        provider.reply(gone, 200, to_tag="p2")
        again = await provider.next_request("REGISTER")
        assert again.get("Expires") == "3600" and "acme2@" in str(again.to.uri)
        provider.reply(again, 200, to_tag="p3")
        await _until(lambda: switch.router.trunk_registrations.states()["carrier"]["state"]
                     == "registered")
        raw["trunks"] = []
        apply(switch, parsed(tmp_path, raw))
        last = await provider.next_request("REGISTER")
        assert last.get("Expires") == "0" and "acme2@" in str(last.to.uri)
        assert switch.router.trunk_registrations.states() == {}
    finally:
        provider.close()
        await switch.stop()


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_apply_moves_the_call_applications(tmp_path: Path) -> None:
    """IVRs, ring groups, call flows (their day/night keys), group voicemails and every
    destination reference follow a reload: a new IVR answers its number and is a valid
    destination, a removed one is gone, a group box's new member gets its lamp body."""
    from acd.config import Destination, DestinationType

    raw = raw_config(tmp_path)
    exts = [e["number"] for e in raw["extensions"]]
    raw["ivrs"] = [{"number": "7000", "name": "Old menu", "prompt": "goodbye",
                    "keys": {"1": {"type": "queue", "target": "6400"}},
                    "fallback": {"type": "hangup"}}]
    switch = Switch(parsed(tmp_path, raw))
    await switch.start()
    try:
        router = switch.router
        desk = router.applications
        assert desk.apps.numbers() == {"7000": "ivrs"}
        raw["ivrs"] = [{"number": "7001", "name": "New menu", "prompt": "goodbye",
                        "keys": {"1": {"type": "queue", "target": "6401"}},
                        "fallback": {"type": "hangup"}}]
        raw["call_flows"] = [{"number": "7100", "name": "Office", "time_zone": "UTC",
                              "in_hours": {"type": "ivr", "target": "7001"},
                              "outside_hours": {"type": "hangup"}, "toggle_code": "*280"}]
        raw["business_hours"] = [{"time_zone": "UTC", "periods": [
            {"days": ["mon"], "time": "09:00-18:00"}]}]
        raw["group_voicemails"] = [{"number": "8100", "name": "Team",
                                    "members": exts[:2], "pin": "2468"}]
        changes, restart = apply(switch, parsed(tmp_path, raw))
        assert "ivrs +7001 -7000" in changes and "call flows +7100" in changes
        assert "group voicemails +8100" in changes and "business hours" in changes
        assert restart == []
        assert desk.apps.numbers() == {"7001": "ivrs", "7100": "call_flows",
                                       "8100": "group_voicemails"}
        ivr = router.destinations.resolve(Destination(DestinationType.IVR, "7001"))
        assert getattr(ivr, "factory", None) is not None
        gone = router.destinations.resolve(Destination(DestinationType.IVR, "7000"))
        assert getattr(gone, "factory", None) is None
        assert router.agentdesk.notifier.call_flow_toggles == {"*280": "7100"}
        assert desk.mailboxes.mailboxes.boxes_of(exts[0]) == [exts[0], "8100"]
        # the voicemail directory is where stored messages are: it waits for a restart
        raw["voicemail"] = {"directory": str(tmp_path / "elsewhere")}
        _changes, restart = apply(switch, parsed(tmp_path, raw))
        assert restart == ["voicemail.directory"]
    finally:
        await switch.stop()


def _ring_tone_hz(switch: Switch) -> set[int]:
    """The frequencies (Hz, rounded to 5) of the switch's one ringback stream, from one full
    cadence of it (softswitch.apps.music)."""
    import numpy as np

    from softswitch.apps.music import RINGBACK_STREAM

    assert switch.media is not None
    source = switch.media.music_streams[RINGBACK_STREAM].source
    source.rewind()
    frames = []
    while (frame := source.next_frame()) is not None and len(frames) < 50:
        frames.append(frame)  # the first second: the tone is on in every region
    samples = np.concatenate(frames).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    peak = spectrum.max()
    return {int(round(f / 5) * 5) for f, a in zip(freqs, spectrum, strict=True)
            if a > 0.3 * peak}


async def test_the_tone_region_sets_the_ring_tone_at_start_and_on_a_reload(
        tmp_path: Path) -> None:
    """`prompts.tone_region`: every caller who hears ringback from the switch hears the
    region's (China 450 Hz, then after a reload the CEPT 425 Hz; the US 440 + 480 Hz by
    default). The stream keeps its listeners; a reload replaces its source at once."""
    raw = raw_config(tmp_path)
    default = Switch(parsed(tmp_path, raw))
    await default.start()
    try:
        assert _ring_tone_hz(default) == {440, 480}
    finally:
        await default.stop()
    raw["prompts"] = {"tone_region": "cn"}
    switch = Switch(parsed(tmp_path, raw))
    await switch.start()
    try:
        assert _ring_tone_hz(switch) == {450}
        assert switch.media is not None
        stream = switch.media.music_streams["ringback"]
        raw["prompts"] = {"tone_region": "eu"}
        changes, restart = apply(switch, parsed(tmp_path, raw))
        assert changes == ["prompts"] and restart == []
        assert switch.media.music_streams["ringback"] is stream  # its listeners stay
        assert _ring_tone_hz(switch) == {425}
    finally:
        await switch.stop()
