"""The B2BUA shell on a virtual clock (softswitch.clock): an extension call's no-answer
timeout and its final answer when every phone refuses, with SIP through a recording
endpoint and media through a recording engine. No test waits in real time."""

from __future__ import annotations

import asyncio
from typing import Any

from sip_doubles import Endpoint, Media, Outgoing, Txn

from softswitch.calls.b2bua import B2BUA
from softswitch.calls.events import CallEnded
from softswitch.clock import VirtualClock
from softswitch.dialplan import DialPlan
from softswitch.events import EventBus
from softswitch.registrar import Binding
from softswitch.sip import Address, Request, SipUri, new_call_id, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.transaction import Peer


def switch(phones: int, no_answer_timeout: float = 30.0) -> tuple[B2BUA, Endpoint,
                                                                   VirtualClock, list[Any]]:
    clock, endpoint, bus = VirtualClock(), Endpoint(), EventBus()
    events: list[Any] = []
    bus.subscribe(events.append)
    bindings = [Binding("1002", f"sip:1002@127.0.0.1:{7000 + i}", 1e9, new_call_id(), 1,
                        "127.0.0.1", 7000 + i, "udp") for i in range(phones)]
    b2bua = B2BUA(endpoint=endpoint, media=Media(), store=None,
                  dialplan=DialPlan.default(["1001", "1002"]),
                  lookup=lambda aor, now: bindings if aor == "1002" else [],
                  domain="127.0.0.1", no_answer_timeout=no_answer_timeout, clock=clock,
                  events=bus)
    return b2bua, endpoint, clock, events


async def call_1002(b2bua: B2BUA, endpoint: Endpoint) -> list[Outgoing]:
    offer = sdplib.create_offer("127.0.0.1", 4000, codecs=("PCMU",))
    invite = Request("INVITE", SipUri.parse("sip:1002@127.0.0.1"), headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + new_tag()),
        ("From", Address(SipUri.parse("sip:1001@127.0.0.1"), "Alice", {"tag": new_tag()})),
        ("To", Address(SipUri.parse("sip:1002@127.0.0.1"))),
        ("Call-ID", new_call_id()), ("CSeq", "1 INVITE"),
        ("Contact", "<sip:1001@127.0.0.1:5070>"), ("Content-Type", "application/sdp"),
    ], body=bytes(offer))
    b2bua.handle_invite(Txn(Peer("udp", "127.0.0.1", 5070)), invite, "1001")
    for _ in range(5):  # the media legs open on a task
        await asyncio.sleep(0)
    return endpoint.invites()


async def test_no_answer_timeout_of_an_extension_call_in_virtual_time() -> None:
    b2bua, endpoint, clock, events = switch(phones=2, no_answer_timeout=30.0)
    desk, mobile = await call_1002(b2bua, endpoint)
    desk.reply(180)
    assert 180 in [r.status for r in endpoint.responses]
    clock.advance(29.9)
    assert endpoint.finals() == []
    clock.advance(0.1)
    assert endpoint.finals() == [408]  # "No Answer" after exactly the configured 30 s
    assert desk.cancelled and mobile.cancelled
    [ended] = [e for e in events if isinstance(e, CallEnded)]
    assert (ended.disposition, ended.duration) == ("NO ANSWER", 30.0)


async def test_the_caller_hears_the_fork_tables_answer_and_a_redirects_contact() -> None:
    b2bua, endpoint, _, events = switch(phones=2)
    desk, mobile = await call_1002(b2bua, endpoint)
    desk.reply(480)
    mobile.reply(408)
    assert endpoint.finals() == [480]  # the same answer the queue's dialer gives
    b2bua, endpoint, _, events = switch(phones=2)
    desk, mobile = await call_1002(b2bua, endpoint)
    desk.reply(486)
    mobile.reply(302, headers=[("Contact", "<sip:1002@10.0.0.9>")])
    [final] = [r for r in endpoint.responses if r.status >= 200]
    assert final.status == 302 and str(final.get("Contact")) == "<sip:1002@10.0.0.9>"
