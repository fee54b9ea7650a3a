"""Test helpers: phones that are plain UDP sockets, random RTP port ranges."""

from __future__ import annotations

import asyncio
import random
import socket
import struct

from media.rtp import RtpPacket, parse_rtp


def free_port_range(size: int = 200) -> tuple[int, int]:
    """A random even-aligned range outside the ephemeral range; busy ports are skipped by the
    engine itself, so another test run using the same numbers only costs a retry."""
    base = random.randrange(20000, 32000 - size, 2)
    return base, base + size - 1


class Phone:
    """A plain-socket RTP endpoint acting as a phone."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Virtual-time tests send many ticks' packets at once: room for all of them.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.addr: tuple[str, int] = self.sock.getsockname()
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)

    def send(self, to: tuple[str, int], payload: bytes, pt: int = 0, *, marker: bool = False,
             seq: int | None = None, ts: int | None = None, ssrc: int | None = None) -> None:
        pkt = RtpPacket(pt, self.seq if seq is None else seq, self.ts if ts is None else ts,
                        self.ssrc if ssrc is None else ssrc, payload, marker)
        self.sock.sendto(bytes(pkt), to)
        if seq is None:
            self.seq = (self.seq + 1) & 0xFFFF
        if ts is None:
            self.ts = (self.ts + 160) & 0xFFFFFFFF

    async def recv(self, timeout: float = 1.0) -> RtpPacket | None:
        loop = asyncio.get_running_loop()
        try:
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 2048), timeout)
        except TimeoutError:
            return None
        return parse_rtp(data)

    async def recv_all(self, quiet: float = 0.3) -> list[RtpPacket]:
        out = []
        while (p := await self.recv(quiet)) is not None:
            out.append(p)
        return out

    def close(self) -> None:
        self.sock.close()


def te_payload(event: int, end: bool, duration: int, volume: int = 10) -> bytes:
    return struct.pack("!BBH", event, (0x80 if end else 0) | volume, duration)


