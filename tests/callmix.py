"""Calls of every kind against a switch started in the test's event loop, over real loopback
sockets: extension calls with RTP both ways (recorded), queue calls answered by an agent
(recorded), feature-code calls (agent sign-in / sign-out) and busy extension calls.

Used by tests/test_no_cycles.py (what an ended call leaves behind). Each phone is a
`sipua.SipUA` with one RTP socket; calls run one after the other, so each UA's response and
request queues belong to the current call only.
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from sipua import SipUA, digest_authorization, parse_challenge, sdp

from softswitch.sip import Request, Response


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received += 1


@dataclass
class Phone:
    ua: SipUA
    rtp: Any = None
    rtp_proto: _Rtp = field(default_factory=_Rtp)
    rtp_port: int = 0
    seq: int = 0
    answered: set[str] = field(default_factory=set)

    @classmethod
    async def start(cls, user: str, server: tuple[str, int]) -> Phone:
        ua = await SipUA(user, f"pw-{user}", server).start()
        phone = cls(ua)
        loop = asyncio.get_running_loop()
        phone.rtp, _ = await loop.create_datagram_endpoint(
            lambda: phone.rtp_proto, local_addr=("127.0.0.1", 0))
        phone.rtp_port = phone.rtp.get_extra_info("sockname")[1]
        return phone

    def close(self) -> None:
        self.ua.close()
        if self.rtp is not None:
            self.rtp.close()

    def send_rtp(self, target: tuple[str, int], packets: int) -> None:
        """`packets` PCMU packets of 20 ms (silence) to `target`."""
        ssrc = 0x1234 + self.rtp_port
        for _ in range(packets):
            self.seq += 1
            header = struct.pack("!BBHII", 0x80, 0, self.seq & 0xFFFF, self.seq * 160, ssrc)
            self.rtp.sendto(header + b"\xff" * 160, target)


async def _response(ua: SipUA, method: str, *, cseq: int | None = None,
                    call_id: str | None = None) -> Response:
    """The next final response to `method` in the UA's current call (late retransmissions
    of earlier answers are skipped)."""
    while True:
        resp = await ua.response()
        if (resp.call_id == (call_id or ua.call_id) and resp.cseq.method == method
                and (cseq is None or resp.cseq.number == cseq)):
            return resp


def media_target(body: bytes) -> tuple[str, int]:
    """(address, port) of the first audio stream of an SDP body."""
    text = body.decode()
    host = re.search(r"c=IN IP4 (\S+)", text)
    port = re.search(r"m=audio (\d+)", text)
    assert host and port, text
    return host[1], int(port[1])


class CallMix:
    """Drives calls through `server`; 1001 and 1002 call, 1003 answers (and is the queue's
    agent)."""

    def __init__(self, server: tuple[str, int], rtp_packets: int = 5) -> None:
        self.server = server
        self.rtp_packets = rtp_packets
        self.phones: dict[str, Phone] = {}

    async def start(self, users: tuple[str, ...] = ("1001", "1002", "1003")) -> CallMix:
        for user in users:
            self.phones[user] = await Phone.start(user, self.server)
        return self

    def close(self) -> None:
        for p in self.phones.values():
            p.close()

    async def register(self, user: str) -> None:
        resp = await self.phones[user].ua.register()
        assert resp.status == 200, resp.status

    async def _invite(self, caller: Phone, uri: str) -> Response:
        """INVITE with the digest dance (the 407 is ACKed); returns the first final
        response to the authenticated INVITE (the 2xx is not ACKed yet)."""
        ua = caller.ua
        for q in (ua.responses, ua.requests):  # late retransmissions of the last call
            while not q.empty():
                q.get_nowait()
        ua.call_id = os.urandom(8).hex()
        ua.tag = os.urandom(4).hex()
        branch = "z9hG4bK" + os.urandom(6).hex()
        to = f"<{uri}>"
        ua.send_raw(ua.build("INVITE", uri, to=to, body=sdp(caller.rtp_port), cseq=1,
                             branch=branch))
        challenge = await _response(ua, "INVITE")
        assert challenge.status == 407, challenge.status
        ua.send_raw(ua.build("ACK", uri, to=to, cseq=1, to_tag=challenge.to.tag,
                             branch=branch, with_contact=False))
        auth = digest_authorization(parse_challenge(challenge.get_all("Proxy-Authenticate")[-1]),
                                    "INVITE", uri, ua.user, ua.password)
        ua.send_raw(ua.build("INVITE", uri, to=to, body=sdp(caller.rtp_port), cseq=2,
                             headers=[f"Proxy-Authorization: {auth}"]))
        return await _response(ua, "INVITE", cseq=2)

    def _ack(self, caller: Phone, uri: str, ok: Response) -> None:
        ua = caller.ua
        ua.send_raw(ua.build("ACK", uri, to=f"<{uri}>", cseq=2, to_tag=ok.to.tag,
                             with_contact=False))

    async def _bye(self, caller: Phone, uri: str, ok: Response) -> None:
        ua = caller.ua
        ua.send_raw(ua.build("BYE", uri, to=f"<{uri}>", cseq=3, to_tag=ok.to.tag,
                             with_contact=False))
        resp = await _response(ua, "BYE")
        assert resp.status == 200, resp.status

    async def _answer(self, callee: Phone, *, status: int = 200) -> Request:
        while True:  # skip retransmissions of INVITEs already answered
            req = await callee.ua.next_request("INVITE")
            if req.call_id not in callee.answered:
                callee.answered.add(req.call_id)
                break
        callee.ua.reply(req, 180, to_tag="b" + req.call_id[:8])
        body = sdp(callee.rtp_port) if status == 200 else b""
        callee.ua.reply(req, status, to_tag="b" + req.call_id[:8], body=body)
        return req

    async def _take_bye(self, callee: Phone) -> None:
        bye = await callee.ua.next_request("BYE")
        callee.ua.reply(bye, 200)

    async def _rtp_both_ways(self, caller: Phone, ok: Response, callee: Phone,
                             invite: Request) -> None:
        caller.send_rtp(media_target(ok.body), self.rtp_packets)
        callee.send_rtp(media_target(invite.body), self.rtp_packets)
        await asyncio.sleep(0.02 * self.rtp_packets / 2)

    async def extension_call(self, caller: str = "1001", callee: str = "1003") -> None:
        """Answered call with RTP both ways (recorded), the caller hangs up."""
        a, b = self.phones[caller], self.phones[callee]
        uri = f"sip:{callee}@127.0.0.1"
        answering = asyncio.ensure_future(self._answer(b))
        ok = await self._invite(a, uri)
        assert ok.status == 200, ok.status
        invite = await answering
        self._ack(a, uri, ok)
        await b.ua.next_request("ACK")
        await self._rtp_both_ways(a, ok, b, invite)
        await self._bye(a, uri, ok)
        await self._take_bye(b)

    async def busy_call(self, caller: str = "1002", callee: str = "1003") -> None:
        """The callee's phone answers 486 Busy Here."""
        a, b = self.phones[caller], self.phones[callee]
        uri = f"sip:{callee}@127.0.0.1"
        answering = asyncio.ensure_future(self._answer(b, status=486))
        resp = await self._invite(a, uri)
        assert resp.status == 486, resp.status
        await answering
        ua = a.ua
        ua.send_raw(ua.build("ACK", uri, to=f"<{uri}>", cseq=2, to_tag=resp.to.tag,
                             with_contact=False))
        await asyncio.sleep(0)

    async def queue_call(self, queue: str, caller: str = "1002", agent: str = "1003", *,
                         agent_hangs_up: bool = False) -> None:
        """The queue answers (music), rings the agent, the agent answers (recorded), RTP both
        ways; the caller hangs up and the switch sends BYE to the agent, or the other way
        round."""
        a, b = self.phones[caller], self.phones[agent]
        uri = f"sip:{queue}@127.0.0.1"
        ok = await self._invite(a, uri)
        assert ok.status == 200, ok.status
        self._ack(a, uri, ok)
        a.send_rtp(media_target(ok.body), 2)  # while it hears music
        invite = await self._answer(b)
        await b.ua.next_request("ACK")
        await self._rtp_both_ways(a, ok, b, invite)
        if agent_hangs_up:
            contact = re.search(r"<([^>]+)>", invite.get("Contact") or "")
            target = contact[1] if contact else str(invite.uri)
            own_tag, b.ua.tag = b.ua.tag, "b" + invite.call_id[:8]  # the tag we answered with
            b.ua.send_raw(b.ua.build("BYE", target, call_id=invite.call_id, cseq=1,
                                     with_contact=False, to=str(invite.get("From"))))
            b.ua.tag = own_tag
            resp = await _response(b.ua, "BYE", call_id=invite.call_id)
            assert resp.status == 200, resp.status
            await self._take_bye(a)
        else:
            await self._bye(a, uri, ok)
            await self._take_bye(b)

    async def feature_call(self, code: str, caller: str = "1002", *,
                           hang_up: bool = False) -> None:
        """A feature code (*7 / *07 + queue): answered, a prompt, the switch hangs up after
        it; with `hang_up` the caller hangs up during the prompt."""
        a = self.phones[caller]
        uri = f"sip:{code}@127.0.0.1"
        ok = await self._invite(a, uri)
        assert ok.status == 200, ok.status
        self._ack(a, uri, ok)
        a.send_rtp(media_target(ok.body), 2)
        if hang_up:
            await asyncio.sleep(0.05)
            await self._bye(a, uri, ok)
            return
        bye = await a.ua.next_request("BYE", timeout=30)
        a.ua.reply(bye, 200)
