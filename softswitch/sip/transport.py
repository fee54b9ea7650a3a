"""asyncio transports for SIP: UDP and TCP (RFC 3261 §18).

Thin shells: they move bytes between sockets and the `SipEndpoint`, which does the parsing
and owns the transaction layer. TCP streams are cut into messages by `StreamFramer`
(Content-Length framing, RFC 5626 CRLF keepalives answered with a CRLF pong).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import structlog

from .errors import SipParseError
from .message import StreamFramer
from .transaction import Peer

if TYPE_CHECKING:
    from .endpoint import SipEndpoint

__all__ = ["UdpTransport", "TcpConnection"]

log = structlog.get_logger("softswitch.sip.transport")


class UdpTransport(asyncio.DatagramProtocol):
    """One UDP socket bound to one listen address."""

    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Peer | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        host, port = transport.get_extra_info("sockname")[:2]
        self.local = Peer("udp", host, port)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        peer = Peer("udp", str(addr[0]), int(addr[1]))
        self.endpoint.udp_datagram(self, data, peer)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and friends: the transaction timers handle the loss.
        log.debug("udp error", error=str(exc))

    def send(self, data: bytes, peer: Peer) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, (peer.host, peer.port))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


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
        assert self.peer is not None
        self.endpoint.tcp_activity(self)
        try:
            items = self.framer.feed(data)
        except SipParseError as exc:
            log.info("tcp framing lost, closing", peer=f"{self.peer.host}:{self.peer.port}",
                     reason=exc.reason)
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
