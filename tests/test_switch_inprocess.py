"""The switch started inside the test's event loop: what the calls layer publishes on the
event bus (softswitch.calls.events) for the panels and reports of later issues."""

from __future__ import annotations

from pathlib import Path

import switchproc
import yaml
from sipua import SipUA, digest_authorization, parse_challenge, sdp

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
