"""Transfer, park and pickup through the switch started in the test's loop (the B2BUA shell,
softswitch.calls.transfer): what each phone gets in SIP, what the transferee hears (RTP from
the target reaches it through the relay), and the events the lamps follow."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import switchproc
import yaml
from sipua import SipUA, digest_authorization, parse_challenge, sdp

from softswitch.app import Switch
from softswitch.calls.events import CallEnded, CallPartyChanged
from softswitch.calls.park import SlotChanged
from softswitch.config import parse_config
from softswitch.sip import Request, Response
from softswitch.sip.sdp import SessionDescription, audio


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    remote_target: str
    local_uri: str
    remote_uri: str
    media: tuple[str, int] = ("", 0)


@dataclass
class Phone:
    """A scripted phone: calls, answers, REFERs; replies 200 to BYE and NOTIFY and keeps
    them; sends and receives RTP on its own socket."""

    ua: SipUA
    rtp: socket.socket
    received: dict[str, list[Request]] = field(default_factory=dict)
    invites: asyncio.Queue[Request] = field(default_factory=asyncio.Queue)
    pump: asyncio.Task[None] | None = None

    @property
    def number(self) -> str:
        return self.ua.user

    async def start(self) -> Phone:
        self.pump = asyncio.get_running_loop().create_task(self._pump())
        assert (await self.ua.register()).status == 200
        return self

    async def _pump(self) -> None:
        while True:
            req = await self.ua.requests.get()
            self.received.setdefault(req.method, []).append(req)
            if req.method == "INVITE":
                self.invites.put_nowait(req)
            elif req.method in ("BYE", "NOTIFY", "CANCEL", "OPTIONS"):
                self.ua.reply(req, 200)

    async def got(self, method: str, count: int = 1, timeout: float = 8.0) -> list[Request]:
        async def wait() -> list[Request]:
            while len(self.received.get(method, [])) < count:
                await asyncio.sleep(0.02)
            return self.received[method]
        return await asyncio.wait_for(wait(), timeout)

    def close(self) -> None:
        if self.pump is not None:
            self.pump.cancel()
        self.ua.close()
        self.rtp.close()

    async def response(self, call_id: str, method: str = "INVITE") -> Response:
        """The next final response to `method` in `call_id` (others are skipped)."""
        while True:
            resp = await self.ua.response()
            if resp.call_id == call_id and resp.cseq.method == method:
                return resp

    async def call(self, number: str, call_id: str | None = None,
                   headers: list[str] | None = None) -> tuple[Response, Dialog | None]:
        ua = self.ua
        ua.call_id = call_id or os.urandom(6).hex()
        uri = f"sip:{number}@127.0.0.1"
        body = sdp(self.rtp.getsockname()[1])
        ua.send_raw(ua.build("INVITE", uri, to=f"<{uri}>", body=body, headers=headers))
        first = await self.response(ua.call_id)
        assert first.status == 407
        ua.send_raw(ua.build("ACK", uri, to=f"<{uri}>;tag={first.to.tag}", cseq=ua.cseq,
                             branch=first.via.branch, with_contact=False))
        auth = digest_authorization(parse_challenge(first.get_all("Proxy-Authenticate")[-1]),
                                    "INVITE", uri, ua.user, ua.password)
        ua.send_raw(ua.build("INVITE", uri, to=f"<{uri}>", body=body,
                             headers=[*(headers or []), f"Proxy-Authorization: {auth}"]))
        invite_cseq = ua.cseq
        final = await self.response(ua.call_id)
        if final.status != 200:
            return final, None
        target = str(final.contacts[0].uri)
        ua.send_raw(ua.build("ACK", target, to=f"<{uri}>;tag={final.to.tag}",
                             cseq=invite_cseq, with_contact=False))
        return final, Dialog(ua.call_id, ua.tag, str(final.to.tag), target,
                             f"<sip:{ua.user}@127.0.0.1>", f"<{uri}>",
                             media_of(final.body))

    async def answer(self, ring_first: bool = True) -> Dialog:
        req = await asyncio.wait_for(self.invites.get(), 8.0)
        tag = os.urandom(4).hex()
        if ring_first:
            self.ua.reply(req, 180, to_tag=tag)
        self.ua.reply(req, 200, to_tag=tag, body=sdp(self.rtp.getsockname()[1]))
        return Dialog(req.call_id, tag, str(req.from_.tag), str(req.contacts[0].uri),
                      f"<sip:{self.number}@127.0.0.1>", str(req.from_).split(";tag=")[0],
                      media_of(req.body))

    async def ringing(self) -> Request:
        req = await asyncio.wait_for(self.invites.get(), 8.0)
        self.ua.reply(req, 180, to_tag=os.urandom(4).hex())
        return req

    def send(self, d: Dialog, method: str, headers: list[str] | None = None) -> None:
        ua = self.ua
        ua.cseq += 1
        data = ua.build(method, d.remote_target, to=f"{d.remote_uri};tag={d.remote_tag}",
                        call_id=d.call_id, headers=headers)
        data = data.replace(f"From: <sip:{ua.user}@127.0.0.1>;tag={ua.tag}".encode(),
                            f"From: {d.local_uri};tag={d.local_tag}".encode(), 1)
        ua.send_raw(data)

    async def refer(self, d: Dialog, refer_to: str) -> Response:
        self.send(d, "REFER", [f"Refer-To: {refer_to}"])
        return await self.response(d.call_id, "REFER")

    def send_rtp(self, to: tuple[str, int], fill: int, count: int = 25,
                 first: int = 0) -> None:
        for seq in range(first, first + count):
            self.rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, fill)
                            + bytes([fill]) * 160, to)

    async def hears(self, fill: int, talker: Phone, to: tuple[str, int],
                    timeout: float = 5.0) -> bool:
        """True once an RTP packet whose payload is all `fill`, sent by `talker` to the
        switch's address `to` every 100 ms meanwhile, arrives here."""
        loop = asyncio.get_running_loop()
        self.rtp.setblocking(False)

        async def talk() -> None:
            for burst in range(int(timeout * 10)):
                talker.send_rtp(to, fill, count=5, first=burst * 5)
                await asyncio.sleep(0.1)

        async def wait() -> bool:
            while True:
                data = await loop.sock_recv(self.rtp, 2048)
                if len(data) >= 172 and data[12:172] == bytes([fill]) * 160:
                    return True
        sender = loop.create_task(talk())
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            return False
        finally:
            sender.cancel()


