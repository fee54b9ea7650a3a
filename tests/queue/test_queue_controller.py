"""The queue-call controller (softswitch.queue.QueueCalls) in virtual time: SIP in and out
through a recording endpoint, media through a recording engine, the real ACD and prompt
library. Timers never sleep: the test moves the clock and calls `tick()`."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog.testing
import yaml

from acd.config import parse_acd_config
from acd.events import OfferStarted, TaskJoined, TaskLeft, WrapupStarted
from media.events import PlaybackOutcome
from media.player import PromptLibrary, PromptSequence
from softswitch.config import parse_config
from softswitch.destinations import DestinationRouter
from softswitch.events import CallHoldChanged, EventBus
from softswitch.queue import Mode, QueueCalls
from softswitch.registrar import Binding
from softswitch.sip import Address, Request, Response, SipUri, new_call_id, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.transaction import Peer

LIB = PromptLibrary()


# ------------------------------------------------------------------ recording doubles


@dataclass
class Txn:
    peer: Peer
    call_id: str = ""


@dataclass
class Outgoing:
    request: Request
    peer: Peer
    on_response: Any
    cancelled: bool = False
    acks: list[Request] = field(default_factory=list)

    def cancel(self) -> None:
        self.cancelled = True

    def send_ack(self, ack: Request, destination: Peer | None = None) -> None:
        self.acks.append(ack)


class Endpoint:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.responses: list[Response] = []

    def local_peer(self, transport: str = "udp") -> Peer:
        return Peer(transport, "127.0.0.1", 5060)

    def has_connection(self, host: str, port: int) -> bool:
        return True  # the phones here register over UDP; TCP ones keep their connection

    def send_request(self, request: Request, peer: Peer, *, on_response: Any = None) -> Outgoing:
        out = Outgoing(request, peer, on_response)
        self.sent.append(out)
        return out

    def send_response(self, txn: Any, response: Response) -> None:
        self.responses.append(response)

    def invites_to(self, user: str) -> list[Outgoing]:
        return [o for o in self.sent if o.request.method == "INVITE"
                and o.request.to.uri.user == user]


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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ fixtures and helpers


def make(queues: list[dict[str, Any]], *, registered: tuple[str, ...] = ("2000", "2001")
         ) -> tuple[QueueCalls, Endpoint, Media, Registrar, Clock, list[Any]]:
    exts = {n: Ext(n, agent_id=f"{n[-1]}7") for n in ("2000", "2001", "3000", "3001", "30010")}
    config = parse_acd_config({"queues": queues}, extensions=list(exts))
    # the switch's destinations resolve against these queues (a destination the config
    # check would refuse still reaches the controller: it is not available at run time)
    switch_config = dataclasses.replace(parse_config(yaml.safe_dump({
        "sip": {"listen": ["udp:127.0.0.1:5060"], "domain": "127.0.0.1"},
        "extensions": [{"number": n, "name": n, "password": f"pw-{n}"} for n in exts]})),
        acd=config)
    endpoint, media, registrar, clock = Endpoint(), Media(), Registrar(), Clock()
    bus = EventBus()
    events: list[Any] = []
    bus.subscribe(events.append)
    for i, ext in enumerate(registered):
        registrar.add(ext, 7000 + i)
    qc = QueueCalls(acd_config=config, endpoint=endpoint, media=media, registrar=registrar,
                    events=bus, domain="127.0.0.1", user_agent="test", extensions=exts,
                    clock=clock, destinations=DestinationRouter(switch_config))
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
    assert qc.tasks[call_id].mode is Mode.WAITING


async def test_ring_timeout_cancels_and_retry_rings_next_agent_in_virtual_time() -> None:
    qc, endpoint, _, _, clock, _ = make([queue()])
    await join(qc, endpoint)
    [first] = endpoint.invites_to("2000")
    clock.now += 20.0  # ring_timeout
    qc.tick()
    assert first.cancelled
    answer(first, 487)  # the phone confirms the CANCEL: not counted again
    await settle()
    assert endpoint.invites_to("2001") == []  # retry interval (5 s) first
    clock.now += 5.0
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
    assert qc.tasks[call_id].mode is Mode.CONNECTED
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
    assert [(e.task, e.agent, e.party, e.held) for e in events
            if isinstance(e, CallHoldChanged)] == [(call_id, "2000", "agent", True),
                                                   (call_id, "2000", "agent", False)]


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
        assert qc.tasks[call_id].mode is Mode.CALLBACK
    else:
        assert "CallbackFailed" in names  # fewer than 5 digits
        assert leg.heard[-1] == ["en/invalid-number"]
        assert qc.tasks[call_id].mode is Mode.WAITING


async def test_destination_not_available_says_goodbye_and_hangs_up() -> None:
    qc, endpoint, media, _, _, _ = make([queue(key_press_events=[
        {"key": "9", "destination": {"type": "voicemail", "target": "2000"}}])])
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    leg.press("9")
    await settle()
    assert leg.heard[-1] == ["en/goodbye"]
    media.playbacks[-1].finish()
    await asyncio.sleep(0.35)  # the shell's pause for the phone's jitter buffer
    await settle()
    assert endpoint.sent[-1].request.method == "BYE"
    assert endpoint.invites_to("2000")[0].cancelled


async def request_callback(number: str, **cb: Any) -> tuple[Any, ...]:
    """A caller in a queue without a reachable agent registers a callback to ``number``."""
    qc, endpoint, media, registrar, clock, events = make([queue(
        static_agents=["2000"], callback={"method": "press_key", "key": "1", **cb})],
        registered=())
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    for d in "12" + number + "#":
        leg.press(d)
    await settle()
    media.playbacks[-1].finish()  # "your callback has been confirmed ... goodbye"
    await asyncio.sleep(0.35)
    await settle()
    assert endpoint.sent[-1].request.method == "BYE"  # the switch ends the caller's call
    return qc, endpoint, media, registrar, clock, events, call_id


async def test_callback_requests_pending_at_shutdown_are_logged_with_their_number() -> None:
    qc, *_ = await request_callback("30010")
    with structlog.testing.capture_logs() as logs:
        await qc.shutdown()
    lost = [e for e in logs if e["event"] == "callback request lost at shutdown"]
    assert [(e["log_level"], e["queue"], e["number"]) for e in lost] == [
        ("warning", "6400", "30010")]


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
        ("agent", True), ("agent", False), ("caller", True), ("caller", False)]
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
    registrar.add("2000", 7000)
    qc.registration_changed("2000")
    await settle()
    [ring] = endpoint.invites_to("2000")
    answer(ring)
    await settle()
    if status is not None:
        answer(endpoint.invites_to(number)[0], status)
        await settle()
    assert failures(events) == ["customer_no_answer"]
    assert endpoint.sent[-1].request.method == "BYE"  # the agent is hung up
    assert qc.tasks[call_id].mode is Mode.ENDED


async def test_callback_request_expires_without_an_idle_agent() -> None:
    qc, _, _, _, clock, events, call_id = await request_callback("30010", callback_timeout=60)
    clock.now += 60.0
    qc.tick()
    assert failures(events) == ["no_idle_agent"]
    assert qc.tasks[call_id].mode is Mode.ENDED


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
    clock.now += 30.0
    qc.tick()
    assert leg.heard[-1] == ["zh/press-1-for-callback"]
    clock.now += 15.0
    qc.tick()
    said = leg.heard[-1]
    assert said[0] == "zh/you-are-caller-number" and said[-1] == "zh/thank-you-for-patience"
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
    clock.now += 10.0
    qc.tick()
    await settle()
    [ring] = endpoint.invites_to("2001")
    assert ring.request.from_.display_name == "Overflow: Alice"
    assert qc.tasks[call_id].queue == "6401"
    assert [e.queue for e in events if isinstance(e, TaskJoined)] == ["6400", "6401"]


async def test_no_announcement_over_the_callback_number_dialogue() -> None:
    qc, endpoint, media, _, clock, _ = make([queue(
        static_agents=["2000"], callback={"method": "press_key", "key": "1"},
        prompts={"announce_position": True, "position_announcement_frequency": 20})],
        registered=())
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    leg.press("1")
    heard = len(leg.heard)
    clock.now += 20.0
    qc.tick()
    assert len(leg.heard) == heard  # still the callback prompt


async def test_callback_offered_after_the_timeout() -> None:
    qc, endpoint, media, _, clock, _ = make([queue(
        static_agents=["2000"], callback={"method": "timeout", "timeout": 60})], registered=())
    call_id = await join(qc, endpoint)
    leg = media.legs[f"{call_id}/q"]
    clock.now += 60.0
    qc.tick()
    assert leg.heard[-1][0] == "en/callback-number-confirm-prefix"
    assert qc.tasks[call_id].mode is Mode.COLLECTING


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
    assert qc.tasks[call_id].mode is Mode.ENDED


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
    clock.now += 20.0
    qc.tick()
    assert ring.cancelled
    answer(ring)  # the 200 OK crossed the CANCEL
    assert ring.acks and endpoint.sent[-1].request.method == "BYE"
    assert qc.tasks[call_id].mode is Mode.WAITING
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
