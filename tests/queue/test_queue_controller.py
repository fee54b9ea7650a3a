"""The queue-call controller (softswitch.queue.QueueCalls) in virtual time: SIP in and out
through a recording endpoint, media through a recording engine, the real ACD and prompt
library. Timers never sleep: the test advances a virtual clock (softswitch.clock), which runs
the controller's timers that fall due."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest
import structlog.testing
import yaml
from sip_doubles import Endpoint, Outgoing, Txn

from acd.config import parse_acd_config
from acd.events import OfferStarted, TaskJoined, TaskLeft, WrapupStarted
from media.events import PlaybackOutcome
from media.player import PromptLibrary, PromptSequence
from softswitch.calls.events import CallHoldChanged
from softswitch.clock import VirtualClock
from softswitch.config import Trunk, parse_config
from softswitch.destinations import DestinationRouter
from softswitch.events import EventBus
from softswitch.queue import QueueCalls
from softswitch.registrar import Binding
from softswitch.reports.rows import ReportRows
from softswitch.sip import Address, Request, SipUri, new_call_id, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.transaction import Peer
from softswitch.trunks import OutboundRoute, TrunkRouter

LIB = PromptLibrary()


# ------------------------------------------------------------------ recording doubles


class Playback:
    def __init__(self, leg: Leg, source: Any) -> None:
        self.leg, self.source = leg, source
        self.future: asyncio.Future[PlaybackOutcome] = (
            asyncio.get_running_loop().create_future())

    @property
    def done(self) -> bool:
        return self.future.done()

    def finish(self, outcome: PlaybackOutcome = PlaybackOutcome.FINISHED) -> None:
        if not self.future.done():
            self.future.set_result(outcome)

    def stop(self) -> None:
        self.finish(PlaybackOutcome.STOPPED)

    def __await__(self) -> Any:
        return self.future.__await__()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.source.items] if isinstance(self.source,
                                                                PromptSequence) else []


class Leg:
    def __init__(self, label: str, port: int) -> None:
        self.label, self.local_host, self.local_port = label, "127.0.0.1", port
        self.closed = False
        self.codec = "PCMU"
        self.remote: tuple[Any, ...] | None = None
        self.direction = "sendrecv"
        self.dtmf: list[Any] = []
        self.music: str | None = None
        self.bridged: Leg | None = None
        self.heard: list[list[str]] = []  # prompt names of each playback
        self.stats: dict[str, int] = {"packets_received": 0}  # what the CDR row copies

    def set_remote(self, addr: Any, pt: int, codec: str, te: int | None) -> None:
        self.remote = (addr, pt, codec, te)

    def set_direction(self, direction: str) -> None:
        self.direction = direction

    def on_dtmf(self, cb: Any) -> None:
        self.dtmf.append(cb)

    def press(self, digit: str) -> None:
        from media.events import DtmfDigit, DtmfSource

        for cb in self.dtmf:
            cb(DtmfDigit(digit, DtmfSource.RFC4733, 100, 0.0, self.label))

    async def close(self) -> None:
        self.closed = True


class Media:
    def __init__(self) -> None:
        self.legs: dict[str, Leg] = {}
        self.playbacks: list[Playback] = []
        self.music_streams: dict[str, Any] = {}
        self.prompts = LIB
        self._port = 30000

    async def open_leg(self, label: str) -> Leg:
        self._port += 2
        leg = self.legs[label] = Leg(label, self._port)
        return leg

    def play(self, leg: Leg, source: Any, *, interruptible: bool = False) -> Playback:
        for pb in self.playbacks:
            if pb.leg is leg:
                pb.stop()
        pb = Playback(leg, source)
        self.playbacks.append(pb)
        leg.heard.append(pb.names)
        return pb

    def attach_moh(self, leg: Leg, name: str = "default") -> None:
        leg.music = name

    def detach_moh(self, leg: Leg) -> None:
        leg.music = None

    def add_music(self, name: str, source: Any) -> None:
        self.music_streams[name] = source

    def bridge(self, a: Leg, b: Leg) -> None:
        a.bridged, b.bridged = b, a

    def unbridge(self, a: Leg, b: Leg) -> None:
        a.bridged = b.bridged = None


class Registrar:
    def __init__(self) -> None:
        self.bindings: dict[str, list[Binding]] = {}

    def add(self, ext: str, port: int, expires_at: float = 3600.0) -> None:
        self.bindings.setdefault(ext, []).append(Binding(
            ext, f"sip:{ext}@127.0.0.1:{port}", expires_at, new_call_id(), 1, "127.0.0.1",
            port, "udp"))

    def targets(self, aor: str, now: float) -> list[Binding]:
        return [b for b in self.bindings.get(aor, []) if b.expires_at > now]


@dataclass
class Ext:
    number: str
    agent_id: str = ""


# ------------------------------------------------------------------ fixtures and helpers


def make(queues: list[dict[str, Any]], *, registered: tuple[str, ...] = ("2000", "2001"),
         trunks: TrunkRouter | None = None, store: Any = None
         ) -> tuple[QueueCalls, Endpoint, Media, Registrar, VirtualClock, list[Any]]:
    exts = {n: Ext(n, agent_id=f"{n[-1]}7") for n in ("2000", "2001", "3000", "3001", "30010")}
    config = parse_acd_config({"queues": queues}, extensions=list(exts))
    # the switch's destinations resolve against these queues (a destination the config
    # check would refuse still reaches the controller: it is not available at run time)
    switch_config = dataclasses.replace(parse_config(yaml.safe_dump({
        "sip": {"listen": ["udp:127.0.0.1:5060"], "domain": "127.0.0.1"},
        "extensions": [{"number": n, "name": n, "password": f"pw-{n}"} for n in exts]})),
        acd=config)
    endpoint, media, registrar, clock = Endpoint(), Media(), Registrar(), VirtualClock()
    bus = EventBus()
    events: list[Any] = []
    bus.subscribe(events.append)
    for i, ext in enumerate(registered):
        registrar.add(ext, 7000 + i)
    qc = QueueCalls(acd_config=config, endpoint=endpoint, media=media, registrar=registrar,
                    events=bus, domain="127.0.0.1", user_agent="test", extensions=exts,
                    clock=clock, trunks=trunks, store=store,
                    destinations=DestinationRouter(switch_config))
    qc.sync_registrations()
    return qc, endpoint, media, registrar, clock, events


def queue(**kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"number": "6400", "name": "Sales", "strategy": "linear",
                         "static_agents": ["2000", "2001"], "ring_timeout": 20,
                         "retry_interval": 5, "wrapup": 10, "alert_info": "sales-queue"}
    d.update(kw)
    return d


def invite(caller: str = "3000", display: str = "Alice") -> Request:
    offer = sdplib.create_offer("127.0.0.1", 4000, codecs=("PCMU", "PCMA"))
    return Request("INVITE", SipUri.parse("sip:6400@127.0.0.1"), headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + new_tag()),
        ("From", Address(SipUri.parse(f"sip:{caller}@127.0.0.1"), display,
                         {"tag": new_tag()})),
        ("To", Address(SipUri.parse("sip:6400@127.0.0.1"))),
        ("Call-ID", new_call_id()),
        ("CSeq", "1 INVITE"),
        ("Contact", f"<sip:{caller}@127.0.0.1:5070>"),
        ("Content-Type", "application/sdp"),
    ], body=bytes(offer))


async def settle() -> None:
    """Let the controller's spawned tasks (opening media legs) run; no timer waits."""
    for _ in range(5):
        await asyncio.sleep(0)