def media_of(body: bytes) -> tuple[str, int]:
    if not body:
        return ("", 0)
    desc = SessionDescription.parse(body)
    m = audio(desc)
    assert m is not None
    return (m.connection or desc.connection or "", m.port)


def sipfrags(notifies: list[Request]) -> list[str]:
    return [n.body.decode().strip() for n in notifies]


def udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


@dataclass
class Bench:
    switch: Switch
    phones: dict[str, Phone]
    events: list[Any]

    def __getitem__(self, number: str) -> Phone:
        return self.phones[number]


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    raw = switchproc.base_config(tmp_path, no_answer_timeout=3)
    raw["extensions"] = [{"number": n, "name": f"Ext {n}", "password": f"pw-{n}"}
                         for n in ("1001", "1002", "1003", "1004")]
    raw["parking"] = {"slots": "6000-6001", "timeout": 10, "ring_back": 5}
    raw["pickup"] = {"groups": {"sales": ["1002", "1003", "1004"]}}
    raw["queues"] = [{"number": "6100", "name": "Help", "strategy": "ring_all",
                      "static_agents": ["1004"]}]
    # a provider behind an outbound route: 9 + number goes out through it
    provider = await SipUA("provider", "", ("127.0.0.1", 9)).start()
    raw["trunks"] = [{"name": "provider", "host": "127.0.0.1",
                      "port": provider.local[1]}]
    raw["outbound_routes"] = [{"name": "out", "prefix": "9", "strip": 1,
                               "trunk": "provider"}]
    cfg = parse_config(yaml.safe_dump(raw), "c.yaml", tmp_path)
    switch = Switch(cfg)
    await switch.start()
    host, port = switch.sip_addresses[0].split(":")[1:]
    provider.server = (host, int(port))
    events: list[Any] = []
    switch.router.events.subscribe(events.append, CallPartyChanged, SlotChanged, CallEnded)
    phones = {}
    for n in ("1001", "1002", "1003", "1004"):
        phones[n] = await Phone(await SipUA(n, f"pw-{n}", (host, int(port))).start(),
                                udp_socket()).start()
    phones["provider"] = Phone(provider, udp_socket())
    phones["provider"].pump = asyncio.get_running_loop().create_task(
        phones["provider"]._pump())
    try:
        yield Bench(switch, phones, events)
    finally:
        for p in phones.values():
            p.close()
        await switch.stop()


