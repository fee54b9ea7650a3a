"""A small scripted SIP user agent over real UDP/TCP sockets, for process-level tests of the
switch: it registers with digest auth, places and answers calls, and sends raw bytes.

It is deliberately independent of the switch's own transaction layer: it builds messages by
hand (RFC 3261 text) and parses what comes back with softswitch.sip.parse_message only.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

from softswitch.sip import Request, Response, parse_message


def _h(algorithm: str, text: str) -> str:
    fn = hashlib.sha256 if algorithm.upper().startswith("SHA-256") else hashlib.md5
    return fn(text.encode()).hexdigest()


def parse_challenge(value: str) -> dict[str, str]:
    scheme, _, rest = value.partition(" ")
    params = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', rest)}
    params["scheme"] = scheme
    return params


def digest_authorization(challenge: dict[str, str], method: str, uri: str, user: str,
                         password: str, nc: int = 1) -> str:
    algorithm = challenge.get("algorithm", "MD5")
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = _h(algorithm, f"{user}:{realm}:{password}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    cnonce = os.urandom(4).hex()
    qop = "auth" if "auth" in challenge.get("qop", "").split(",") else ""
    if qop:
        response = _h(algorithm, f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")
        extra = f', qop={qop}, nc={nc:08x}, cnonce="{cnonce}"'
    else:
        response = _h(algorithm, f"{ha1}:{nonce}:{ha2}")
        extra = ""
    opaque = f', opaque="{challenge["opaque"]}"' if "opaque" in challenge else ""
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm={algorithm}{extra}{opaque}')


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, ua: SipUA) -> None:
        self.ua = ua

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.ua._received(data)


@dataclass
class SipUA:
    """One phone: `user`@`domain`, talking to the switch at `server` (host, port)."""

    user: str
    password: str
    server: tuple[str, int]
    domain: str = "127.0.0.1"
    transport: Any = None
    local: tuple[str, int] = ("127.0.0.1", 0)
    responses: asyncio.Queue[Response] = field(default_factory=asyncio.Queue)
    requests: asyncio.Queue[Request] = field(default_factory=asyncio.Queue)
    raw: list[bytes] = field(default_factory=list)
    cseq: int = 0
    call_id: str = field(default_factory=lambda: os.urandom(8).hex())
    tag: str = field(default_factory=lambda: os.urandom(4).hex())
    contact_uri: str | None = None  # e.g. a private address behind NAT
    sent: list[bytes] = field(default_factory=list)

    async def start(self) -> SipUA:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=self.local)
        self.local = self.transport.get_extra_info("sockname")[:2]
        return self

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _received(self, data: bytes) -> None:
        self.raw.append(data)
        if not data.strip():
            return
        try:
            msg = parse_message(data)
        except Exception:  # noqa: BLE001 - a test UA keeps going
            return
        if isinstance(msg, Response):
            self.responses.put_nowait(msg)
        else:
            self.requests.put_nowait(msg)

    def send_raw(self, data: bytes) -> None:
        self.sent.append(data)
        self.transport.sendto(data, self.server)

    @property
    def contact(self) -> str:
        if self.contact_uri:
            return f"<{self.contact_uri}>"
        return f"<sip:{self.user}@{self.local[0]}:{self.local[1]}>"

    def build(self, method: str, uri: str, *, to: str | None = None, call_id: str | None = None,
              cseq: int | None = None, headers: list[str] | None = None, body: bytes = b"",
              to_tag: str | None = None, branch: str | None = None,
              with_contact: bool = True, content_type: str = "application/sdp") -> bytes:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or "z9hG4bK" + os.urandom(6).hex()
        to_hdr = to or f"<sip:{self.user}@{self.domain}>"
        if to_tag:
            to_hdr += f";tag={to_tag}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local[0]}:{self.local[1]};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag={self.tag}",
            f"To: {to_hdr}",
            f"Call-ID: {call_id or self.call_id}",
            f"CSeq: {cseq} {method}",
            *([f"Contact: {self.contact}"] if with_contact else []),
            *(headers or []),
        ]
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def response(self, timeout: float = 10.0, final: bool = True) -> Response:
        while True:
            resp = await asyncio.wait_for(self.responses.get(), timeout)
            if not final or resp.status >= 200:
                return resp

    async def request(self, method: str, uri: str | None = None, *, auth: bool = True,
                      password: str | None = None, timeout: float = 10.0,
                      **kw: Any) -> Response:
        """Send a request and return the final response, answering one digest challenge."""
        uri = uri or f"sip:{self.domain}"
        self.send_raw(self.build(method, uri, **kw))
        resp = await self.response(timeout)
        if auth and resp.status in (401, 407):
            header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
            challenge = parse_challenge(resp.get_all(header)[-1] if
                                        len(resp.get_all(header)) == 1 else
                                        _pick_md5(resp.get_all(header)))
            value = digest_authorization(challenge, method, uri, self.user,
                                         password or self.password)
            name = "Authorization" if resp.status == 401 else "Proxy-Authorization"
            kw = dict(kw)
            kw["headers"] = [*(kw.get("headers") or []), f"{name}: {value}"]
            kw.pop("cseq", None)
            self.send_raw(self.build(method, uri, **kw))
            resp = await self.response(timeout)
        return resp

    async def register(self, expires: int = 600, **kw: Any) -> Response:
        return await self.request("REGISTER", f"sip:{self.domain}",
                                  headers=[f"Expires: {expires}", *(kw.pop("headers", []))],
                                  **kw)

    async def next_request(self, method: str | None = None, timeout: float = 10.0) -> Request:
        while True:
            req = await asyncio.wait_for(self.requests.get(), timeout)
            if method is None or req.method == method:
                return req

    def reply(self, request: Request, status: int, *, to_tag: str | None = None,
              body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        hdrs: list[tuple[str, Any]] = [("Contact", self.contact), *(headers or [])]
        if body:
            hdrs.append(("Content-Type", "application/sdp"))
        resp = request.create_response(status, to_tag=to_tag, headers=hdrs, body=body)
        via = request.via
        host, port = via.sent_by
        target = (via.received or host, int(via.rport) if via.rport and via.rport.isdigit()
                  else (port or 5060))
        self.transport.sendto(bytes(resp), target)

    def send_to(self, data: bytes, target: tuple[str, int]) -> None:
        self.transport.sendto(data, target)


def _pick_md5(values: list[str]) -> str:
    for v in values:
        if "MD5" in v and "SHA" not in v:
            return v
    return values[0]


def sdp(port: int, codecs: str = "0 8 101", direction: str = "sendrecv",
        host: str = "127.0.0.1") -> bytes:
    lines = ["v=0", f"o=- 1 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {codecs}", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
             "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def options_probe(sock: Any, call_id: str) -> bytes:
    """An out-of-dialog OPTIONS from the blocking UDP socket `sock` (a monitoring probe),
    answered to that socket's address."""
    host, port = sock.getsockname()[:2]
    return (f"OPTIONS sip:{host} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{os.urandom(6).hex()}\r\n"
            f"From: <sip:probe@{host}>;tag=p1\r\nTo: <sip:{host}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def final_response(sock: Any, call_id: str) -> Response:
    """The next final response for `call_id` read from the blocking UDP socket `sock`
    (its timeout applies); other datagrams are skipped."""
    while True:
        msg = parse_message(sock.recv(65535))
        if isinstance(msg, Response) and msg.call_id == call_id and msg.status >= 200:
            return msg