def answer(out: Outgoing, status: int = 200) -> None:
    body = b""
    headers: list[tuple[str, Any]] = [("Contact", f"<sip:{out.request.to.uri.user}"
                                                  f"@127.0.0.1:7000>")]
    if status == 200:
        body = bytes(sdplib.create_answer(sdplib.SessionDescription.parse(out.request.body),
                                          "127.0.0.1", 7100, codecs=("PCMU",)))
        headers.append(("Content-Type", "application/sdp"))
    out.on_response(out.request.create_response(status, to_tag=new_tag(), headers=headers,
                                                body=body))


def in_dialog(call_id: str, method: str, to_tag: str = "x", body: bytes = b"") -> Request:
    return Request(method, SipUri.parse("sip:switch@127.0.0.1"), headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + new_tag()),
        ("From", Address(SipUri.parse("sip:x@127.0.0.1"), None, {"tag": new_tag()})),
        ("To", Address(SipUri.parse("sip:y@127.0.0.1"), None, {"tag": to_tag})),
        ("Call-ID", call_id), ("CSeq", f"2 {method}"),
        *([("Content-Type", "application/sdp")] if body else []),
    ], body=body)


async def join(qc: QueueCalls, endpoint: Endpoint, caller: str = "3000") -> str:
    req = invite(caller)
    assert qc.route_invite(Txn(Peer("udp", "127.0.0.1", 5070)), req, caller) is False  # no plan
    qc.handle_invite(Txn(Peer("udp", "127.0.0.1", 5070)), req, caller, "6400")
    await settle()
    return req.call_id


# ------------------------------------------------------------------ tests


async def test_caller_answered_hears_join_prompt_then_music_agent_rung() -> None:
    qc, endpoint, media, _, _, events = make([queue(prompts={
        "join_announcement": "welcome-to-queue", "ringback_tone": "default"})])
    call_id = await join(qc, endpoint)
    ok = endpoint.responses[-1]
    assert ok.status == 200 and ok.content_type == "application/sdp"
    caller_leg = media.legs[f"{call_id}/q"]
    assert caller_leg.heard[0] == ["en/welcome-to-queue"]
    assert caller_leg.music == "default"  # heard once the announcement ends
    [ring] = endpoint.invites_to("2000")
    assert ring.request.from_.display_name == "Sales: Alice"
    assert ring.request.get("Alert-Info") == "<http://127.0.0.1/>;info=sales-queue"
    assert [type(e) for e in events if isinstance(e, TaskJoined | OfferStarted)] == [
        TaskJoined, OfferStarted]


async def test_full_join_prompt_before_ringing() -> None:
    qc, endpoint, media, _, _, _ = make([queue(prompts={
        "join_announcement": "welcome-to-queue", "play_full_prompt_before_ringing": True})])
    call_id = await join(qc, endpoint)
    assert endpoint.invites_to("2000") == []
    media.playbacks[0].finish()
    await settle()
    assert len(endpoint.invites_to("2000")) == 1
    assert qc.state(qc.tasks[call_id]) == "waiting"


async def test_ring_timeout_cancels_and_retry_rings_next_agent_in_virtual_time() -> None:
    qc, endpoint, _, _, clock, _ = make([queue()])
    await join(qc, endpoint)
    [first] = endpoint.invites_to("2000")
    clock.advance(20.0)  # ring_timeout
    qc.tick()
    assert first.cancelled
    answer(first, 487)  # the phone confirms the CANCEL: not counted again
    await settle()
    assert endpoint.invites_to("2001") == []  # retry interval (5 s) first
    clock.advance(5.0)
    qc.tick()
    await settle()
    assert len(endpoint.invites_to("2001")) == 1


async def test_answer_bridges_and_announces_agent_id_to_both_then_bye_starts_wrapup() -> None:
    qc, endpoint, media, _, clock, events = make([queue(prompts={"announce_agent_id": True})])
    call_id = await join(qc, endpoint)
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    assert ring.acks, "the agent's 200 OK is ACKed"
    caller_leg = media.legs[f"{call_id}/q"]
    agent_leg = media.legs[f"{call_id}/2000"]
    assert caller_leg.bridged is agent_leg
    assert caller_leg.music is None
    said = ["en/agent-id-prefix", "en/num-0", "en/num-7"]  # agent_id "07"
    assert caller_leg.heard[-1] == said and agent_leg.heard[-1] == said
    assert qc.state(qc.tasks[call_id]) == "connected"
    # the agent hangs up: BYE to the caller, wrap-up starts
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7000)),
                        in_dialog(ring.request.call_id, "BYE"))
    await settle()
    assert [o.request.method for o in endpoint.sent][-1] == "BYE"
    assert any(isinstance(e, WrapupStarted) and e.agent == "2000" for e in events)
    # a new caller during wrap-up rings the other agent
    await join(qc, endpoint, caller="3001")
    assert len(endpoint.invites_to("2001")) == 1 and len(endpoint.invites_to("2000")) == 1