async def connect(bench: Bench, caller: str, callee: str) -> tuple[Dialog, Dialog]:
    call = asyncio.create_task(bench[caller].call(callee))
    theirs = await bench[callee].answer()
    final, mine = await call
    assert final.status == 200 and mine is not None
    return mine, theirs


async def test_blind_transfer_by_the_callee_connects_the_caller_to_the_target(
        bench: Bench) -> None:
    """1001 calls 1002; 1002 REFERs 1001 to 1003: 202, NOTIFY 100 then 200, 1002 gets BYE,
    1001 (who got no re-INVITE) hears 1003."""
    a, b = await connect(bench, "1001", "1002")
    assert (await bench["1002"].refer(b, "<sip:1003@127.0.0.1>")).status == 202
    c = await bench["1003"].answer()
    notifies = await bench["1002"].got("NOTIFY", 2)
    assert sipfrags(notifies) == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
    assert notifies[-1].get("Subscription-State").startswith("terminated")
    await bench["1002"].got("BYE")
    assert await bench["1001"].hears(0x33, bench["1003"], c.media)
    assert "INVITE" not in {r.method for r in bench["1001"].received.get("INVITE", [])}
    changed = [e for e in bench.events if isinstance(e, CallPartyChanged)]
    assert (changed[-1].side, changed[-1].party, changed[-1].previous) == \
        ("callee", "1003", "")
    # the call goes on between 1001 and 1003: 1003 hangs up, 1001 gets BYE
    bench["1003"].send(c, "BYE")
    await bench["1001"].got("BYE")


async def test_blind_transfer_to_a_busy_target_reconnects_the_transferor(bench: Bench) -> None:
    a, b = await connect(bench, "1001", "1002")
    assert (await bench["1001"].refer(a, "<sip:1003@127.0.0.1>")).status == 202
    req = await asyncio.wait_for(bench["1003"].invites.get(), 8)
    bench["1003"].ua.reply(req, 486, to_tag="busy")
    notifies = await bench["1001"].got("NOTIFY", 2)
    assert sipfrags(notifies)[-1] == "SIP/2.0 486 Busy Here"
    assert "BYE" not in bench["1001"].received and "BYE" not in bench["1002"].received
    assert await bench["1002"].hears(0x44, bench["1001"], a.media)  # back together


async def test_transferor_hanging_up_then_target_unreachable_says_goodbye(
        bench: Bench) -> None:
    a, b = await connect(bench, "1001", "1002")
    assert (await bench["1002"].refer(b, "<sip:1003@127.0.0.1>")).status == 202
    await bench["1003"].ringing()
    bench["1002"].send(b, "BYE")  # the transferor leaves at once (what many phones do)
    await asyncio.sleep(0.2)
    assert "BYE" not in bench["1001"].received  # the transferee is still waiting
    # 1003 never answers: after no_answer_timeout 1001 hears goodbye and is hung up
    await bench["1001"].got("BYE", timeout=10)


async def test_attended_transfer_with_replaces(bench: Bench) -> None:
    """1001 talks to 1002 and to 1003 (consultation), then REFERs 1002 to 1003 with
    Replaces naming its own dialog of the 1001-1003 call: 1002 and 1003 talk, 1001 gets BYE
    on both calls."""
    a, b = await connect(bench, "1002", "1001")  # 1002 called 1001
    consult, c = await connect(bench, "1001", "1003")
    replaces = (f"{consult.call_id}%3Bto-tag%3D{consult.remote_tag}"
                f"%3Bfrom-tag%3D{consult.local_tag}")
    resp = await bench["1001"].refer(b, f"<sip:1003@127.0.0.1?Replaces={replaces}>")
    assert resp.status == 202
    notifies = await bench["1001"].got("NOTIFY", 2)
    assert sipfrags(notifies)[-1] == "SIP/2.0 200 OK"
    byes = await bench["1001"].got("BYE", 2)
    assert {r.call_id for r in byes} == {b.call_id, consult.call_id}
    assert await bench["1002"].hears(0x55, bench["1003"], c.media)
    assert await bench["1003"].hears(0x66, bench["1002"], a.media)
    assert "BYE" not in bench["1002"].received and "BYE" not in bench["1003"].received


