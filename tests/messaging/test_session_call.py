"""A voice call from a chat session (softswitch.messaging.voice; omnichannel.md §6.2,
§13.39): the agent's phone rings first, then the customer's number over the outbound route
that permits the agent; without that permission nothing rings (403)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fake_provider import FakeProvider
from sipua import SipUA, sdp
from switch_harness import EXT_NUMBER, Harness, config, provider, started, webhook

__all__ = ["provider"]  # the fixture, used by name

CUSTOMER = "+8618012121222"


def sip_of(switch: Any) -> tuple[str, int]:
    host, port = switch.sip_addresses[0].split(":")[1:]
    return host, int(port)


async def phone(switch: Any, ext: str) -> SipUA:
    ua = await SipUA(ext, f"pw-{ext}", sip_of(switch)).start()
    assert (await ua.register()).status == 200
    return ua


def with_trunk(tmp_path: Path, base: str, trunk_port: int, allowed: list[str]) -> Any:
    return config(tmp_path, base,
                  trunks=[{"name": "carrier", "host": "127.0.0.1", "port": trunk_port}],
                  outbound_routes=[{"name": "international", "prefix": "+", "strip": 1,
                                    "prepend": "00", "trunk": "carrier",
                                    "extensions": allowed}])


async def test_the_agents_phone_rings_then_the_customer_over_the_route(
        tmp_path: Path, provider: FakeProvider) -> None:
    carrier = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
    switch = await started(with_trunk(tmp_path, provider.base, carrier.local[1], ["1003"]))
    agent: SipUA | None = None
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            assert await h.post_webhook(webhook("c-1", to=EXT_NUMBER)) == 204
            [sid] = await h.sessions("1003")
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/call")
            assert (status, data["error"]) == (409, "invalid_state")  # no phone yet
            agent = await phone(switch, "1003")
            status, data = await h.api("1001", "POST", f"/sessions/{sid}/call")
            assert status == 404  # not 1001's session
            status, data = await h.api("1003", "POST", "/sessions/77/call")
            assert status == 404
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/call")
            assert status == 200, data
            assert (data["number"], data["route"]) == (CUSTOMER, "international")
            assert data["call"]["state"] == "ringing_requester"
            assert data["call"]["agent"] == "008618012121222"
            first = await agent.next_request("INVITE")
            agent.reply(first, 200, to_tag="agent", body=sdp(47200))
            out = await carrier.next_request("INVITE")
            assert out.uri.user == "008618012121222"  # "+" stripped, "00" prepended
            assert "1003" in out.get("From")
    finally:
        if agent is not None:
            agent.close()
        carrier.close()
        await switch.stop()


async def test_without_the_outbound_permission_nothing_rings(
        tmp_path: Path, provider: FakeProvider) -> None:
    carrier = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
    switch = await started(with_trunk(tmp_path, provider.base, carrier.local[1], ["1001"]))
    agent: SipUA | None = None
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            assert await h.post_webhook(webhook("c-2", to=EXT_NUMBER)) == 204
            [sid] = await h.sessions("1003")
            agent = await phone(switch, "1003")
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/call")
            assert (status, data["error"]) == (403, "forbidden")
            assert "international" in data["message"]
            with pytest.raises(asyncio.TimeoutError):
                await agent.next_request("INVITE", timeout=0.3)
    finally:
        if agent is not None:
            agent.close()
        carrier.close()
        await switch.stop()


async def test_a_phone_customer_is_rung_and_a_visitor_has_no_number(
        tmp_path: Path, provider: FakeProvider) -> None:
    """A SIP MESSAGE customer is an extension: its phone rings after the agent's. A Live
    Chat visitor has no phone number: on a chat-only channel, 409 ``calls_off``, nothing
    rings (with chat_and_call the widget rings: test_livechat_agent_calls)."""
    from test_sip_message import send_message

    from softswitch.messaging.appkey import MESSAGING

    cfg = config(tmp_path, provider.base, message_channels=[
        {"name": "Phones", "type": "sip", "numbers": [
            {"number": "6500", "destination": {"type": "extension", "target": "1003"}}]},
        {"name": "Web", "type": "livechat", "number": "LC00001",
         "domains": ["www.example.com"],
         "destination": {"type": "extension", "target": "1003"}}])
    switch = await started(cfg)
    agent = customer = None
    try:
        agent = await phone(switch, "1003")
        customer = await phone(switch, "1001")
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            customer.call_id = "im-call-1"
            assert await send_message(customer, "6500", b"call me please") == 200
            [sid] = await h.sessions("1003")
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/call")
            assert status == 200, data
            assert (data["number"], data["route"]) == ("1001", None)
            first = await agent.next_request("INVITE")
            agent.reply(first, 200, to_tag="agent", body=sdp(47400))
            second = await customer.next_request("INVITE")
            assert "1003" in second.get("From")
            # a Live Chat visitor
            service = switch._http_runner.app[MESSAGING]  # type: ignore[union-attr]
            m = service.run(lambda inbox, now: inbox.receive(
                "Web", "LC00001", "visitor-0123456789abcdef", "hello", (), None, now))
            status, data = await h.api("1003", "POST", f"/sessions/{m.session}/call")
            assert (status, data["error"]) == (409, "calls_off")
    finally:
        for ua in (agent, customer):
            if ua is not None:
                ua.close()
        await switch.stop()