async def test_caller_hangs_up_while_ringing_cancels_the_agent_and_counts_abandoned() -> None:
    qc, endpoint, _, _, _, events = make([queue()])
    call_id = await join(qc, endpoint)
    [ring] = endpoint.invites_to("2000")
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 5070)), in_dialog(call_id, "BYE"))
    await settle()
    assert ring.cancelled
    [left] = [e for e in events if isinstance(e, TaskLeft)]
    assert left.status.value == "abandoned"


async def test_agent_on_an_extension_call_is_not_rung_unless_ring_in_use() -> None:
    qc, endpoint, _, _, _, _ = make([queue()])
    qc.call_started("2000")  # the B2BUA: 2000 is on a call with another extension
    await join(qc, endpoint)
    assert endpoint.invites_to("2000") == [] and len(endpoint.invites_to("2001")) == 1
    qc.call_ended("2000")


async def test_unregistered_agent_rings_once_the_phone_registers() -> None:
    qc, endpoint, _, registrar, _, _ = make([queue(static_agents=["2000"])], registered=())
    await join(qc, endpoint)
    assert endpoint.invites_to("2000") == []
    registrar.add("2000", 7000)
    qc.registration_changed("2000")
    await settle()
    assert len(endpoint.invites_to("2000")) == 1


async def test_agent_hold_plays_hold_music_to_the_caller() -> None:
    qc, endpoint, media, _, clock, events = make([queue(prompts={"hold_music": "default"})])
    call_id = await join(qc, endpoint)
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    caller_leg = media.legs[f"{call_id}/q"]
    hold = sdplib.create_offer("127.0.0.1", 7100, codecs=("PCMU",), direction="sendonly")
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7000)),
                        in_dialog(ring.request.call_id, "INVITE", body=bytes(hold)))
    assert endpoint.responses[-1].status == 200
    assert b"a=recvonly" in endpoint.responses[-1].body
    assert caller_leg.music == "default"
    resume = sdplib.create_offer("127.0.0.1", 7100, codecs=("PCMU",))
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7000)),
                        in_dialog(ring.request.call_id, "INVITE", body=bytes(resume)))
    assert caller_leg.music is None
    # the report rows' hold duration comes from these (one per change, refreshes ignored)
    # (the same hold event as an extension call's: the agent is the callee)
    assert [(e.call_id, e.queue, e.callee, e.party, e.held) for e in events
            if isinstance(e, CallHoldChanged)] == [(call_id, "6400", "2000", "callee", True),
                                                   (call_id, "6400", "2000", "callee", False)]


def numbered(call_id: str, method: str, cseq: int, body: bytes = b"",
             content_type: str | None = None) -> Request:
    """An in-dialog request with its own CSeq number."""
    request = in_dialog(call_id, method, body=body)
    request.set("CSeq", f"{cseq} {method}")
    if content_type is not None:
        request.set("Content-Type", content_type)
    return request


async def test_the_agents_requests_get_the_callers_policy_answers() -> None:
    """The switch's dialog with an answered agent is answered by the one in-dialog policy
    (softswitch.apps.indialog), row for row as the caller's dialog is, not by a second
    table; a key the agent sends by INFO reaches the caller; the late offer of an agent's
    re-INVITE without SDP is completed by its ACK (hold music for the caller)."""
    qc, endpoint, media, _, _, events = make([queue(prompts={"hold_music": "default"})])
    call_id = await join(qc, endpoint)
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    agent_id = ring.request.call_id
    rows = [("UPDATE", b"", None), ("MESSAGE", b"hi", "text/plain"), ("PRACK", b"", None),
            ("NOTIFY", b"", None), ("FOO", b"", None), ("INFO", b"hello", "text/plain"),
            ("INFO", b"", None), ("OPTIONS", b"", None)]

    def answers(dialog_id: str, peer: int) -> list[int]:
        out = []
        for cseq, (method, body, ctype) in enumerate(rows, start=10):
            qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", peer)),
                                numbered(dialog_id, method, cseq, body, ctype))
            out.append(endpoint.responses[-1].status)
        qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", peer)),
                            numbered(dialog_id, "OPTIONS", 3))  # out of order (§12.2.2)
        return [*out, endpoint.responses[-1].status]

    agent = answers(agent_id, 7000)
    assert agent == [200, 405, 481, 481, 501, 415, 200, 200, 500]
    assert agent == answers(call_id, 5070)  # the caller's dialog: the same table

    sent = len(endpoint.sent)
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7000)),
                        numbered(agent_id, "INFO", 30, b"Signal=5\r\nDuration=100\r\n",
                                 "application/dtmf-relay"))
    assert endpoint.responses[-1].status == 200
    [relayed] = endpoint.sent[sent:]
    assert relayed.request.method == "INFO" and relayed.request.call_id == call_id
    assert relayed.request.body == b"Signal=5\r\nDuration=100\r\n"

    caller_leg = media.legs[f"{call_id}/q"]
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7000)), numbered(agent_id, "INVITE", 31))
    offer = endpoint.responses[-1]
    assert offer.status == 200 and b"m=audio" in offer.body  # our offer, to be answered
    held = sdplib.create_offer("127.0.0.1", 7100, codecs=("PCMU",), direction="sendonly")
    qc.handle_ack(numbered(agent_id, "ACK", 31, bytes(held), "application/sdp"))
    assert caller_leg.music == "default"
    assert [(e.party, e.held) for e in events if isinstance(e, CallHoldChanged)] == [
        ("callee", True)]
    resume = sdplib.create_offer("127.0.0.1", 7100, codecs=("PCMU",))
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7000)),
                        numbered(agent_id, "INVITE", 32, bytes(resume), "application/sdp"))
    assert endpoint.responses[-1].status == 200  # the ACK ended the pending offer
    assert caller_leg.music is None


