"""A reload (softswitch.reload `apply`, the path of SIGHUP and `softswitch reload`) hands the
Live Chat channels' widget-call settings to the running switch: the calls that start after
it follow the new consultation mode, ``call_destination`` and ``max_concurrent_calls``; a
call in progress goes on. The visitors are aiohttp websockets with real WebRTC offers
(aiortc); the calls enter the switch on its internal WebRTC trunk and wait in a queue."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import aiohttp
import switchproc
import yaml
from aiortc import RTCPeerConnection

from softswitch.app import Switch
from softswitch.clock import VirtualClock
from softswitch.config import Config, parse_config
from softswitch.messaging.livechat import RateLimit
from softswitch.reload import apply

ORIGIN = "https://www.yeasar.com"


def raw_config(tmp_path: Path) -> dict[str, Any]:
    raw = switchproc.base_config(tmp_path)
    raw["queues"] = [{"number": "6400", "name": "Sales", "static_agents": ["1001"]},
                     {"number": "6401", "name": "Support", "static_agents": ["1002"]}]
    raw["message_queues"] = [{"name": "Tech Support",
                              "chat_assignment_mode": "manual_take_over",
                              "agents": ["1001", "1002"]}]
    raw["message_channels"] = [{
        "name": "Livechat", "type": "livechat", "number": "LC00000",
        "domains": ["www.yeasar.com"],
        "destination": {"type": "message_queue", "target": "Tech Support"}}]
    return raw


def with_channel(raw: dict[str, Any], **keys: Any) -> dict[str, Any]:
    """``raw`` with these keys in its Live Chat channel."""
    out = copy.deepcopy(raw)
    out["message_channels"][0].update(keys)
    return out


def parsed(tmp_path: Path, raw: dict[str, Any]) -> Config:
    return parse_config(yaml.safe_dump(raw), str(tmp_path / "c.yaml"), tmp_path)


class Visitor:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, clock: VirtualClock) -> None:
        self.ws = ws
        self.pc = RTCPeerConnection()
        self.clock = clock  # the visitors' frame bucket's (softswitch.messaging.livechat)

    async def next(self, *kinds: str) -> dict[str, Any]:
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame: dict[str, Any] = json.loads(msg.data)
            if frame["type"] in kinds:
                return frame

    async def chat(self, text: str) -> dict[str, Any]:
        """hello and a first message (a call needs an open chat); the welcome frame."""
        await self.ws.send_json({"type": "hello", "visitor": None, "form": None})
        welcome = await self.next("welcome")
        await self.ws.send_json({"type": "message", "text": text, "id": "m1"})
        await self.next("ack")
        return welcome

    async def call(self) -> dict[str, Any]:
        """A call with a real offer: the switch's first ``call`` frame (``calling``, with its
        answer: the call is placed) or its ``error`` frame."""
        self.pc.addTransceiver("audio", direction="sendrecv")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.clock.advance(1.1)  # the visitor's frame bucket refills (1 frame/s)
        await self.ws.send_json({"type": "call", "sdp": self.pc.localDescription.sdp})
        return await self.next("call", "error")


async def test_a_reload_applies_the_widget_call_settings_to_new_calls(
        tmp_path: Path) -> None:
    raw = raw_config(tmp_path)  # consultation mode chat: no calls
    switch = Switch(parsed(tmp_path, raw))
    await switch.start()
    clock = VirtualClock()
    switch.router.livechat.limiter = RateLimit(clock.monotonic)
    url = f"ws://{switch.http_address}/api/v1/livechat/LC00000/ws"
    visitors: list[Visitor] = []
    try:
        async with aiohttp.ClientSession() as http:
            async def visitor() -> Visitor:
                v = Visitor(await http.ws_connect(url, headers={"Origin": ORIGIN}), clock)
                visitors.append(v)
                return v

            a = await visitor()
            assert (await a.chat("hello"))["calls"] is False
            refused = await a.call()
            assert (refused["type"], refused["code"]) == ("error", "calls_off")
            assert switch.router.webrtc_trunk.destination("LC00000") is None

            calls = {"consultation_mode": "chat_and_call", "max_concurrent_calls": 1,
                     "call_destination": {"type": "queue", "target": "6400"}}
            changes, restart = apply(switch, parsed(tmp_path, with_channel(raw, **calls)))
            assert changes == ["live chat calls ~Livechat"] and restart == []
            # the socket opened before the reload calls now; the call waits in queue 6400
            a.pc = RTCPeerConnection()
            ringing = await a.call()
            assert (ringing["type"], ringing["state"]) == ("call", "calling"), ringing
            assert switch.router.webrtc_trunk.destination("LC00000").target == "6400"
            b = await visitor()
            assert (await b.chat("me too"))["calls"] is True  # the widget shows the button
            busy = await b.call()
            assert (busy["type"], busy["code"]) == ("error", "call_busy")  # at most 1

            calls.update(max_concurrent_calls=2,
                         call_destination={"type": "queue", "target": "6401"})
            changes, restart = apply(switch, parsed(tmp_path, with_channel(raw, **calls)))
            assert changes == ["live chat calls ~Livechat"] and restart == []
            b.pc = RTCPeerConnection()
            ringing = await b.call()  # a's call (still on) and b's: two of two
            assert (ringing["type"], ringing["state"]) == ("call", "calling"), ringing
            assert switch.router.webrtc_trunk.destination("LC00000").target == "6401"
            acd = switch.router.queues.acd

            def waiting() -> tuple[int, int]:
                now = switch.router.loop.time()
                return (acd.statistics("6400", now).waiting,
                        acd.statistics("6401", now).waiting)

            for _ in range(100):  # each call entered the queue of its time
                if waiting() == (1, 1):
                    break
                await asyncio.sleep(0.05)
            assert waiting() == (1, 1)

            # another key of the channel still waits for a restart
            changed = with_channel(raw, **calls, domains=["example.org"])
            changes, restart = apply(switch, parsed(tmp_path, changed))
            assert changes == [] and restart == ["message_channels"]
            for v in visitors:
                await v.ws.send_json({"type": "hangup"})
                await v.ws.close()
    finally:
        for v in visitors:
            await v.pc.close()
        await switch.stop()
