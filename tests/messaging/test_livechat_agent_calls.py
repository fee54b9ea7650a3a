"""An agent calls a Live Chat visitor from the session (softswitch.webrtc.calls, "calls
started by an agent", through softswitch.messaging.voice): the switch in the test's loop,
the agent's phone a scripted SIP UA, the visitor two websocket tabs with the page's Origin.
The agent's phone rings first; only once it answers do the visitor's tabs ring; a decline
from either tab, or no answer within the ring timeout, hangs the agent's phone up and is
written into the history; the agent's
call holds one of the channel's ``max_concurrent_calls``; and each refusal (no phone, a
visitor without an open widget, a closed chat, a channel without calls) is a 409 that
names it, with nothing ringing. Accepting with audio both ways is the browser test's
(tests/browser/test_widget_calls.py)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sipua import SipUA, sdp
from switch_harness import Harness
from test_livechat_switch import ORIGIN, Visitor, chat_of, started, ws_url
from test_session_call import phone

from softswitch.app import Switch
from softswitch.webrtc.calls import RING_TIMEOUT

CALLS = {"consultation_mode": "chat_and_call", "max_concurrent_calls": 1,
         "call_destination": {"type": "extension", "target": "1001"}}
OFFER = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
         "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"
         "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
         "a=fingerprint:sha-256 ZZ\r\na=rtpmap:0 PCMU/8000\r\n")


async def chatting(http: aiohttp.ClientSession, switch: Switch,
                   stack: contextlib.AsyncExitStack, token: str | None = None,
                   name: str = "Ann") -> tuple[Visitor, str, int]:
    """A visitor's tab that filled the form and wrote once: (tab, token, session id)."""
    ws = await stack.enter_async_context(http.ws_connect(ws_url(switch),
                                                         headers={"Origin": ORIGIN}))
    v = Visitor(ws)
    welcome = await v.hello(token)
    if token is None:
        await v.send(type="form", form={"name": name})
        await v.next("form_ok")
        await v.send(type="message", text="Please call me", id="c1")
        ack = await v.next("ack")
        return v, welcome["visitor"], ack["session"]
    return v, welcome["visitor"], welcome["session"]["id"]