async def test_caller_hold_of_a_connected_call_is_reported_but_not_while_waiting() -> None:
    qc, endpoint, _, _, _, events = make([queue()])
    call_id = await join(qc, endpoint)
    hold = sdplib.create_offer("127.0.0.1", 7300, codecs=("PCMU",), direction="inactive")
    resume = sdplib.create_offer("127.0.0.1", 7300, codecs=("PCMU",))
    caller = Txn(Peer("udp", "127.0.0.1", 5070))
    qc.handle_in_dialog(caller, in_dialog(call_id, "INVITE", body=bytes(hold)))
    assert endpoint.responses[-1].status == 200
    assert not [e for e in events if isinstance(e, CallHoldChanged)]  # still waiting
    qc.handle_in_dialog(caller, in_dialog(call_id, "INVITE", body=bytes(resume)))
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    qc.handle_in_dialog(caller, in_dialog(call_id, "INVITE", body=bytes(hold)))
    qc.handle_in_dialog(caller, in_dialog(call_id, "INVITE", body=bytes(hold)))
    qc.handle_in_dialog(caller, in_dialog(call_id, "INVITE", body=bytes(resume)))
    assert [(e.party, e.held) for e in events if isinstance(e, CallHoldChanged)] == [
        ("caller", True), ("caller", False)]


@pytest.mark.parametrize("typed, registered", [("30010#", True), ("12#", False)])
async def test_callback_number_entry(typed: str, registered: bool) -> None:
    qc, endpoint, media, _, _, events = make([queue(
        static_agents=["2000"], callback={"method": "press_key", "key": "1"})], registered=())
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    leg.press("1")
    assert leg.heard[-1][:1] == ["en/callback-number-confirm-prefix"]
    leg.press("2")
    assert leg.heard[-1] == ["en/enter-callback-number"]
    for d in typed:
        leg.press(d)
    await settle()
    names = [type(e).__name__ for e in events]
    if registered:
        assert "CallbackRequested" in names
        assert leg.heard[-1] == ["en/callback-confirmed"]
        assert qc.state(qc.tasks[call_id]) == "callback"
    else:
        assert "CallbackFailed" in names  # fewer than 5 digits
        assert leg.heard[-1] == ["en/invalid-number"]
        assert qc.state(qc.tasks[call_id]) == "waiting"


async def test_destination_not_available_says_goodbye_and_hangs_up() -> None:
    qc, endpoint, media, _, clock, _ = make([queue(key_press_events=[
        {"key": "9", "destination": {"type": "voicemail", "target": "2000"}}])])
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    leg.press("9")
    await settle()
    assert leg.heard[-1] == ["en/goodbye"]
    media.playbacks[-1].finish()
    await settle()
    clock.advance(0.3)  # the shell's pause for the phone's jitter buffer
    await settle()
    assert endpoint.sent[-1].request.method == "BYE"
    assert endpoint.invites_to("2000")[0].cancelled


async def request_callback(number: str, *, trunks: TrunkRouter | None = None,
                           dynamic_agents: tuple[str, ...] = (), **cb: Any) -> tuple[Any, ...]:
    """A caller in a queue without a reachable agent registers a callback to ``number``."""
    qc, endpoint, media, registrar, clock, events = make([queue(
        static_agents=["2000"], dynamic_agents=list(dynamic_agents),
        callback={"method": "press_key", "key": "1", **cb})], registered=(), trunks=trunks)
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    for d in "12" + number + "#":
        leg.press(d)
    await settle()
    media.playbacks[-1].finish()  # "your callback has been confirmed ... goodbye"
    await settle()
    clock.advance(0.3)
    await settle()
    assert endpoint.sent[-1].request.method == "BYE"  # the switch ends the caller's call
    return qc, endpoint, media, registrar, clock, events, call_id


async def test_callback_requests_pending_at_shutdown_are_kept_not_ended() -> None:
    qc, _, _, _, clock, events, call_id = await request_callback("30010")
    with structlog.testing.capture_logs() as logs:
        stopping = asyncio.create_task(qc.shutdown())
        await settle()
        clock.advance(0.2)  # the BYEs' time to leave, on the clock
        await stopping
    kept = [e for e in logs if e["event"] == "callback request kept for the next start"]
    assert [(e["queue"], e["number"]) for e in kept] == [("6400", "30010")]
    # no outcome: the request is still pending (persisted, served after the restart)
    assert not [e for e in events if isinstance(e, TaskLeft) and e.task == call_id]


async def agent_answers_the_callback(qc: QueueCalls, endpoint: Endpoint,
                                     registrar: Registrar) -> Outgoing:
    """Agent 2000's phone registers, rings for the pending callback and answers it."""
    registrar.add("2000", 7000)
    qc.registration_changed("2000")
    await settle()
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    await settle()
    return ring


def failures(events: list[Any]) -> list[str]:
    return [e.reason.value for e in events if type(e).__name__ == "CallbackFailed"]


async def test_callback_calls_the_agent_first_then_the_customer() -> None:
    qc, endpoint, media, registrar, _, events, call_id = await request_callback("30010")
    registrar.add("30010", 7300)
    assert endpoint.invites_to("2000") == []
    registrar.add("2000", 7000)
    qc.registration_changed("2000")
    await settle()
    [ring] = endpoint.invites_to("2000")
    assert ring.request.from_.display_name == "Sales: callback 30010"
    assert endpoint.invites_to("30010") == []  # the agent first
    answer(ring)
    await settle()
    [customer] = endpoint.invites_to("30010")
    assert customer.request.from_.uri.user == "6400"
    answer(customer)
    assert media.legs[f"{call_id}/2000"].bridged is media.legs[f"{call_id}/customer"]
    assert "CallbackSucceeded" in [type(e).__name__ for e in events]
    # either side holds: the other hears the hold music; the hold is reported
    agent_leg, customer_leg = media.legs[f"{call_id}/2000"], media.legs[f"{call_id}/customer"]
    for dialog, peer, held_leg in ((ring, 7000, customer_leg), (customer, 7300, agent_leg)):
        hold = sdplib.create_offer("127.0.0.1", peer + 100, codecs=("PCMU",),
                                   direction="sendonly")
        resume = sdplib.create_offer("127.0.0.1", peer + 100, codecs=("PCMU",))
        qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", peer)),
                            in_dialog(dialog.request.call_id, "INVITE", body=bytes(hold)))
        assert held_leg.music == "default"
        qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", peer)),
                            in_dialog(dialog.request.call_id, "INVITE", body=bytes(resume)))
        assert held_leg.music is None
    assert [(e.party, e.held) for e in events if isinstance(e, CallHoldChanged)] == [
        ("callee", True), ("callee", False), ("caller", True), ("caller", False)]
    # the customer hangs up: the agent gets BYE, the call ends for the engine (wrap-up)
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7300)),
                        in_dialog(customer.request.call_id, "BYE"))
    assert endpoint.sent[-1].request.method == "BYE"
    assert endpoint.sent[-1].request.call_id == ring.request.call_id
    assert any(isinstance(e, WrapupStarted) for e in events)


