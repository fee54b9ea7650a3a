"""SDP (RFC 4566) and the offer/answer model (RFC 3264), the subset a G.711 switch needs.

Decisions:
- Unknown lines (b=, i=, k=, other a=) are kept in order and written back, so anchoring an
  SDP changes only the addresses and the port.
- The answer keeps the offer's payload order among the codecs we support (RFC 3264 §6.1
  lets the answerer reorder; keeping the offerer's preference avoids transcoding), and
  answers every non-audio or extra m= line with port 0 (§6).
- telephone-event (RFC 4733) is answered with the offer's payload number and `0-16`.
- Hold (RFC 3264 §8.4, and RFC 2543's c=0.0.0.0): audio direction sendonly or inactive, or a
  connection address of 0.0.0.0.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from .limits import small_int

__all__ = [
    "SdpParseError",
    "RtpMap",
    "Origin",
    "MediaDescription",
    "SessionDescription",
    "create_offer",
    "create_answer",
    "anchor",
    "is_on_hold",
    "audio",
    "STATIC_PAYLOADS",
]

_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


class SdpParseError(ValueError):
    """The body is not SDP we can use (the TU answers 400 or 488)."""


@dataclass(frozen=True, slots=True)
class RtpMap:
    encoding: str
    clock_rate: int
    channels: int = 1

    def __str__(self) -> str:
        if self.channels != 1:
            return f"{self.encoding}/{self.clock_rate}/{self.channels}"
        return f"{self.encoding}/{self.clock_rate}"


#: RFC 3551 static payload types we know by number.
STATIC_PAYLOADS = {
    0: RtpMap("PCMU", 8000),
    3: RtpMap("GSM", 8000),
    8: RtpMap("PCMA", 8000),
    9: RtpMap("G722", 8000),
    18: RtpMap("G729", 8000),
}
_STATIC_BY_NAME = {v.encoding.upper(): k for k, v in STATIC_PAYLOADS.items()}


@dataclass(slots=True)
class Origin:
    username: str = "-"
    session_id: str = "0"
    session_version: str = "0"
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.session_version} {self.nettype} "
                f"{self.addrtype} {self.address}")


Attribute = tuple[str, str | None]


class MediaDescription:
    """One m= section."""

    __slots__ = ("media", "port", "port_count", "proto", "formats", "connection",
                 "attributes", "extra")

    def __init__(self, media: str, port: int, proto: str, formats: list[str],
                 connection: str | None = None, attributes: list[Attribute] | None = None,
                 extra: list[tuple[str, str]] | None = None, port_count: int | None = None
                 ) -> None:
        self.media = media
        self.port = port
        self.port_count = port_count
        self.proto = proto
        self.formats = formats
        self.connection = connection
        self.attributes: list[Attribute] = attributes if attributes is not None else []
        self.extra: list[tuple[str, str]] = extra if extra is not None else []

    def attribute(self, name: str) -> str | None:
        for n, v in self.attributes:
            if n == name:
                return v if v is not None else ""
        return None

    @property
    def direction(self) -> str:
        for n, _v in self.attributes:
            if n in _DIRECTIONS:
                return n
        return "sendrecv"

    @direction.setter
    def direction(self, value: str) -> None:
        if value not in _DIRECTIONS:
            raise ValueError(f"invalid direction {value!r}")
        self.attributes = [a for a in self.attributes if a[0] not in _DIRECTIONS]
        self.attributes.append((value, None))

    @property
    def rtpmap(self) -> dict[int, RtpMap]:
        """Payload type -> encoding, for every format (static ones filled in)."""
        out: dict[int, RtpMap] = {}
        for n, v in self.attributes:
            if n == "rtpmap" and v:
                pt_s, _, enc = v.partition(" ")
                parts = enc.strip().split("/")
                pt = _payload_type(pt_s)
                if pt is None:
                    continue
                try:
                    out[pt] = RtpMap(parts[0], int(parts[1]),
                                     int(parts[2]) if len(parts) > 2 else 1)
                except (ValueError, IndexError):
                    continue
        for f in self.formats:
            pt = _payload_type(f)
            if pt is not None and pt not in out and pt in STATIC_PAYLOADS:
                out[pt] = STATIC_PAYLOADS[pt]
        return out

    @property
    def fmtp(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for n, v in self.attributes:
            if n == "fmtp" and v:
                pt_s, _, params = v.partition(" ")
                pt = _payload_type(pt_s)
                if pt is not None:
                    out[pt] = params.strip()
        return out

    @property
    def ptime(self) -> int | None:
        v = self.attribute("ptime")
        if v is None:
            return None
        try:
            return int(float(v))
        except (ValueError, OverflowError):  # "nan", "1e999"
            return None

    def copy(self) -> MediaDescription:
        return MediaDescription(self.media, self.port, self.proto, list(self.formats),
                                self.connection, list(self.attributes), list(self.extra),
                                self.port_count)

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count else str(self.port)
        out = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}".rstrip()]
        for t, v in self.extra:
            if t == "i":
                out.append(f"{t}={v}")
        if self.connection is not None:
            out.append(f"c=IN {_addrtype(self.connection)} {self.connection}")
        for t, v in self.extra:
            if t != "i":
                out.append(f"{t}={v}")
        for n, val in self.attributes:
            out.append(f"a={n}" if val is None else f"a={n}:{val}")
        return out


def _payload_type(text: str) -> int | None:
    """An RTP payload type (0-127, RFC 3551 §6) written in a format list or an attribute."""
    return small_int(text, 3)


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


class SessionDescription:
    """A whole SDP body."""

    __slots__ = ("version", "origin", "session_name", "connection", "timing", "attributes",
                 "extra", "media")

    def __init__(self, origin: Origin | None = None, session_name: str = "-",
                 connection: str | None = None, media: list[MediaDescription] | None = None,
                 attributes: list[Attribute] | None = None,
                 extra: list[tuple[str, str]] | None = None, timing: str = "0 0") -> None:
        self.version = "0"
        self.origin = origin if origin is not None else Origin()
        self.session_name = session_name
        self.connection = connection
        self.timing = timing
        self.attributes: list[Attribute] = attributes if attributes is not None else []
        self.extra: list[tuple[str, str]] = extra if extra is not None else []
        self.media: list[MediaDescription] = media if media is not None else []

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        sdp = cls()
        seen_v = seen_o = False
        cur: MediaDescription | None = None
        for raw in text.replace("\r\n", "\n").split("\n"):
            line = raw.rstrip("\r")
            if not line:
                continue
            if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
                raise SdpParseError(f"invalid SDP line {line[:40]!r}")
            t, v = line[0], line[2:]
            if t == "v":
                if v.strip() != "0":
                    raise SdpParseError(f"unsupported SDP version {v!r}")
                seen_v = True
            elif t == "o":
                parts = v.split()
                if len(parts) != 6:
                    raise SdpParseError("invalid o= line")
                sdp.origin = Origin(*parts)
                seen_o = True
            elif t == "s" and cur is None:
                sdp.session_name = v
            elif t == "t" and cur is None:
                sdp.timing = v
            elif t == "c":
                parts = v.split()
                if len(parts) != 3 or parts[0] != "IN":
                    raise SdpParseError("invalid c= line")
                addr = parts[2].split("/")[0]
                if cur is None:
                    sdp.connection = addr
                else:
                    cur.connection = addr
            elif t == "m":
                parts = v.split()
                if len(parts) < 4:
                    raise SdpParseError("invalid m= line")
                port_s, _, count_s = parts[1].partition("/")
                port = small_int(port_s, 5)
                count = small_int(count_s, 5) if count_s else None
                if port is None or port > 65535 or (count_s and count is None):
                    raise SdpParseError(f"invalid m= port {parts[1][:20]!r}")
                cur = MediaDescription(parts[0], port, parts[2], parts[3:], port_count=count)
                sdp.media.append(cur)
            elif t == "a":
                name, colon, value = v.partition(":")
                attr: Attribute = (name, value if colon else None)
                if cur is None:
                    sdp.attributes.append(attr)
                else:
                    cur.attributes.append(attr)
            else:
                if cur is None:
                    sdp.extra.append((t, v))
                else:
                    cur.extra.append((t, v))
        if not seen_v or not seen_o:
            raise SdpParseError("SDP without v= or o= line")
        return sdp

    def __bytes__(self) -> bytes:
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name or '-'}"]
        for t, v in self.extra:
            if t in ("i", "u", "e", "p"):
                lines.append(f"{t}={v}")
        if self.connection is not None:
            lines.append(f"c=IN {_addrtype(self.connection)} {self.connection}")
        for t, v in self.extra:
            if t == "b":
                lines.append(f"{t}={v}")
        lines.append(f"t={self.timing}")
        for t, v in self.extra:
            if t not in ("i", "u", "e", "p", "b"):
                lines.append(f"{t}={v}")
        for n, val in self.attributes:
            lines.append(f"a={n}" if val is None else f"a={n}:{val}")
        for m in self.media:
            lines.extend(m.lines())
        return ("\r\n".join(lines) + "\r\n").encode()

    def copy(self) -> SessionDescription:
        o = self.origin
        return SessionDescription(
            Origin(o.username, o.session_id, o.session_version, o.nettype, o.addrtype,
                   o.address),
            self.session_name, self.connection, [m.copy() for m in self.media],
            list(self.attributes), list(self.extra), self.timing,
        )

    def __repr__(self) -> str:
        return f"SessionDescription({bytes(self)!r})"


def audio(sdp: SessionDescription) -> MediaDescription | None:
    """The first audio stream that is not rejected (port 0)."""
    for m in sdp.media:
        if m.media == "audio" and m.port != 0:
            return m
    return None


def _media_address(sdp: SessionDescription, m: MediaDescription) -> str | None:
    return m.connection if m.connection is not None else sdp.connection


def is_on_hold(sdp: SessionDescription) -> bool:
    """True when the audio is put on hold: sendonly/inactive (session- or media-level) or a
    0.0.0.0 connection address (RFC 3264 §8.4)."""
    m = audio(sdp)
    if m is None:
        return False
    if _media_address(sdp, m) == "0.0.0.0":
        return True
    direction = None
    for n, _v in m.attributes:
        if n in _DIRECTIONS:
            direction = n
    if direction is None:
        for n, _v in sdp.attributes:
            if n in _DIRECTIONS:
                direction = n
    return direction in ("sendonly", "inactive")


def _session_id() -> str:
    return str(int.from_bytes(os.urandom(4), "big"))


def create_offer(
    address: str,
    port: int,
    *,
    codecs: Iterable[str] = ("PCMU", "PCMA"),
    telephone_event: bool = True,
    telephone_event_pt: int = 101,
    direction: str = "sendrecv",
    session_id: str | None = None,
    ptime: int = 20,
) -> SessionDescription:
    """An audio offer for our media address (G.711 static payloads + telephone-event)."""
    formats: list[str] = []
    attrs: list[Attribute] = []
    for c in codecs:
        pt = _STATIC_BY_NAME.get(c.upper())
        if pt is None:
            raise ValueError(f"no static payload type for {c!r}")
        formats.append(str(pt))
        attrs.append(("rtpmap", f"{pt} {STATIC_PAYLOADS[pt]}"))
    if telephone_event:
        formats.append(str(telephone_event_pt))
        attrs.append(("rtpmap", f"{telephone_event_pt} telephone-event/8000"))
        attrs.append(("fmtp", f"{telephone_event_pt} 0-16"))
    attrs.append(("ptime", str(ptime)))
    attrs.append((direction, None))
    sid = session_id or _session_id()
    m = MediaDescription("audio", port, "RTP/AVP", formats, None, attrs)
    return SessionDescription(
        Origin("softswitch", sid, sid, "IN", _addrtype(address), address),
        "softswitch", address, [m],
    )


def create_answer(
    offer: SessionDescription,
    address: str,
    port: int,
    *,
    codecs: Iterable[str] = ("PCMU", "PCMA"),
    telephone_event: bool = True,
    direction: str | None = None,
    session_id: str | None = None,
) -> SessionDescription | None:
    """RFC 3264 §6.1 answer to `offer` for our media `address`/`port`, or None when no audio
    codec is common (the TU answers 488). `direction` overrides the mirrored direction."""
    wanted = {c.upper() for c in codecs}
    sid = session_id or _session_id()
    answer = SessionDescription(
        Origin("softswitch", sid, sid, "IN", _addrtype(address), address),
        "softswitch", address,
    )
    chosen_audio = False
    for m in offer.media:
        if chosen_audio or m.media != "audio" or m.port == 0 or "RTP/AVP" not in m.proto:
            answer.media.append(MediaDescription(m.media, 0, m.proto, list(m.formats)))
            continue
        rtpmap = m.rtpmap
        formats: list[str] = []
        attrs: list[Attribute] = []
        te_pt: int | None = None
        for f in m.formats:
            pt = _payload_type(f)
            if pt is None:
                continue
            enc = rtpmap.get(pt)
            if enc is None:
                continue
            name = enc.encoding.upper()
            if name in wanted and enc.clock_rate == 8000:
                formats.append(f)
                attrs.append(("rtpmap", f"{pt} {enc}"))
            elif name == "TELEPHONE-EVENT" and telephone_event and enc.clock_rate == 8000 and (
                    te_pt is None):
                te_pt = pt
        if not formats:
            answer.media.append(MediaDescription(m.media, 0, m.proto, list(m.formats)))
            continue
        if te_pt is not None:
            formats.append(str(te_pt))
            attrs.append(("rtpmap", f"{te_pt} telephone-event/8000"))
            attrs.append(("fmtp", f"{te_pt} 0-16"))
        ptime = m.ptime
        if ptime:
            attrs.append(("ptime", str(ptime)))
        offered_dir = m.direction
        if not any(n in _DIRECTIONS for n, _ in m.attributes):
            for n, _v in offer.attributes:
                if n in _DIRECTIONS:
                    offered_dir = n
        if _media_address(offer, m) == "0.0.0.0":
            offered_dir = "sendonly"
        attrs.append((direction or _ANSWER_DIRECTION[offered_dir], None))
        answer.media.append(MediaDescription("audio", port, m.proto, formats, None, attrs))
        chosen_audio = True
    if not chosen_audio:
        return None
    return answer


def anchor(sdp: SessionDescription, address: str, port: int) -> SessionDescription:
    """A copy of `sdp` with the connection address(es), origin address and the audio port
    rewritten to our relay (media anchoring); rejected streams stay rejected. An RFC 2543
    hold (c=0.0.0.0) becomes a=sendonly (inactive if it was recvonly) so the far side still
    sees the hold through the relay."""
    out = sdp.copy()
    out.origin.address = address
    out.origin.addrtype = _addrtype(address)
    first = True
    for m in out.media:
        if m.media == "audio" and m.port != 0 and first:
            first = False
            if _media_address(out, m) == "0.0.0.0":
                m.direction = "inactive" if m.direction in ("recvonly", "inactive") else (
                    "sendonly")
            m.port = port
        if m.connection is not None:
            m.connection = address
    if out.connection is not None or any(m.connection is None for m in out.media):
        out.connection = address
    return out
