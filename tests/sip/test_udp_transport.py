"""The UDP transport's receive loop (softswitch.sip.transport.UdpTransport): one readiness
callback stops after its time budget, and what it leaves in the socket is delivered on the
loop's next passes, every datagram once and in order, with other callbacks running between
the chunks."""

from __future__ import annotations

import asyncio
import socket

from softswitch.sip.transaction import Peer
from softswitch.sip.transport import UdpTransport


class SlowEndpoint:
    """Takes each datagram as a SIP endpoint would; each costs `cost_s` on a fake clock (the
    transport's budget clock), and answers it through the transport."""

    def __init__(self, cost_s: float) -> None:
        self.now = 0.0
        self.cost_s = cost_s
        self.got: list[bytes] = []
        self.callbacks: list[int] = []  # datagrams handled in each readiness callback
        self.transport: UdpTransport | None = None

    def udp_datagram(self, transport: UdpTransport, data: bytes, peer: Peer) -> None:
        self.now += self.cost_s
        self.got.append(data)
        transport.send(b"re:" + data, peer)


async def test_a_backlog_is_handled_in_budgeted_chunks_without_loss_or_reordering() -> None:
    endpoint = SlowEndpoint(cost_s=0.002)  # 2 ms of work per datagram
    transport = UdpTransport.open(endpoint, "127.0.0.1", 0)  # type: ignore[arg-type]
    transport.clock = lambda: endpoint.now
    read_ready = transport._read_ready
    chunks: list[int] = []

    def counting_read_ready() -> None:
        before = len(endpoint.got)
        read_ready()
        chunks.append(len(endpoint.got) - before)

    loop = asyncio.get_running_loop()
    assert transport.local is not None
    loop.remove_reader(transport.sock.fileno())
    loop.add_reader(transport.sock.fileno(), counting_read_ready)
    ticks: list[int] = []  # another callback of the loop: how often it ran during the backlog

    def tick() -> None:
        ticks.append(len(endpoint.got))
        if len(endpoint.got) < 100:
            loop.call_soon(tick)

    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    try:
        sent = [f"datagram {i:03d}".encode() for i in range(100)]
        for data in sent:  # a backlog: all queued before the loop looks
            peer.sendto(data, (transport.local.host, transport.local.port))
        loop.call_soon(tick)
        for _ in range(200):
            if len(endpoint.got) == len(sent):
                break
            await asyncio.sleep(0)
        assert endpoint.got == sent  # nothing lost, nothing reordered
        # the budget is 5 ms: at 2 ms a datagram, three per callback (the one that
        # crosses the budget finishes), never the whole batch of 32
        budget_n = int(UdpTransport.BUDGET_S / endpoint.cost_s) + 1
        assert max(chunks) == budget_n
        assert sum(chunks) == len(sent)
        # the loop ran other callbacks between the chunks
        assert len(set(ticks)) > len(sent) // budget_n // 2
        answers: list[bytes] = [peer.recvfrom(100)[0] for _ in sent]
        assert answers == [b"re:" + d for d in sent]  # answers sent in order too
    finally:
        peer.close()
        loop.remove_reader(transport.sock.fileno())
        transport.sock.close()


async def test_cheap_datagrams_are_drained_a_batch_per_callback() -> None:
    endpoint = SlowEndpoint(cost_s=0.0)
    transport = UdpTransport.open(endpoint, "127.0.0.1", 0)  # type: ignore[arg-type]
    transport.clock = lambda: endpoint.now
    assert transport.local is not None
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(40):
            peer.sendto(b"%d" % i, (transport.local.host, transport.local.port))
        transport._read_ready()
        assert len(endpoint.got) == UdpTransport.BATCH  # no budget spent: a whole batch
        transport._read_ready()
        assert endpoint.got == [b"%d" % i for i in range(40)]
    finally:
        peer.close()
        transport.close()