@pytest.mark.parametrize("number, registered, status", [
    ("30010", True, 486),  # the customer declines
    ("30010", False, None),  # the customer's extension is not registered
    ("5551234", False, None),  # not an extension: no trunk yet
])
async def test_callback_fails_with_reason_and_releases_the_agent(
        number: str, registered: bool, status: int | None) -> None:
    qc, endpoint, _, registrar, _, events, call_id = await request_callback(number)
    if registered:
        registrar.add(number, 7300)
    await agent_answers_the_callback(qc, endpoint, registrar)
    if status is not None:
        answer(endpoint.invites_to(number)[0], status)
        await settle()
    assert failures(events) == ["customer_no_answer"]
    assert endpoint.sent[-1].request.method == "BYE"  # the agent is hung up
    assert qc.state(qc.tasks[call_id]) == "ended"


def carrier(*permitted: str) -> TrunkRouter:
    """Prefix 9 out through the carrier trunk, permitted to ``permitted`` only."""
    return TrunkRouter([Trunk("carrier", "192.0.2.10")], (), [
        OutboundRoute("out", "9", "carrier", 1, "", frozenset(permitted))])


async def test_callback_fails_when_an_agent_of_the_queue_may_not_use_the_route() -> None:
    """§4.1 "All agents in the queue must have permission to use that outbound route,
    otherwise callback fails": dynamic agent 2001 is not permitted, so agent 2000's
    callback fails without calling the provider; the log line and the callbacks report row
    say why."""
    qc, endpoint, _, registrar, _, events, call_id = await request_callback(
        "5551234", trunks=carrier("2000"), dynamic_agents=("2001",), outbound_prefix="9")
    with structlog.testing.capture_logs() as logs:
        await agent_answers_the_callback(qc, endpoint, registrar)
    assert endpoint.invites_to("5551234") == []  # the provider is never called
    assert failures(events) == ["invalid_callback_number"]
    [line] = [e for e in logs if e["event"] == "callback customer not reachable"]
    assert line["reason"] == ("extension 2001 may not use outbound route 'out': every agent "
                              "of the queue must be permitted the route (§4.1)")
    assert endpoint.sent[-1].request.method == "BYE"  # the agent is hung up
    assert qc.state(qc.tasks[call_id]) == "ended"
    outcomes = [args for sql, args in ReportRows({}, 0.0).handle_all(events)
                if sql.startswith("UPDATE callbacks")]
    assert [(agent, outcome, reason) for _, agent, outcome, reason, _ in outcomes] == [
        (None, "failed", "invalid_callback_number")]


async def test_callback_goes_out_when_every_agent_may_use_the_route() -> None:
    qc, endpoint, _, registrar, _, events, _ = await request_callback(
        "5551234", trunks=carrier("2000", "2001"), dynamic_agents=("2001",),
        outbound_prefix="9")
    await agent_answers_the_callback(qc, endpoint, registrar)
    [customer] = endpoint.invites_to("5551234")
    assert str(customer.request.uri).startswith("sip:5551234@192.0.2.10:5060")
    assert failures(events) == []


async def test_callback_request_expires_without_an_idle_agent() -> None:
    qc, _, _, _, clock, events, call_id = await request_callback("30010", callback_timeout=60)
    clock.advance(60.0)
    qc.tick()
    assert failures(events) == ["no_idle_agent"]
    assert qc.state(qc.tasks[call_id]) == "ended"


async def test_periodic_announcements_in_the_queues_language_in_virtual_time() -> None:
    qc, endpoint, media, _, clock, _ = make([queue(static_agents=["2000"], prompts={
        "queue_announcement": "press-1-for-callback", "queue_announcement_frequency": 30,
        "announce_position": True, "announce_estimated_wait_time": True,
        "play_thank_you": True, "position_announcement_frequency": 45, "language": "zh"})],
        registered=())
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    assert leg.heard == []  # no join announcement configured: music only
    assert leg.music == "default"
    clock.advance(30.0)
    qc.tick()
    assert leg.heard[-1] == ["zh/press-1-for-callback"]
    clock.advance(15.0)
    qc.tick()
    said = leg.heard[-1]
    # the only caller: nobody ahead (您已排在第一位), then 感谢您的耐心等待
    assert said[0] == "zh/no-callers-ahead" and said[-1] == "zh/thank-you-for-patience"
    assert "zh/estimated-wait-time" not in said  # no agent serves the queue: no estimate
    assert leg.music == "default"  # the music comes back after each announcement


async def test_agent_announcement_is_heard_by_the_agent_only() -> None:
    qc, endpoint, media, _, _, _ = make([queue(prompts={
        "agent_announcement": "queue-call-for-agent", "announce_agent_id": False})])
    call_id = await join(qc, endpoint)
    answer(endpoint.invites_to("2000")[0])
    assert media.legs[f"{call_id}/2000"].heard[-1] == ["en/queue-call-for-agent"]
    assert media.legs[f"{call_id}/q"].heard == []


async def test_failover_to_another_queue_keeps_the_call() -> None:
    qc, endpoint, media, _, clock, events = make([
        queue(static_agents=["2000"], max_wait=10,
              failover={"type": "queue", "target": "6401"}),
        queue(number="6401", name="Overflow", static_agents=["2001"])],
        registered=("2001",))
    call_id = await join(qc, endpoint)
    assert endpoint.invites_to("2001") == []
    clock.advance(10.0)
    qc.tick()
    await settle()
    [ring] = endpoint.invites_to("2001")
    assert ring.request.from_.display_name == "Overflow: Alice"
    assert qc.tasks[call_id].queue == "6401"
    assert [e.queue for e in events if isinstance(e, TaskJoined)] == ["6400", "6401"]


async def test_no_announcement_over_the_callback_number_dialogue() -> None:
    qc, endpoint, media, _, clock, _ = make([queue(
        static_agents=["2000"], callback={"method": "press_key", "key": "1"},
        prompts={"announce_position": True, "position_announcement_frequency": 10})],
        registered=())
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    leg.press("1")
    heard = len(leg.heard)
    clock.advance(10.0)
    qc.tick()
    assert len(leg.heard) == heard  # still the callback prompt


