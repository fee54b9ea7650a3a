"""SIP MESSAGE (RFC 3428) into chat sessions: a phone writes to a SIP channel's number
routed to a message queue, an agent takes the session over and replies through the API,
and the reply reaches the phone as a MESSAGE from that number (real UDP phones, tests/
sipua.py, against the switch running in the test's loop). Phone to phone is
tests/test_switch_calls.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import switchproc
import yaml
from sipua import SipUA, digest_authorization, parse_challenge
from switch_harness import Harness

from softswitch.app import Switch
from softswitch.config import parse_config


def config(tmp_path: Path) -> Any:
    cfg = switchproc.base_config(tmp_path)
    cfg["message_queues"] = [{"name": "Help Desk", "chat_assignment_mode": "manual_take_over",
                              "agents": ["1001", "1002"]}]
    cfg["message_channels"] = [{"name": "Phones", "type": "sip", "numbers": [
        {"number": "6500", "destination": {"type": "message_queue", "target": "Help Desk"}}]}]
    return parse_config(yaml.safe_dump(cfg), "c.yaml", tmp_path)


async def send_message(ua: SipUA, number: str, body: bytes,
                       content_type: str = "text/plain") -> int:
    uri = f"sip:{number}@127.0.0.1"
    ua.send_raw(ua.build("MESSAGE", uri, to=f"<{uri}>", body=body, content_type=content_type))
    challenge = await ua.response()
    assert challenge.status == 407
    auth = digest_authorization(parse_challenge(challenge.get_all("Proxy-Authenticate")[-1]),
                                "MESSAGE", uri, ua.user, f"pw-{ua.user}")
    ua.send_raw(ua.build("MESSAGE", uri, to=f"<{uri}>", body=body, content_type=content_type,
                         headers=[f"Proxy-Authorization: {auth}"]))
    return (await ua.response()).status


async def test_phone_into_a_message_queue_and_the_reply_back(tmp_path: Path) -> None:
    switch = Switch(config(tmp_path))
    await switch.start()
    phone = None
    try:
        host, port = switch.sip_addresses[0].split(":")[1:]
        phone = await SipUA("1003", "pw-1003", (host, int(port))).start()
        assert (await phone.register()).status == 200
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            phone.call_id = "im-1"
            assert await send_message(phone, "6500", "打印机坏了".encode()) == 200
            [sid] = await h.sessions("1001")
            assert await h.sessions("1002") == [sid]
            _, data = await h.api("1001", "GET", f"/sessions/{sid}")
            assert data["session"]["customer"] == "1003"
            assert data["messages"][-1]["text"] == "打印机坏了"
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/take_over")
            assert status == 200
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/messages",
                                    {"text": "On my way"})
            assert status == 202
            msg = await phone.next_request("MESSAGE")
            assert msg.body == b"On my way" and msg.from_.uri.user == "6500"
            phone.reply(msg, 200, to_tag="im")
            last = await h.last_message("1001", sid, lambda m: m["status"] == "sent")
            assert last["status"] == "sent"
            # the phone's answer joins the same session, seen by the taker only
            phone.call_id = "im-2"
            assert await send_message(phone, "6500", b"thanks") == 200
            _, data = await h.api("1001", "GET", f"/sessions/{sid}")
            assert data["messages"][-1]["text"] == "thanks"
            assert await h.sessions("1002") == []
            # only text/plain (RFC 3428 §11.3); an unknown number is 404 as before
            phone.call_id = "im-3"
            assert await send_message(phone, "6500", b"<b/>", "text/html") == 415
            phone.call_id = "im-4"
            assert await send_message(phone, "6599", b"hello") == 404
            # a reply to a phone that is not registered fails with its SIP status
            unregistered = await SipUA("1002", "pw-1002", (host, int(port))).start()
            unregistered.call_id = "im-5"
            try:
                assert await send_message(unregistered, "6500", b"from 1002") == 200
            finally:
                unregistered.close()
            [other] = [s for s in await h.sessions("1001") if s != sid]
            await h.api("1001", "POST", f"/sessions/{other}/messages", {"text": "hello?"})
            last = await h.last_message("1001", other, lambda m: m["status"] == "failed")
            assert last["error"] == "Send failed: 480 Temporarily Unavailable"
    finally:
        if phone is not None:
            phone.close()
        await switch.stop()