async def test_park_retrieve_and_the_slot_events(bench: Bench) -> None:
    a, b = await connect(bench, "1001", "1002")
    assert (await bench["1002"].refer(b, "<sip:*5@127.0.0.1>")).status == 202
    notifies = await bench["1002"].got("NOTIFY", 2)
    assert sipfrags(notifies)[-1] == "SIP/2.0 200 OK"
    await bench["1002"].got("BYE")
    slots = [e for e in bench.events if isinstance(e, SlotChanged)]
    assert (slots[-1].slot, slots[-1].parker) == ("6000", "1002")
    # 1003 dials the slot: answered, bridged to the parked 1001
    final, d = await bench["1003"].call("6000")
    assert final.status == 200 and d is not None
    assert await bench["1001"].hears(0x77, bench["1003"], d.media)
    slots = [e for e in bench.events if isinstance(e, SlotChanged)]
    assert (slots[-1].slot, slots[-1].call_id) == ("6000", None)
    # the empty slot: 404
    final, _ = await bench["1004"].call("6000")
    assert final.status == 404


async def test_park_timeout_rings_the_parker_back(bench: Bench) -> None:
    a, b = await connect(bench, "1001", "1002")
    assert (await bench["1002"].refer(b, "<sip:6001@127.0.0.1>")).status == 202
    await bench["1002"].got("BYE")
    slots = [e for e in bench.events if isinstance(e, SlotChanged)]
    assert slots[-1].slot == "6001"
    back = await asyncio.wait_for(bench["1002"].invites.get(), 15)  # timeout 10 s
    tag = "back"
    bench["1002"].ua.reply(back, 200, to_tag=tag, body=sdp(bench["1002"].rtp.getsockname()[1]))
    assert await bench["1001"].hears(0x12, bench["1002"], media_of(back.body))


async def test_directed_and_group_pickup(bench: Bench) -> None:
    ringing = asyncio.create_task(bench["1001"].call("1002"))
    await bench["1002"].ringing()
    final, d = await bench["1004"].call("*041002")  # directed pickup
    assert final.status == 200 and d is not None
    caller_final, a = await ringing
    assert caller_final.status == 200 and a is not None
    await bench["1002"].got("CANCEL")
    assert await bench["1001"].hears(0x21, bench["1004"], d.media)
    changed = [e for e in bench.events if isinstance(e, CallPartyChanged)]
    assert (changed[-1].party, changed[-1].previous) == ("1004", "1002")
    # group pickup: 1003 rings, 1004 (same group) dials *4
    bench["1004"].send(d, "BYE")
    await bench["1001"].got("BYE")
    ringing = asyncio.create_task(bench["1001"].call("1003"))
    await bench["1003"].ringing()
    final, d = await bench["1004"].call("*4")
    assert final.status == 200
    assert (await ringing)[0].status == 200
    # nothing ringing: 404
    final, _ = await bench["1002"].call("*4")
    assert final.status == 404


async def test_pickup_by_invite_with_replaces(bench: Bench) -> None:
    ringing = asyncio.create_task(bench["1001"].call("1002"))
    req = await bench["1002"].ringing()
    replaces = f"Replaces: {req.call_id};to-tag=x;from-tag={req.from_.tag}"
    final, d = await bench["1003"].call("1002", headers=[replaces])
    assert final.status == 200 and d is not None
    assert (await ringing)[0].status == 200
    assert await bench["1001"].hears(0x31, bench["1003"], d.media)