async def test_callback_offered_after_the_timeout() -> None:
    qc, endpoint, media, _, clock, _ = make([queue(
        static_agents=["2000"], callback={"method": "timeout", "timeout": 60})], registered=())
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    clock.advance(60.0)
    qc.tick()
    assert leg.heard[-1][0] == "en/callback-number-confirm-prefix"
    assert qc.state(qc.tasks[call_id]) == "collecting"


async def test_leave_when_empty_sends_waiting_callers_to_failover() -> None:
    qc, endpoint, media, registrar, clock, events = make([queue(
        static_agents=["2000"], leave_when_empty=["unregistered"],
        failover={"type": "hangup"})], registered=("2000",))
    call_id = await join(qc, endpoint)
    [ring] = endpoint.invites_to("2000")
    answer(ring, 486)  # the agent declines; the caller waits for the retry
    await settle()
    registrar.bindings.clear()
    qc.registration_changed("2000")  # the agent's phone unregisters: nobody left
    await settle()
    assert [e.reason.value for e in events if isinstance(e, TaskLeft)] == ["empty"]
    assert endpoint.sent[-1].request.method == "BYE"
    assert qc.state(qc.tasks[call_id]) == "ended"


async def test_every_registered_phone_of_the_agent_rings_first_answer_wins() -> None:
    qc, endpoint, media, registrar, _, _ = make([queue(static_agents=["2000"])], registered=())
    registrar.add("2000", 7000)
    registrar.add("2000", 7001)  # desk phone and softphone
    qc.registration_changed("2000")
    call_id = await join(qc, endpoint)
    desk, soft = endpoint.invites_to("2000")
    assert {desk.peer.port, soft.peer.port} == {7000, 7001}
    answer(soft)
    assert desk.cancelled and not soft.cancelled
    assert media.legs[f"{call_id}/q"].bridged is media.legs[f"{call_id}/2000"]


async def test_answer_after_the_ring_timed_out_is_hung_up() -> None:
    qc, endpoint, _, _, clock, events = make([queue(static_agents=["2000"])],
                                             registered=("2000",))
    call_id = await join(qc, endpoint)
    [ring] = endpoint.invites_to("2000")
    clock.advance(20.0)
    qc.tick()
    assert ring.cancelled
    answer(ring)  # the 200 OK crossed the CANCEL
    assert ring.acks and endpoint.sent[-1].request.method == "BYE"
    assert qc.state(qc.tasks[call_id]) == "waiting"
    assert not any(type(e).__name__ == "TaskLeft" for e in events)


async def test_cancel_before_the_switch_answered() -> None:
    qc, endpoint, media, _, _, events = make([queue()])
    req = invite()
    txn = Txn(Peer("udp", "127.0.0.1", 5070), req.call_id)
    qc.handle_invite(txn, req, "3000", "6400")
    assert qc.handle_cancel(Txn(Peer("udp", "127.0.0.1", 5070), "other")) is False
    assert qc.handle_cancel(txn) is True  # the media leg is still being opened
    await settle()
    assert endpoint.responses[-1].status == 487
    assert media.legs[f"{req.call_id}/q"].closed
    assert endpoint.invites_to("2000") == []
    assert not any(isinstance(e, TaskJoined) for e in events)


async def test_silent_caller_in_the_callback_dialogue_is_rung_when_an_agent_frees() -> None:
    qc, endpoint, media, registrar, clock, _ = make([queue(
        static_agents=["2000"], callback={"method": "press_key", "key": "1"})], registered=())
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    leg.press("1")
    assert leg.heard[-1][0] == "en/callback-number-confirm-prefix"
    clock.advance(15.0)
    qc.tick()  # silence: the prompt once more
    assert len(leg.heard) == 2 and leg.heard[-1][0] == "en/callback-number-confirm-prefix"
    clock.advance(15.0)
    qc.tick()  # silence again: back in line, music
    assert qc.state(qc.tasks[call_id]) == "waiting"
    assert media.playbacks[-1].done and leg.music == "default"
    registrar.add("2000", 7000)
    qc.registration_changed("2000")
    await settle()
    [ring] = endpoint.invites_to("2000")
    assert ring.request.from_.display_name == "Sales: Alice"


async def test_agent_hanging_up_before_the_customer_answers_fails_as_agent_hung_up() -> None:
    """§8.7 failure reason "Agent hung up" (坐席挂断)."""
    qc, endpoint, _, registrar, _, events, call_id = await request_callback("30010")
    registrar.add("30010", 7300)
    ring = await agent_answers_the_callback(qc, endpoint, registrar)
    [customer] = endpoint.invites_to("30010")
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7000)),
                        in_dialog(ring.request.call_id, "BYE"))
    assert failures(events) == ["agent_hung_up"]
    assert customer.cancelled
    assert qc.state(qc.tasks[call_id]) == "ended"


async def test_restored_callback_request_is_served_agent_first() -> None:
    """After a restart (softswitch.store.agent_state) the shell adopts the request the ACD
    restored: when the agent's phone registers it rings, then the customer is called."""
    qc, endpoint, media, registrar, clock, events = make([queue(
        static_agents=["2000"], callback={"method": "press_key", "key": "1"})], registered=())
    qc.adopt_callback("old-call", "6400", "3000", "30010")
    qc.execute(qc.acd.restore_callback("old-call", "6400", clock.monotonic(), caller="3000",
                                       number="30010", joined=clock.monotonic() - 50.0,
                                       expires=clock.monotonic() + 600.0))
    registrar.add("30010", 7300)
    ring = await agent_answers_the_callback(qc, endpoint, registrar)
    assert ring.request.from_.display_name == "Sales: callback 30010"
    [customer] = endpoint.invites_to("30010")
    answer(customer)
    assert media.legs["old-call/2000"].bridged is media.legs["old-call/customer"]
    assert [type(e).__name__ for e in events if type(e).__name__.startswith("Callback")] == [
        "CallbackSucceeded"]


# ------------------------------------------------------------------ crash-safe call records


