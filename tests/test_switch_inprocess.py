"""The switch started inside the test's event loop: what the calls layer publishes on the
event bus (softswitch.calls.events) for the panels and reports of later issues."""

from __future__ import annotations

import asyncio
from pathlib import Path

import switchproc
import yaml
from sipua import SipUA, digest_authorization, parse_challenge, sdp

from acd.events import MemberState
from softswitch.app import Switch
from softswitch.calls.events import CallAnswered, CallEnded, CallStarted
from softswitch.config import parse_config


async def test_call_events_on_the_bus(tmp_path: Path) -> None:
    cfg = parse_config(yaml.safe_dump(switchproc.base_config(tmp_path)), "c.yaml", tmp_path)
    switch = Switch(cfg)
    await switch.start()
    seen: list[object] = []
    switch.router.events.subscribe(seen.append, CallStarted, CallAnswered, CallEnded)
    try:
        host, port = switch.sip_addresses[0].split(":")[1:]
        server = (host, int(port))
        caller = await SipUA("1001", "pw-1001", server).start()
        callee = await SipUA("1002", "pw-1002", server).start()
        assert (await callee.register()).status == 200
        uri = "sip:1002@127.0.0.1"
        caller.call_id = "bus-1"
        caller.send_raw(caller.build("INVITE", uri, to=f"<{uri}>", body=sdp(4000)))
        challenge = await caller.response()
        auth = digest_authorization(parse_challenge(challenge.get_all("Proxy-Authenticate")[-1]),
                                    "INVITE", uri, "1001", "pw-1001")
        caller.send_raw(caller.build("INVITE", uri, to=f"<{uri}>", body=sdp(4000),
                                     headers=[f"Proxy-Authorization: {auth}"]))
        req = await callee.next_request("INVITE")
        callee.reply(req, 486, to_tag="b")
        assert (await caller.response()).status == 486
        caller.close()
        callee.close()
    finally:
        await switch.stop()
    started, ended = seen
    assert isinstance(started, CallStarted) and isinstance(ended, CallEnded)
    assert (started.call_id, started.caller, started.callee, started.destination) == \
        ("bus-1", "1001", "1002", "extension")
    assert (ended.disposition, ended.hangup_side, ended.sip_code) == ("BUSY", "callee", 486)


async def test_cancel_before_a_feature_call_is_answered(tmp_path: Path) -> None:
    """An agent dials *76400 and cancels before the switch answered it (the media leg was
    still being opened): 200 to the CANCEL, 487 to the INVITE, never a 200, and the leg
    opened meanwhile is closed. The sign-in itself was applied on the INVITE and stands."""
    raw = switchproc.base_config(tmp_path)
    raw["queues"] = [{"number": "6400", "name": "Sales", "dynamic_agents": ["1001"]}]
    cfg = parse_config(yaml.safe_dump(raw), "c.yaml", tmp_path)
    switch = Switch(cfg)
    await switch.start()
    media = switch.router.calls.media
    release = asyncio.Event()
    opened: list[object] = []
    real_open = media.open_leg

    async def slow_open(label: str) -> object:
        await release.wait()  # the CANCEL arrives while the leg is being opened
        leg = await real_open(label)
        opened.append(leg)
        return leg

    media.open_leg = slow_open
    try:
        host, port = switch.sip_addresses[0].split(":")[1:]
        agent = await SipUA("1001", "pw-1001", (host, int(port))).start()
        uri = "sip:*76400@127.0.0.1"
        agent.call_id = "feature-cancel"
        agent.send_raw(agent.build("INVITE", uri, to=f"<{uri}>", body=sdp(4000), cseq=1,
                                   branch="z9hG4bKfeaturechallenge"))
        challenge = await agent.response()
        agent.send_raw(agent.build("ACK", uri, to=f"<{uri}>", cseq=1, to_tag=challenge.to.tag,
                                   branch="z9hG4bKfeaturechallenge", with_contact=False))
        auth = digest_authorization(parse_challenge(challenge.get_all("Proxy-Authenticate")[-1]),
                                    "INVITE", uri, "1001", "pw-1001")
        branch = "z9hG4bKfeaturecancel"
        agent.send_raw(agent.build("INVITE", uri, to=f"<{uri}>", body=sdp(4000), cseq=2,
                                   branch=branch, headers=[f"Proxy-Authorization: {auth}"]))
        assert (await agent.response(final=False)).status == 100
        agent.send_raw(agent.build("CANCEL", uri, to=f"<{uri}>", cseq=2, branch=branch,
                                   with_contact=False))
        finals = sorted([(r.cseq.method, r.status) for r in
                         (await agent.response(), await agent.response())])
        assert finals == [("CANCEL", 200), ("INVITE", 487)]
        release.set()
        for _ in range(50):
            if opened:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert opened and opened[0].closed  # type: ignore[attr-defined]
        late = []
        while not agent.responses.empty():
            late.append(agent.responses.get_nowait())
        assert [r.status for r in late if r.cseq.number == 2] in ([], [487]), late  # no 200
        agent.close()
        assert switch.router.queues.acd.member_state("1001", "6400") is not \
            MemberState.LOGGED_OUT
    finally:
        await switch.stop()