async def test_pickup_from_a_blf_key_with_the_dialog_info_id(bench: Bench) -> None:
    """A phone's BLF key sends Replaces with the id our dialog-info gave the ringing
    dialog (`<call-id>/b`, no tags): the call is picked up."""
    ringing = asyncio.create_task(bench["1001"].call("1002", call_id="blf-call"))
    await bench["1002"].ringing()
    final, d = await bench["1003"].call("1002", headers=["Replaces: blf-call/b;to-tag=;"
                                                          "from-tag="])
    assert final.status == 200 and d is not None
    assert (await ringing)[0].status == 200
    # a Replaces naming no call: 481 (RFC 3891 §3)
    final, _ = await bench["1004"].call("1002", headers=["Replaces: nope;to-tag=a;from-tag=b"])
    assert final.status == 481


async def test_operations_the_live_api_calls(bench: Bench) -> None:
    """The same operations without a REFER: errors are TransferRefused with the status a
    NOTIFY would carry; a park from the API parks, a retrieve rings the extension."""
    from softswitch.calls.transfer import TransferRefused

    calls = bench.switch.router.calls
    call = asyncio.create_task(bench["1001"].call("1002", call_id="api-1"))
    await bench["1002"].answer()
    assert (await call)[0].status == 200
    with pytest.raises(TransferRefused) as refused:
        calls.transfer_blind("no-such-call", "callee", "1003")
    assert refused.value.status == 481
    with pytest.raises(TransferRefused) as refused:
        calls.transfer_blind("api-1", "callee", "1999")
    assert refused.value.status == 404
    assert calls.park("api-1", "callee") == "6000"
    await bench["1002"].got("BYE")
    with pytest.raises(TransferRefused) as refused:
        calls.retrieve("6001", "1003")
    assert refused.value.status == 404
    calls.retrieve("6000", "1003")
    c = await bench["1003"].answer()
    assert await bench["1001"].hears(0x42, bench["1003"], c.media)
    assert bench.switch.router.calls.transfers.parked() == {}


async def test_blind_transfer_to_an_external_number(bench: Bench) -> None:
    """Refer-To 9<number>: the outbound route's trunk is called with the number (prefix
    stripped); when the provider answers, the caller talks to it."""
    a, b = await connect(bench, "1001", "1002")
    assert (await bench["1002"].refer(b, "<sip:955501234@127.0.0.1>")).status == 202
    out = await asyncio.wait_for(bench["provider"].invites.get(), 8)
    assert out.uri.user == "55501234"
    bench["provider"].ua.reply(out, 200, to_tag="prov",
                               body=sdp(bench["provider"].rtp.getsockname()[1]))
    assert sipfrags(await bench["1002"].got("NOTIFY", 2))[-1] == "SIP/2.0 200 OK"
    assert await bench["1001"].hears(0x5A, bench["provider"], media_of(out.body))


async def test_blind_transfer_into_a_queue(bench: Bench) -> None:
    """1002 transfers 1001 to queue 6100: the queue rings its agent 1004, who then talks to
    1001; 1002's call ends."""
    a, b = await connect(bench, "1001", "1002")
    assert (await bench["1002"].refer(b, "<sip:6100@127.0.0.1>")).status == 202
    assert sipfrags(await bench["1002"].got("NOTIFY", 2))[-1] == "SIP/2.0 200 OK"
    await bench["1002"].got("BYE")
    agent = await bench["1004"].answer()
    assert await bench["1001"].hears(0x4D, bench["1004"], agent.media)
    # the caller hangs up: the queue call ends, the agent gets BYE
    bench["1001"].send(a, "BYE")
    await bench["1004"].got("BYE")


async def test_blind_transfer_into_a_queue_that_refuses_keeps_the_call(bench: Bench) -> None:
    """The queues refuse the transferee (the switch is stopping): the REFER's NOTIFY says
    503, nobody gets BYE and both parties still hear each other."""
    a, b = await connect(bench, "1001", "1002")
    bench.switch.router.queues._accepting = False  # what shutdown() sets first
    assert (await bench["1002"].refer(b, "<sip:6100@127.0.0.1>")).status == 202
    assert sipfrags(await bench["1002"].got("NOTIFY", 2))[-1] == \
        "SIP/2.0 503 Queue Not Available"
    assert "BYE" not in bench["1001"].received and "BYE" not in bench["1002"].received
    assert await bench["1001"].hears(0x4E, bench["1002"], b.media)
    assert await bench["1002"].hears(0x4F, bench["1001"], a.media)
