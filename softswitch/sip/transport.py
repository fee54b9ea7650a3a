"""asyncio transports for SIP: UDP and TCP (RFC 3261 §18).

Thin shells: they move bytes between sockets and the `SipEndpoint`, which does the parsing
and owns the transaction layer. TCP streams are cut into messages by `StreamFramer`
(Content-Length framing, RFC 5626 CRLF keepalives answered with a CRLF pong).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import TYPE_CHECKING, cast

import structlog

from .errors import SipParseError
from .message import StreamFramer
from .transaction import Peer

if TYPE_CHECKING:
    from .endpoint import SipEndpoint

__all__ = ["UdpTransport", "TcpConnection"]

log = structlog.get_logger("softswitch.sip.transport")


class UdpTransport:
    """One UDP socket bound to one listen address, read directly with `loop.add_reader`.

    Why not an asyncio DatagramProtocol: its transport reads ONE datagram per event-loop
    pass, so a burst (sipp at 1000+ REGISTER/s) overflows the kernel buffer while the loop
    is busy, and every dropped datagram costs a 500 ms retransmission. Here each readiness
    event drains up to `BATCH` datagrams, and the receive buffer is enlarged.

    One readiness callback also stops after `BUDGET_S` of loop time (checked after each
    datagram), so it never holds the loop long: 32 INVITEs that each open a call (RTP ports,
    a recording, records) took up to 84 ms in one callback under the soak benchmark, and
    every call's RTP waited meanwhile. What is left stays in the kernel's receive queue:
    the selector is level-triggered, so the loop calls `_read_ready` again on its next pass,
    after the other ready callbacks (the RTP relay, timers) had their turn; datagrams are
    neither lost nor reordered.

    What is sent while a batch is handled (the answers to it) goes out when the batch is
    done, in order. A `sendto` that wakes a sleeping receiver costs the sender the wake-up
    (measured on this VM: ~17 us of CPU per datagram to a sleeping peer vs ~2 us to a busy
    one); sent back-to-back at the end of the batch, the later datagrams mostly find the
    peer awake. With sipp registering at 3,000/s this took the switch from ~205 to ~171 us
    of CPU per REGISTER (benchmarks/README.md). Sends outside a batch (timers, calls) go at
    once.
    """

    BATCH = 32
    BUDGET_S = 0.005  # loop time one readiness callback may spend on received datagrams
    RCVBUF = 8 * 1024 * 1024
    SNDBUF = 4 * 1024 * 1024

    def __init__(self, endpoint: SipEndpoint, sock: socket.socket) -> None:
        self.endpoint = endpoint
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.local: Peer | None = Peer("udp", str(host), int(port))
        self._loop = asyncio.get_running_loop()
        self.clock = self._loop.time  # the budget's clock (a test injects its own)
        self._closed = False
        # Datagrams sent while a batch of received ones is handled, sent after the batch.
        self._pending: list[tuple[bytes, Peer]] | None = None
        self._loop.add_reader(sock.fileno(), self._read_ready)

    @classmethod
    def open(cls, endpoint: SipEndpoint, host: str, port: int) -> UdpTransport:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _type, _proto, _canon, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            for opt, size in ((socket.SO_RCVBUF, cls.RCVBUF), (socket.SO_SNDBUF, cls.SNDBUF)):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, size)
                except OSError:
                    pass
            # SO_RCVBUFFORCE (Linux 33) is missing from Python's socket module.
            force = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)
            if force is not None:
                try:  # beyond net.core.rmem_max when allowed (CAP_NET_ADMIN)
                    sock.setsockopt(socket.SOL_SOCKET, force, cls.RCVBUF)
                except OSError:
                    pass
            sock.bind(addr)
        except BaseException:
            sock.close()
            raise
        return cls(endpoint, sock)

    def _read_ready(self) -> None:
        sock = self.sock
        deliver = self.endpoint.udp_datagram
        pending: list[tuple[bytes, Peer]] = []
        self._pending = pending
        clock = self.clock
        deadline = clock() + self.BUDGET_S
        try:
            for _ in range(self.BATCH):
                try:
                    data, addr = sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    # ICMP errors reported on the socket: the transaction timers handle loss.
                    log.debug("udp receive error", error=str(exc))
                    continue
                deliver(self, data, Peer("udp", addr[0], addr[1]))  # (str, int) from socket
                if self._closed or clock() >= deadline:
                    return  # the rest on the loop's next pass (level-triggered)
        finally:
            self._pending = None
            for data, peer in pending:
                self._sendto(data, peer)

    def send(self, data: bytes, peer: Peer) -> None:
        pending = self._pending
        if pending is not None:
            pending.append((data, peer))
        else:
            self._sendto(data, peer)

    def _sendto(self, data: bytes, peer: Peer) -> None:
        if self._closed:
            return
        try:
            self.sock.sendto(data, (peer.host, peer.port))
        except (BlockingIOError, InterruptedError):
            # Send buffer full: dropped like a lost datagram; retransmissions cover it.
            log.debug("udp send buffer full", peer=f"{peer.host}:{peer.port}")
        except OSError as exc:
            log.debug("udp send error", peer=f"{peer.host}:{peer.port}", error=str(exc))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()


class TcpConnection(asyncio.Protocol):
    """One TCP connection (accepted or opened by us), registered in the endpoint's
    connection table under the far end's address so that requests to a phone that
    registered over TCP reuse it (RFC 3261 §18.2.2, RFC 5626 spirit)."""

    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self.framer = StreamFramer()
        self.last_activity = 0.0
        self.idle_handle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer("tcp", str(host), int(port))
        self.endpoint.tcp_connection_made(self)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            return  # refused (connection table full), closing
        self.endpoint.tcp_activity(self)
        try:
            items = self.framer.feed(data)
        except SipParseError as exc:
            log.info("tcp framing lost, closing", peer=f"{self.peer.host}:{self.peer.port}",
                     reason=exc.reason)
            # A readable request is still told why (400 / 513) before the close.
            self.endpoint.reject_malformed(exc, self.peer)
            self.close()
            return
        for item in items:
            if isinstance(item, str):
                self.write(b"\r\n")  # RFC 5626 §3.5.1 pong
            else:
                self.endpoint.data_received(item, self.peer, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.endpoint.tcp_connection_lost(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
