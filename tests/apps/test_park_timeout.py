"""The park timeout's destination is any destination of the one router
(softswitch.calls.park `timeout_destination`, softswitch.calls.transfer `_abandoned`,
softswitch.apps.handover): the config accepts every type and `check` refuses a bad target
with file:line; the B2BUA shell on a virtual clock hands the parked party to the seam at
exactly timeout + ring_back; the seam gives it to the queue calls or the call shell."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sip_doubles import Endpoint, Leg, Media, Txn

from acd.config import Destination, DestinationType
from softswitch.apps.connect import ConnectFlow
from softswitch.apps.handover import parked_to_destination
from softswitch.apps.ivr import IvrFlow
from softswitch.calls.b2bua import B2BUA
from softswitch.calls.events import CallEnded
from softswitch.calls.park import ParkingConfig, SlotChanged
from softswitch.clock import VirtualClock
from softswitch.config import ConfigError, parse_config
from softswitch.destinations import DestinationRouter
from softswitch.dialplan import DialPlan
from softswitch.events import EventBus
from softswitch.registrar import Binding
from softswitch.sip import Address, Request, SipUri, new_call_id, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.transaction import Peer

BASE = """\
sip: {listen: [udp:127.0.0.1:0], domain: 127.0.0.1}
extensions:
  - {number: "1001", name: A, password: pw-a-1001}
  - {number: "1002", name: B, password: pw-b-1002}
trunks: [{name: provider, host: 127.0.0.1, port: 5099}]
outbound_routes: [{name: out, prefix: "9", strip: 1, trunk: provider}]
queues: [{number: "6400", name: Help, strategy: ring_all, static_agents: ["1001"]}]
ivrs:
  - {number: "700", name: Menu, prompt: welcome-sales, keys: {"1": {type: queue,
     target: "6400"}}}