def with_store(store: Any) -> tuple[QueueCalls, Endpoint]:
    """Queue 6400 with agent 2000 (registered at port 7000) writing to a real store."""
    exts = {n: Ext(n) for n in ("2000", "3000")}
    registrar = Registrar()
    registrar.add("2000", 7000)
    endpoint = Endpoint()
    qc = QueueCalls(acd_config=parse_acd_config({"queues": [queue(static_agents=["2000"])]},
                                                extensions=list(exts)),
                    endpoint=endpoint, media=Media(), registrar=registrar, events=EventBus(),
                    domain="127.0.0.1", user_agent="test", extensions=exts, store=store,
                    clock=VirtualClock())
    qc.sync_registrations()
    return qc, endpoint


async def test_queue_call_record_is_open_with_both_dialogs_until_it_ends_and_a_crash_is_swept(
        tmp_path: Any) -> None:
    """softswitch.calls.records on the queue path: the caller's row opens at the INVITE, the
    caller's dialog is kept from the answer and the agent's from the connect; after a crash
    the next start-up closes the row INTERRUPTED and sends both legs a BYE in their dialogs."""
    from softswitch.calls.records import close_interrupted_calls, hang_up_interrupted
    from softswitch.store import Store

    path = str(tmp_path / "db.sqlite3")
    store = await Store.open(path)
    qc, endpoint = with_store(store)
    call_id = await join(qc, endpoint)
    await store.flush()
    assert await store.fetch("SELECT state, call_id, caller, callee, answer_time IS NOT NULL"
                             " FROM cdr") == [("open", call_id, "3000", "6400", 1)]
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    await store.flush()
    legs = {r.leg: r for r in await store.call_dialogs()}
    assert sorted(legs) == ["agent", "caller"]
    assert (legs["caller"].call_id, legs["caller"].port) == (call_id, 5070)
    assert (legs["agent"].call_id, legs["agent"].port) == (ring.request.call_id, 7000)

    await store.close()  # the crash: the row stays open, the dialogs stay on disk
    store = await Store.open(path)
    after = Endpoint()
    swept = await close_interrupted_calls(store)
    assert (swept.closed, swept.byes) == (1, 2)
    hang_up_interrupted(store, after, swept)
    byes = {o.request.call_id: o for o in after.sent}
    assert [o.request.method for o in after.sent] == ["BYE", "BYE"]
    assert (byes[call_id].peer, byes[call_id].request.from_.tag) == (
        Peer("udp", "127.0.0.1", 5070), endpoint.responses[-1].to.tag)
    assert byes[ring.request.call_id].peer == Peer("udp", "127.0.0.1", 7000)
    for out in after.sent:
        out.on_response(out.request.create_response(200))
    await store.flush()
    assert await store.call_dialogs() == []
    assert await store.fetch("SELECT state, disposition, hangup_cause FROM cdr") == [
        ("closed", "INTERRUPTED", "switch restart")]
    await store.close()


async def test_queue_call_record_completed_when_the_caller_hangs_up(tmp_path: Any) -> None:
    from softswitch.store import Store

    store = await Store.open(str(tmp_path / "db.sqlite3"))
    qc, endpoint = with_store(store)
    call_id = await join(qc, endpoint)
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 5070)), in_dialog(call_id, "BYE"))
    await settle()
    await store.flush()
    assert await store.fetch("SELECT state, disposition, hangup_side FROM cdr") == [
        ("closed", "ANSWERED", "caller")]
    assert await store.call_dialogs() == []
    await store.close()


async def test_an_unanswered_survey_says_goodbye_after_ten_seconds_in_virtual_time() -> None:
    """§9.6: the agent hangs up, the caller hears the survey and presses nothing: 10 s
    later "goodbye", then (after the 0.3 s the phone's jitter buffer needs) BYE. Both waits
    are timers of the clock: no test or production code sleeps in real time."""
    qc, endpoint, media, _, clock, _ = make([queue(
        satisfaction_survey={"prompt": "survey-question"})])
    call_id = await join(qc, endpoint)
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7000)),
                        in_dialog(ring.request.call_id, "BYE"))
    await settle()
    caller_leg = media.legs[f"{call_id}/q"]
    assert qc.state(qc.tasks[call_id]) == "survey"
    assert caller_leg.heard[-1] == ["en/survey-question"]
    media.playbacks[-1].finish()
    await settle()

    def byes_to_caller() -> int:
        return sum(1 for o in endpoint.sent
                   if o.request.method == "BYE" and o.request.call_id == call_id)

    clock.advance(9.9)
    await settle()
    assert qc.state(qc.tasks[call_id]) == "survey"  # still time to press a key
    clock.advance(0.1)
    await settle()
    assert caller_leg.heard[-1] == ["en/goodbye"]
    media.playbacks[-1].finish()
    await settle()
    assert byes_to_caller() == 0
    clock.advance(0.3)
    await settle()
    assert byes_to_caller() == 1
    assert qc.state(qc.tasks[call_id]) == "ended"


# ------------------------------------------------------------------ where a call is


async def test_state_is_read_from_the_flow_the_engine_and_the_parties() -> None:
    """`QueueCalls.state` keeps no copy: answering until the 200, the flow's phase while
    the caller waits or hears the last prompt, the kept place of a callback (without, then
    with, the agent's answered call), connected when the engine and the switch both have
    the agent, ended once forgotten. `QueueTask.in_engine` is the engine's own answer."""
    qc, endpoint, media, registrar, clock, _ = make([queue(
        static_agents=["2000"], callback={"method": "press_key", "key": "1"},
        key_press_events=[{"key": "9", "destination": {"type": "voicemail",
                                                       "target": "2000"}}])],
        registered=())
    req = invite()
    qc.handle_invite(Txn(Peer("udp", "127.0.0.1", 5070), req.call_id), req, "3000", "6400")
    task = qc.tasks[req.call_id]
    assert qc.state(task) == "answering"  # its media leg is being opened
    assert not task.in_engine
    await settle()
    assert qc.state(task) == "waiting" and task.in_engine
    leg = media.legs[f"{req.call_id}/q"]
    leg.press("1")
    assert qc.state(task) == "collecting"
    for d in "230010#":
        leg.press(d)
    await settle()
    assert qc.state(task) == "callback"  # "callback confirmed" still plays: place kept
    media.playbacks[-1].finish()
    await settle()
    clock.advance(0.3)
    await settle()
    assert endpoint.sent[-1].request.method == "BYE"
    assert qc.state(task) == "callback"  # the caller is gone; the request stays
    assert task.in_engine
    registrar.add("30010", 7300)
    ring = await agent_answers_the_callback(qc, endpoint, registrar)
    assert qc.state(task) == "callback_dialing"
    [customer] = endpoint.invites_to("30010")
    answer(customer)
    assert qc.state(task) == "connected" and task.in_engine
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 7300)),
                        in_dialog(customer.request.call_id, "BYE"))
    assert qc.state(task) == "ended" and not task.in_engine
    assert endpoint.sent[-1].request.call_id == ring.request.call_id  # BYE to the agent
    # a caller sent to a destination the switch cannot reach hears goodbye: ending
    other = await join(qc, endpoint)
    media.legs[f"{other}/q"].press("9")
    await settle()
    assert qc.state(qc.tasks[other]) == "ending"
    assert not qc.tasks[other].in_engine  # the key press took it out of the queue


