"""Bad input over a real socket while a call is up: thousands of mutated datagrams get a
response or are dropped, nothing escapes into the event loop, and the call in progress still
hangs up normally."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from softswitch.sip import Dialog

from .test_endpoint import Phone, make_request, pair  # noqa: F401  (fixture)
from .test_message import INVITE, REGISTER, _mutate

SEEDS = [
    REGISTER,
    INVITE,
    b"BYE sip:callee@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbye\r\n"
    b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: fuzz\r\nCSeq: 2 BYE\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"CANCEL sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKinv\r\n"
    b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: fuzz2\r\nCSeq: 1 CANCEL\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKresp\r\n"
    b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: fuzz3\r\nCSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n",
]
MARKERS = [b"\r\n", b"\r\n ", b":", b";", b",", b"<", b">", b'"', b"\x00", b"\xff", b"%",
           b"SIP/2.0", b"z9hG4bK", b"Content-Length: 99999", b"l: -1", b" ", b"*", b"@"]


class Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: list[bytes] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.append(data)


async def test_mutated_datagrams_while_a_call_is_up(pair: tuple[Phone, Phone]) -> None:  # noqa: F811
    a, b = pair
    loop = asyncio.get_running_loop()
    escaped: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: escaped.append(ctx))

    # A call is up between A and B.
    dst = b.ep.local_peer("udp")
    invite = make_request("INVITE", a.ep, dst)
    out = a.ep.send_request(invite, dst)
    ok = await asyncio.wait_for(out.final, 5)
    dialog = Dialog.create_uac(invite, ok)
    out.send_ack(dialog.create_ack(invite))
    await b.wait(lambda: len(b.acks) == 1)

    # Garbage from elsewhere.
    t, collect = await loop.create_datagram_endpoint(Collect, local_addr=("127.0.0.1", 0))
    rng = random.Random(4475)
    sent = 0
    for _ in range(2000):
        ops = [(rng.randrange(4), rng.randrange(10_000), rng.randrange(40),
                rng.choice(MARKERS) if rng.random() < 0.6 else rng.randbytes(rng.randint(1, 8)))
               for _ in range(rng.randint(1, 5))]
        t.sendto(_mutate(rng.choice(SEEDS), ops), (dst.host, dst.port))
        sent += 1
        # asyncio reads one datagram per loop pass: yield so the kernel buffer never fills.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    # A last valid request from the same socket marks the end of the stream.
    probe = make_request("OPTIONS", a.ep, dst)
    probe.add("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKprobe-end", first=True)

    async def probe_answered() -> None:
        # Re-sent until answered: the kernel may drop datagrams when its buffer is full.
        while not any(b"z9hG4bKprobe-end" in r for r in collect.replies):
            t.sendto(bytes(probe), (dst.host, dst.port))
            await asyncio.sleep(0.05)

    await asyncio.wait_for(probe_answered(), 30)
    t.close()

    assert not escaped, escaped[:3]
    assert b.ep.stats["received"] >= 1900  # (a few may still be lost in the kernel)
    assert b.ep.stats["malformed"] > 500  # many mutations were refused ...
    assert all(r.startswith(b"SIP/2.0 ") for r in collect.replies)  # ... every reply is SIP
    statuses = {int(r[8:11]) for r in collect.replies}
    assert 400 in statuses

    # The call in progress is unaffected: A hangs up and B confirms.
    bye = a.ep.send_request(dialog.create_request("BYE"), dst)
    assert (await asyncio.wait_for(bye.final, 5)).status == 200
    assert b.requests[-1].method == "BYE" and b.requests[-1].call_id == invite.call_id