ring_groups: [{number: "800", name: All, members: ["1001", "1002"]}]
"""


def parking(destination: str) -> str:
    return BASE + ("parking: {slots: \"6000-6001\", timeout: 60, ring_back: 20,\n"
                   f"          timeout_destination: {destination}}}\n")


def issues(text: str) -> list[str]:
    try:
        parse_config(text, "c.yaml", Path("/tmp"))
    except ConfigError as exc:
        return [str(i) for i in exc.issues]
    return []


@pytest.mark.parametrize(("text", "expected"), [
    ('{type: ivr, target: "700"}', Destination(DestinationType.IVR, "700")),
    ('{type: queue, target: "6400"}', Destination(DestinationType.QUEUE, "6400")),
    ('{type: voicemail, target: "1002"}', Destination(DestinationType.VOICEMAIL, "1002")),
    ('{type: ring_group, target: "800"}', Destination(DestinationType.RING_GROUP, "800")),
    ('{type: external, target: "9555"}', Destination(DestinationType.EXTERNAL, "9555")),
    ('{type: prompt, target: goodbye}', Destination(DestinationType.PROMPT, "goodbye")),
    ('{type: extension, target: "1002"}', Destination(DestinationType.EXTENSION, "1002")),
    ("{type: hangup}", Destination(DestinationType.HANGUP)),
])
def test_every_destination_type_is_a_park_timeout_destination(
        text: str, expected: Destination) -> None:
    cfg = parse_config(parking(text), "c.yaml", Path("/tmp"))
    assert cfg.parking.timeout_destination == expected


def test_check_refuses_a_bad_park_timeout_destination_with_its_line() -> None:
    line = BASE.count("\n") + 2  # the timeout_destination line
    assert issues(parking('{type: ivr, target: "799"}')) == [
        f"c.yaml:{line}: parking.timeout_destination.target: "
        "no ivr 799 is defined in ivrs"]
    assert issues(parking('{type: queue, target: "6999"}')) == [
        f"c.yaml:{line}: parking.timeout_destination.target: "
        "no queue 6999 is defined in queues"]
    assert issues(parking('{type: external, target: "0123"}')) == [
        f"c.yaml:{line}: parking.timeout_destination.target: "
        "no outbound route matches the external number 0123"]
    assert issues(parking('{type: extension, target: "1009"}')) == [
        f"c.yaml:{line}: parking.timeout_destination.target: "
        "no extension '1009' is defined in extensions"]
    assert issues(parking('{type: ivr}'))[0].endswith(
        "parking.timeout_destination.target: a ivr destination needs a target")
    assert issues(parking('{type: hangup, target: "1"}'))[0].endswith(
        "parking.timeout_destination.target: a hangup destination takes no target")
    assert "expected one of" in issues(parking('{type: nowhere, target: "1"}'))[0]


# --------------------------------------------------------------- the shell, virtual time


class ParkLeg(Leg):
    closed = False
    codec = None

    def on_dtmf(self, handler: Any) -> None:
        pass


class ParkMedia(Media):
    """The recording media double plus what parking uses (music on hold, prompts)."""

    def __init__(self) -> None:
        super().__init__()
        self.music_streams: dict[str, Any] = {"default": object()}
        self.moh: list[Any] = []

    async def open_leg(self, label: str) -> Leg:
        self.port += 2
        return ParkLeg(self.port)

    def unbridge(self, a: Leg, b: Leg) -> None:
        pass

    def attach_moh(self, leg: Leg, stream: str = "default") -> None:
        self.moh.append(leg)

    def detach_moh(self, leg: Leg) -> None:
        if leg in self.moh:
            self.moh.remove(leg)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_park_timeout_hands_the_parked_party_to_its_destination_in_virtual_time(
        ) -> None:
    """1001 calls 1002, 1002 parks 1001; at 60 s 1002 is rung back, at 80 s (unanswered)
    the seam gets 1001's end and the IVR destination: the B2BUA call ends without a BYE to
    1001 and the slot's lamp goes out."""
    clock, endpoint, bus, media = VirtualClock(), Endpoint(), EventBus(), ParkMedia()
    events: list[Any] = []
    bus.subscribe(events.append)
    desk = Binding("1002", "sip:1002@127.0.0.1:7000", 1e9, new_call_id(), 1, "127.0.0.1",
                   7000, "udp")
    ivr = Destination(DestinationType.IVR, "700")
    b2bua = B2BUA(endpoint=endpoint, media=media, store=None,
                  dialplan=DialPlan.default(["1001", "1002"]),
                  lookup=lambda aor, now: [desk] if aor == "1002" else [],
                  domain="127.0.0.1", no_answer_timeout=30.0, clock=clock, events=bus,
                  parking=ParkingConfig(slots=("6000",), timeout=60.0, ring_back=20.0,
                                        timeout_destination=ivr))
    handed: list[tuple[Any, Destination, float]] = []

    def seam(end: Any, dest: Destination) -> bool:
        handed.append((end, dest, clock.monotonic()))
        return True

    b2bua.transfers.route_destination = seam
    offer = sdplib.create_offer("127.0.0.1", 4000, codecs=("PCMU",))
    call_id = new_call_id()
    invite = Request("INVITE", SipUri.parse("sip:1002@127.0.0.1"), headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + new_tag()),
        ("From", Address(SipUri.parse("sip:1001@127.0.0.1"), "Alice", {"tag": new_tag()})),
        ("To", Address(SipUri.parse("sip:1002@127.0.0.1"))),
        ("Call-ID", call_id), ("CSeq", "1 INVITE"),
        ("Contact", "<sip:1001@127.0.0.1:5070>"), ("Content-Type", "application/sdp"),
    ], body=bytes(offer))
    b2bua.handle_invite(Txn(Peer("udp", "127.0.0.1", 5070)), invite, "1001")
    await settle()
    [ring] = endpoint.invites_to("1002")
    answer = sdplib.create_answer(sdplib.SessionDescription.parse(ring.request.body),
                                  "127.0.0.1", 4002)
    ring.reply(200, body=bytes(answer),
               headers=[("Contact", "<sip:1002@127.0.0.1:7000>"),
                        ("Content-Type", "application/sdp")])
    await settle()
    assert 200 in endpoint.finals()
    start = clock.monotonic()
    assert b2bua.transfers.park(call_id, "callee") == "6000"
    await settle()
    byes = [o.request for o in endpoint.sent if o.request.method == "BYE"]
    assert [b.to.uri.user for b in byes] == ["1002"]  # the parker leaves
    clock.advance(59.9)
    await settle()
    assert len(endpoint.invites_to("1002")) == 1 and handed == []
    clock.advance(0.1)
    await settle()
    assert len(endpoint.invites_to("1002")) == 2  # the parker rung back at 60 s
    clock.advance(19.9)
    await settle()
    assert handed == []
    clock.advance(0.1)
    await settle()
    [(end, dest, at)] = handed
    assert (end.party, end.dialog.call_id, dest, at - start) == ("1001", call_id, ivr, 80.0)
    assert endpoint.invites_to("1002")[1].cancelled  # the ring-back stops
    assert [e.call_id for e in events if isinstance(e, SlotChanged)][-1] is None
    assert [e.call_id for e in events if isinstance(e, CallEnded)] == [call_id]
    byes = [o.request for o in endpoint.sent if o.request.method == "BYE"]
    assert [b.to.uri.user for b in byes] == ["1002"]  # none to the handed-over 1001
    assert b2bua.transfers.parked() == {}


