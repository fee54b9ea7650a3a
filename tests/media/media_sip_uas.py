"""A minimal SIP UAS for media interop tests: answers INVITEs with a MediaEngine leg.

Only what a softphone needs to reach the media engine without the switch (RFC 3261 §8.2,
§12, §13.3 for a UAS; RFC 3264 for the answer): 200 OK with SDP, ACK ignored, INFO handed to
the leg as DTMF (application/dtmf-relay, application/dtmf), BYE answered. Each call gets one
leg; ``on_call(leg, call_id)`` lets the test decide what the leg does.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from typing import Any

from media import MediaEngine, MediaLeg


def _headers(msg: str) -> tuple[str, list[tuple[str, str]], str]:
    head, _, body = msg.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        hdrs.append((name.strip(), value.strip()))
    return lines[0], hdrs, body


def _get(hdrs: list[tuple[str, str]], *names: str) -> list[str]:
    low = {n.lower() for n in names}
    return [v for n, v in hdrs if n.lower() in low]


def parse_offer(sdp: str) -> tuple[tuple[str, int], int, str, int | None]:
    """(address, payload type, codec, telephone-event PT) chosen from an SDP offer."""
    host = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
    media = re.search(r"^m=audio (\d+) RTP/AVP ([\d ]+)", sdp, re.M)
    if not host or not media:
        raise ValueError("SDP offer without c= or m=audio")
    pts = [int(x) for x in media.group(2).split()]
    names = {int(m.group(1)): m.group(2).upper()
             for m in re.finditer(r"^a=rtpmap:(\d+) ([\w-]+)/8000", sdp, re.M)}
    names.setdefault(0, "PCMU")
    names.setdefault(8, "PCMA")
    te = next((pt for pt in pts if names.get(pt) == "TELEPHONE-EVENT"), None)
    for pt in pts:
        if names.get(pt) in ("PCMU", "PCMA"):
            return (host.group(1), int(media.group(1))), pt, names[pt], te
    raise ValueError("no PCMU/PCMA in the offer")


class MediaUas(asyncio.DatagramProtocol):
    def __init__(self, engine: MediaEngine,
                 on_call: Callable[[MediaLeg, str], None] | None = None) -> None:
        self.engine = engine
        self.on_call = on_call
        self.legs: dict[str, MediaLeg] = {}
        self.info_results: list[Any] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.calls: asyncio.Queue[tuple[str, MediaLeg]] = asyncio.Queue()

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0))
        self.port = self.transport.get_extra_info("sockname")[1]
        return self.port

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("utf-8", "replace")
        if not text.strip() or text.startswith("SIP/2.0"):
            return
        asyncio.get_running_loop().create_task(self._handle(text, addr))

    def _respond(self, hdrs: list[tuple[str, str]], addr: tuple[str, int], code: int,
                 reason: str, to_tag: str = "", body: str = "", ctype: str = "") -> None:
        out = [f"SIP/2.0 {code} {reason}"]
        for v in _get(hdrs, "Via", "v"):
            out.append(f"Via: {v}")
        out.append(f"From: {_get(hdrs, 'From', 'f')[0]}")
        to = _get(hdrs, "To", "t")[0]
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        out.append(f"To: {to}")
        out.append(f"Call-ID: {_get(hdrs, 'Call-ID', 'i')[0]}")
        out.append(f"CSeq: {_get(hdrs, 'CSeq')[0]}")
        out.append(f"Contact: <sip:media@127.0.0.1:{self.port}>")
        if ctype:
            out.append(f"Content-Type: {ctype}")
        out.append(f"Content-Length: {len(body.encode())}")
        assert self.transport is not None
        self.transport.sendto(("\r\n".join(out) + "\r\n\r\n" + body).encode(), addr)

    async def _handle(self, text: str, addr: tuple[str, int]) -> None:
        start, hdrs, body = _headers(text)
        method = start.split()[0]
        call_id = _get(hdrs, "Call-ID", "i")[0]
        if method == "INVITE":
            leg = self.legs.get(call_id)
            try:
                remote, pt, codec, te = parse_offer(body)
            except ValueError:
                self._respond(hdrs, addr, 488, "Not Acceptable Here", secrets.token_hex(4))
                return
            if leg is None:
                leg = await self.engine.open_leg(call_id)
                self.legs[call_id] = leg
                new = True
            else:
                new = False
            leg.set_remote(remote, pt, codec, te)
            fmts = f"{pt}" + (f" {te}" if te is not None else "")
            sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                   f"m=audio {leg.local_port} RTP/AVP {fmts}\r\n"
                   f"a=rtpmap:{pt} {codec}/8000\r\n"
                   + (f"a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
                      if te is not None else "")
                   + "a=ptime:20\r\na=sendrecv\r\n")
            self._respond(hdrs, addr, 200, "OK", "uas" + call_id[:8].replace(";", ""), sdp,
                          "application/sdp")
            if new:
                if self.on_call is not None:
                    self.on_call(leg, call_id)
                self.calls.put_nowait((call_id, leg))
        elif method == "INFO":
            leg = self.legs.get(call_id)
            ctype = (_get(hdrs, "Content-Type", "c") or [""])[0]
            if leg is None:
                self._respond(hdrs, addr, 481, "Call/Transaction Does Not Exist")
                return
            try:
                self.info_results.append(leg.receive_info_dtmf(ctype, body))
                self._respond(hdrs, addr, 200, "OK")
            except ValueError as exc:
                self.info_results.append(exc)
                self._respond(hdrs, addr, 415, "Unsupported Media Type")
        elif method == "BYE":
            self._respond(hdrs, addr, 200, "OK")
            leg = self.legs.pop(call_id, None)
            if leg is not None:
                await leg.close()
        elif method in ("OPTIONS", "UPDATE"):
            self._respond(hdrs, addr, 200, "OK")
        elif method != "ACK":
            self._respond(hdrs, addr, 501, "Not Implemented")