# ------------------------------------------------------------------ on the call shell


async def test_queue_callers_run_on_the_call_shell_with_its_one_in_dialog_policy() -> None:
    """Issue 15: a queue caller is a call of the call shell (softswitch.apps.shell), so the
    same in-dialog request gets the same answer from a queue caller as from any other call
    the switch answers itself (here a prompt): one policy, not one per owner."""
    from softswitch.apps.flow import CallInfo
    from softswitch.apps.prompt import PromptFlow

    qc, endpoint, _, _, _, _ = make([queue()])
    queue_call = await join(qc, endpoint)
    assert qc.shell.calls[queue_call].kind == "queue"
    echo = invite("3001")
    qc.shell.start(Txn(Peer("udp", "127.0.0.1", 5070)), echo, PromptFlow(prompt="goodbye"),
                   CallInfo(echo.call_id, "3001", "Bob", "7001", "en"), "prompt")
    await settle()
    assert endpoint.responses[-1].status == 200
    assert qc.shell.calls[echo.call_id].kind == "prompt"  # still playing
    reoffer = bytes(sdplib.create_offer("127.0.0.1", 4100, codecs=("PCMU",)))
    answers: dict[str, list[int]] = {}
    for call_id in (queue_call, echo.call_id):
        for method, body in (("FOO", b""), ("OPTIONS", b""), ("INVITE", reoffer),
                             ("UPDATE", b""), ("SUBSCRIBE", b"")):
            qc.shell.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 5070)),
                                      in_dialog(call_id, method, body=body))
            answers.setdefault(call_id, []).append(endpoint.responses[-1].status)
    assert answers[queue_call] == answers[echo.call_id]
    assert answers[queue_call][0] == 501  # an unknown method: Not Implemented


async def test_a_destination_key_diverts_the_caller_on_the_same_call_and_cdr_row(
        tmp_path: Any) -> None:
    """A key-press destination that is an application (here a prompt) goes on on the same
    call of the shell: the caller hears it, its timer runs in virtual time, the switch hangs
    up after it, and the call leaves one CDR row (callee: the queue) that stays open until
    then."""
    from softswitch.store import Store

    store = await Store.open(str(tmp_path / "db.sqlite3"))
    qc, endpoint, media, _, clock, events = make([queue(key_press_events=[
        {"key": "8", "destination": {"type": "prompt", "target": "goodbye"}}])],
        registered=(), store=store)
    call_id = await join(qc, endpoint)
    task = qc.tasks[call_id]
    media.legs[f"{call_id}/q"].press("8")
    await settle()
    assert qc.state(task) == "ended" and not task.in_engine
    assert qc.shell.calls[call_id].kind == "prompt"
    assert media.legs[f"{call_id}/q"].heard[-1] == ["en/goodbye"]
    await store.flush()
    assert await store.fetch("SELECT state, callee FROM cdr") == [("open", "6400")]
    media.playbacks[-1].finish()
    await settle()
    clock.advance(5.0)
    await settle()
    assert [o.request.method for o in endpoint.sent if o.request.call_id == call_id] == [
        "BYE"]
    await store.flush()
    assert await store.fetch("SELECT state, disposition, callee, hangup_side FROM cdr") == [
        ("closed", "ANSWERED", "6400", "switch")]
    assert [e.reason.value for e in events if isinstance(e, TaskLeft)] == ["key_press"]
    await store.close()


async def test_an_application_routes_an_answered_caller_into_the_queue_on_the_same_shell(
        tmp_path: Any) -> None:
    """An application answered the caller and routes it to the queue (an IVR key): the
    queue takes the call over on the same shell (a new row, opened at that moment; the
    application's row ends "routed to queue"); the caller's BYE then reaches the queue's
    call (200, abandoned while waiting)."""
    from acd.config import Destination, DestinationType
    from softswitch.apps.flow import Answer, CallInfo, FlowBase, RouteTo
    from softswitch.store import Store

    class ToQueue(FlowBase):
        def start(self, call: CallInfo, now: float) -> list[Any]:
            return [Answer(), RouteTo(Destination(DestinationType.QUEUE, "6400"))]

    store = await Store.open(str(tmp_path / "db.sqlite3"))
    qc, endpoint, media, _, clock, events = make([queue()], registered=(), store=store)
    clock.advance(60.0)
    req = invite()
    qc.shell.start(Txn(Peer("udp", "127.0.0.1", 5070)), req, ToQueue(),
                   CallInfo(req.call_id, "3000", "Alice", "7000", "en"), "ivr")
    await settle()
    task = qc.tasks[req.call_id]
    assert qc.state(task) == "waiting" and task.in_engine
    assert qc.shell.calls[req.call_id].kind == "queue"
    await store.flush()
    rows = await store.fetch("SELECT state, callee, hangup_cause, start_time FROM cdr"
                             " ORDER BY callee")
    assert [r[:3] for r in rows] == [("open", "6400", None),
                                     ("closed", "7000", "routed to queue 6400")]
    assert rows[0][3] == pytest.approx(clock.wall())
    qc.handle_in_dialog(Txn(Peer("udp", "127.0.0.1", 5070)), in_dialog(req.call_id, "BYE"))
    assert endpoint.responses[-1].status == 200
    assert qc.state(task) == "ended"
    assert [e.reason.value for e in events if isinstance(e, TaskLeft)] == ["abandoned"]
    await store.flush()
    assert await store.fetch("SELECT state, hangup_side, hangup_cause FROM cdr"
                             " WHERE callee = '6400'") == [("closed", "caller", "BYE (waiting)")]
    await store.close()