async def test_the_agent_calls_the_visitor_who_declines(tmp_path: Path) -> None:
    switch = await started(tmp_path, **CALLS)
    chat_of(switch).limiter.burst = 50
    agent: SipUA | None = None
    try:
        async with aiohttp.ClientSession() as http, contextlib.AsyncExitStack() as stack:
            h = Harness(switch, http)
            tab1, token, sid = await chatting(http, switch, stack)
            tab2, _, _ = await chatting(http, switch, stack, token)
            status, data = await h.api("1002", "POST", f"/sessions/{sid}/call")
            assert (status, data["error"]) == (409, "invalid_state")  # no phone yet
            agent = await phone(switch, "1002")
            status, data = await h.api("1002", "POST", f"/sessions/{sid}/call")
            assert status == 200, data
            assert data["call"]["state"] == "ringing_requester" and data["number"] is None
            # the agent's phone rings first, showing the visitor's name; the widget is quiet
            invite = await agent.next_request("INVITE")
            assert "Ann" in invite.get("From") and "LC00000" in invite.get("From")
            for tab in (tab1, tab2):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(tab.next("call"), 0.3)
            # the agent's call holds the channel's one call line: another visitor is busy
            other, _, _ = await chatting(http, switch, stack, name="Bob")
            await other.send(type="call", sdp=OFFER)
            busy = await other.next("error")
            assert busy["code"] == "call_busy", busy
            # ... and a second call to this visitor is refused
            status, data = await h.api("1002", "POST", f"/sessions/{sid}/call")
            assert (status, data["error"]) == (409, "call_active"), data
            # the agent answers: both tabs ring
            agent.reply(invite, 200, to_tag="agent", body=sdp(47600))
            for tab in (tab1, tab2):
                assert (await tab.next("call"))["state"] == "incoming"
            # a tab that opens now finds the ringing call in its welcome
            async with http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws3:
                welcome = await Visitor(ws3).hello(token)
                assert welcome["call"]["state"] == "incoming"
            # the second tab declines: the agent's phone is hung up, every tab is told
            await tab2.send(type="decline")
            bye = await agent.next_request("BYE")
            agent.reply(bye, 200)
            for tab in (tab1, tab2):
                ended = await tab.next("call")
                assert (ended["state"], ended["reason"]) == ("ended", "declined")
            status, history = await h.api("1002", "GET", f"/sessions/{sid}")
            assert status == 200, history
            texts = [m["text"] for m in history["messages"]]
            assert any(t.startswith("Call declined") for t in texts), texts
            assert not any(t.startswith("Call started") for t in texts), texts
            # the line is free again
            await other.send(type="decline")
            assert (await other.next("error"))["code"] == "no_call"

            # a call the visitor leaves ringing: after RING_TIMEOUT it ends (the timers are
            # checked armed, and their callback run, not waited for in real time)
            calls = chat_of(switch).calls
            loop = asyncio.get_running_loop()

            def ring_timer() -> Any:
                [call] = calls.by_visitor.values()
                assert call.ring_timer is not None
                assert call.ring_timer.when() == pytest.approx(loop.time() + RING_TIMEOUT,
                                                               abs=2)
                return call

            status, data = await h.api("1002", "POST", f"/sessions/{sid}/call")
            assert status == 200, data
            invite = await agent.next_request("INVITE")
            ring_timer()  # the agent's phone rings at most RING_TIMEOUT
            agent.reply(invite, 200, to_tag="agent2", body=sdp(47700))
            assert (await tab1.next("call"))["state"] == "incoming"
            calls._ring_timeout(ring_timer())
            bye = await agent.next_request("BYE")
            agent.reply(bye, 200)
            ended = await tab1.next("call")
            assert (ended["state"], ended["reason"]) == ("ended", "no_answer")
            status, history = await h.api("1002", "GET", f"/sessions/{sid}")
            assert any(m["text"].startswith("Call not answered") for m in history["messages"])

            # the agent does not answer their own phone: it stops ringing after RING_TIMEOUT,
            # the visitor never saw the call, and the line is free
            status, data = await h.api("1002", "POST", f"/sessions/{sid}/call")
            assert status == 200, data
            invite = await agent.next_request("INVITE")
            agent.reply(invite, 180, to_tag="agent3")  # (a CANCEL follows a provisional)
            calls._ring_timeout(ring_timer())
            cancel = await agent.next_request("CANCEL")
            agent.reply(cancel, 200)
            agent.reply(invite, 487, to_tag="agent3")
            assert not calls.by_visitor and calls.slots.count("Livechat") == 0
            status, history = await h.api("1002", "GET", f"/sessions/{sid}")
            assert sum(1 for m in history["messages"]
                       if m["text"].startswith("Call not answered")) == 1  # the visitor's

            # the visitor closes both tabs: nobody to ring
            await tab1.ws.close()
            await tab2.ws.close()
            status, data = await h.api("1002", "POST", f"/sessions/{sid}/call")
            assert (status, data["error"]) == (409, "visitor_offline"), data
            # back, but the chat was closed: a new one is the visitor's to start
            tab1, _, _ = await chatting(http, switch, stack, token)
            status, _ = await h.api("1002", "POST", f"/sessions/{sid}/close")
            assert status == 200
            status, data = await h.api("1002", "POST", f"/sessions/{sid}/call")
            assert (status, data["error"]) == (409, "closed"), data
            with pytest.raises(asyncio.TimeoutError):
                await agent.next_request("INVITE", timeout=0.3)
    finally:
        if agent is not None:
            agent.close()
        await switch.stop()
