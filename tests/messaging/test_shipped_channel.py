"""The shipped config.example.yaml has one message channel on: `Phones`, SIP MESSAGE to 6590
into the Web Support message queue (1001 and 1002), so `make run`'s External Chat tab works
with no provider. Carol's phone writes to 6590 with her demo password, Alice (an agent of the
queue, her demo password) sees the session over the live API, takes it over and replies, and
the reply reaches Carol's phone as a MESSAGE from 6590. The config is the shipped file with
only its ports and database moved (benchmarks.peers.switch.build_config)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from sipua import SipUA, digest_authorization, parse_challenge

from benchmarks.peers.switch import build_config
from softswitch.app import Switch
from softswitch.config import parse_config

ALICE = ("1001", "alice-1001-secret")
CAROL = ("1003", "carol-1003-secret")


async def write(phone: SipUA, password: str, number: str, text: str) -> int:
    uri = f"sip:{number}@127.0.0.1"
    body = text.encode()
    phone.send_raw(phone.build("MESSAGE", uri, to=f"<{uri}>", body=body,
                               content_type="text/plain"))
    challenge = await phone.response()
    assert challenge.status == 407
    auth = digest_authorization(parse_challenge(challenge.get_all("Proxy-Authenticate")[-1]),
                                "MESSAGE", uri, phone.user, password)
    phone.send_raw(phone.build("MESSAGE", uri, to=f"<{uri}>", body=body,
                               content_type="text/plain",
                               headers=[f"Proxy-Authorization: {auth}"]))
    return (await phone.response()).status


async def test_a_phone_writes_to_6590_and_an_agent_answers_on_the_shipped_config(
        tmp_path: Path) -> None:
    raw = build_config(tmp_path, overrides={"smtp": None})
    assert [c["name"] for c in raw["message_channels"]] == ["Phones"]
    switch = Switch(parse_config(yaml.safe_dump(raw), str(tmp_path / "c.yaml"), tmp_path))
    await switch.start()
    phone = None
    try:
        host, port = switch.sip_addresses[0].split(":")[1:]
        phone = await SipUA(CAROL[0], CAROL[1], (host, int(port))).start()
        assert (await phone.register()).status == 200
        base = f"http://{switch.http_address}/api/v1"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/login",
                                 json={"extension": ALICE[0], "password": ALICE[1]}) as r:
                assert r.status == 200
                auth = {"Authorization": f"Bearer {(await r.json())['token']}"}

            async def api(method: str, path: str, body: Any = None) -> tuple[int, Any]:
                async with http.request(method, f"{base}/messaging{path}", json=body,
                                        headers=auth) as resp:
                    return resp.status, await resp.json()

            phone.call_id = "shipped-im-1"
            assert await write(phone, CAROL[1], "6590", "Is the shop open on Sunday?") == 200
            status, data = await api("GET", "/sessions?list=recent")
            assert status == 200
            [session] = data["sessions"]
            sid = session["id"]
            _, data = await api("GET", f"/sessions/{sid}")
            assert data["session"]["customer"] == CAROL[0]
            assert data["messages"][-1]["text"] == "Is the shop open on Sunday?"
            assert (await api("POST", f"/sessions/{sid}/take_over"))[0] == 200
            assert (await api("POST", f"/sessions/{sid}/messages",
                              {"text": "Yes, 10 to 4."}))[0] == 202
            reply = await asyncio.wait_for(phone.next_request("MESSAGE"), 5)
            assert reply.body == b"Yes, 10 to 4." and reply.from_.uri.user == "6590"
            phone.reply(reply, 200, to_tag="im")
    finally:
        if phone is not None:
            phone.close()
        await switch.stop()
