"""Loopback networking helpers: free ports and a SIP OPTIONS probe (RFC 3261 §11).

Ports are checked free by binding them, because other test runs share the machine; a port
that is free for both UDP and TCP is needed where a SIP listener binds both.

Ports handed out here lie below the kernel's ephemeral range (32768-60999 on Linux), so a
port chosen now (say a provider's address that sipp binds minutes later) is never given
meanwhile to some client socket that binds port 0: single ports come from 20000-29999,
ranges (RTP relays) from 10000-19999, so the two never overlap either.
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid

LOOPBACK = "127.0.0.1"


SINGLE_PORTS = (20000, 30000)
PORT_RANGES = (10000, 20000)
_random = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "big"))


def _bindable(host: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK, *, udp: bool = True, tcp: bool = True) -> int:
    """A port that is free right now for UDP and/or TCP on `host`, outside the kernel's
    ephemeral range (module docstring)."""
    for _ in range(500):
        port = _random.randrange(*SINGLE_PORTS)
        if (not tcp or _bindable(host, port, socket.SOCK_STREAM)) and \
                (not udp or _bindable(host, port, socket.SOCK_DGRAM)):
            return port
    raise RuntimeError("no port free for both UDP and TCP after 500 tries")


def free_port_range(size: int, host: str = LOOPBACK) -> tuple[int, int]:
    """An even-aligned UDP port range [first, last] of `size` ports, all free right now.

    The start is random inside 10000-19999 (below the ephemeral range and apart from the
    single ports: module docstring), so parallel test runs pick different ranges (RTP relays
    bind inside it).
    """
    low, high = PORT_RANGES
    for _attempt in range(64):
        first = _random.randrange(low, high - size, 2)
        last = first + size - 1
        ok = True
        for port in range(first, last + 1, max(1, size // 8)):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind((host, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return first, last
    raise RuntimeError(f"no free UDP range of {size} ports found")


def sip_options(host: str, port: int, *, timeout: float = 0.5) -> bytes | None:
    """Send one OPTIONS over UDP and return the first response's bytes, or None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        lport = sock.getsockname()[1]
        tag = uuid.uuid4().hex[:10]
        msg = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{lport};branch=z9hG4bK{tag};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:probe@{LOOPBACK}:{lport}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {tag}@{LOOPBACK}\r\n"
            f"CSeq: 1 OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n"
        ).encode()
        sock.settimeout(timeout)
        sock.sendto(msg, (host, port))
        try:
            data, _ = sock.recvfrom(65535)
        except (TimeoutError, OSError):
            return None
        return data


def wait_sip_ready(host: str, port: int, *, timeout: float = 10.0, alive=None) -> bool:
    """Probe with OPTIONS until any SIP response comes back; `alive()` False aborts early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        if sip_options(host, port, timeout=0.3) is not None:
            return True
    return False


def wait_udp_bound(port: int, host: str = LOOPBACK, *, timeout: float = 5.0, alive=None) -> bool:
    """Wait until some process has bound UDP host:port (our own bind attempt fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return True
        time.sleep(0.02)
    return False


def tcp_listening(port: int, host: str = LOOPBACK) -> bool:
    """Does some process listen on TCP host:port? Read from /proc/net/tcp (IPv4), so the
    check opens no connection the listener would have to handle."""
    want = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            return any(cols[1] == want and cols[3] == "0A"  # 0A: LISTEN
                       for cols in (line.split() for line in f))
    except OSError:
        return False


def wait_tcp_listening(port: int, host: str = LOOPBACK, *, timeout: float = 5.0,
                       alive=None) -> bool:
    """Wait until some process listens on TCP host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        if tcp_listening(port, host):
            return True
        time.sleep(0.02)
    return False