# --------------------------------------------------------------- the seam


class Shell:
    ring_timeout = 25.0

    def __init__(self) -> None:
        self.adopted: list[dict[str, Any]] = []

    def adopt(self, **kw: Any) -> None:
        self.adopted.append(kw)


class Queues:
    def __init__(self) -> None:
        self.adopted: list[tuple[Any, ...]] = []

    def adopt_caller(self, *args: Any) -> bool:
        self.adopted.append(args)
        return True


class End:
    def __init__(self) -> None:
        from softswitch.sip.dialog import Dialog, DialogState

        self.party = "1001"
        self.peer = Peer("udp", "127.0.0.1", 5070)
        self.leg = ParkLeg(31000)
        self.request = Request("INVITE", SipUri.parse("sip:1002@127.0.0.1"), headers=[
            ("From", Address(SipUri.parse("sip:1001@127.0.0.1"), "", {"tag": "a"}))])
        self.dialog = Dialog(
            call_id="parked-1",
            local_address=Address(SipUri.parse("sip:1002@127.0.0.1"), "", {"tag": "sw"}),
            remote_address=Address(SipUri.parse("sip:1001@127.0.0.1"), "", {"tag": "a"}),
            remote_target=SipUri.parse("sip:1001@127.0.0.1:5070"), route_set=[],
            local_cseq=1, remote_cseq=1, local_target=None, secure=False,
            state=DialogState.CONFIRMED, is_uac=False)


def test_the_seam_gives_the_parked_party_to_the_queue_or_the_call_shell() -> None:
    cfg = parse_config(parking("{type: hangup}"), "c.yaml", Path("/tmp"))
    shell, queues = Shell(), Queues()
    route = parked_to_destination(router=DestinationRouter(cfg, context=None), apps=shell,
                                  queues=queues, endpoint=Endpoint(), language="en")
    end = End()
    assert route(end, Destination(DestinationType.QUEUE, "6400"))
    assert queues.adopted == [("parked-1", "6400", "1001", end.dialog, end.peer, end.leg,
                               end.request)]  # its INVITE kept with it
    assert route(end, Destination(DestinationType.IVR, "700"))
    [ivr] = shell.adopted
    assert isinstance(ivr["flow"], IvrFlow) and ivr["kind"] == "ivr"
    assert (ivr["info"].call_id, ivr["info"].caller, ivr["info"].dialled) == \
        ("parked-1", "1001", "700")
    assert ivr["dialog"] is end.dialog and ivr["leg"] is end.leg and ivr["tag"] == "sw"
    assert ivr["policy"].dialog is end.dialog
    assert route(end, Destination(DestinationType.EXTERNAL, "9555"))
    ext = shell.adopted[-1]
    assert isinstance(ext["flow"], ConnectFlow) and ext["kind"] == "external"
    # a destination a reload removed: refused, the transfer shell says goodbye
    assert not route(end, Destination(DestinationType.IVR, "799"))
    assert len(shell.adopted) == 2 and len(queues.adopted) == 1
