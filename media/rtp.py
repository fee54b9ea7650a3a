"""RTP and RTCP sessions without I/O (RFC 3550; audio profile RFC 3551).

Nothing here touches a socket or a clock: the asyncio shell (``media.engine``) hands every
datagram in with the arrival time ``now`` (seconds, monotonic) and sends what these objects
return. Three pieces:

* :class:`SourceStatistics` -- receiver-side bookkeeping for one remote synchronisation
  source: sequence validation with probation, wrap-around and restart (RFC 3550 A.1),
  expected/lost counts and the loss fraction of a reception report (A.3), interarrival jitter
  (A.8).
* :class:`OutboundStream` -- the sending side of one leg. A leg keeps ONE SSRC towards its
  phone for the whole call although what it sends changes (relayed audio from the other
  party, whose SSRC may change after a re-INVITE, a prompt, music, a conference mix). On each
  change of source the sequence number simply continues and the timestamp advances by the
  wall time elapsed, and the marker bit is set (RFC 3551 §4.1), so the phone's jitter buffer
  sees one continuous stream.
* :class:`RtpSession` -- one leg: remote address from SDP plus symmetric-RTP latching (the
  leg sends to where the phone's packets actually come from, RFC 4961 / NAT), receive stats
  across SSRC changes, RTCP sender/receiver reports on a timer (``next_deadline``).

Decision (latching): a leg latches to the source address of the first RTP packet after each
``set_remote`` (until then it sends to the SDP address, or keeps the latched one when the SDP
address did not change). Later packets from another address are dropped and counted in
``foreign_packets``, except that a packet carrying the SSRC of the latched stream re-latches
(a NAT binding that moved mid-call); nothing else can steal the stream.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Final

RTP_VERSION: Final = 2
CLOCK_RATE: Final = 8000  # G.711 and telephone-event clock (RFC 3551 §4.5.14, RFC 4733 §2.1)
SAMPLES_PER_FRAME: Final = 160  # 20 ms ptime
RTP_SEQ_MOD: Final = 1 << 16
MAX_DROPOUT: Final = 3000
MAX_MISORDER: Final = 100
MIN_SEQUENTIAL: Final = 2
RTCP_INTERVAL: Final = 5.0  # RFC 3550 §6.2: the recommended minimum interval

_HEADER = struct.Struct("!BBHII")
_NTP_EPOCH_OFFSET: Final = 2208988800  # seconds from 1900-01-01 to 1970-01-01


class RtpError(ValueError):
    """A datagram that is not a valid RTP or RTCP packet."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """A parsed RTP packet (RFC 3550 §5.1). ``payload`` excludes CSRCs, extension, padding."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()

    def __bytes__(self) -> bytes:
        first = (RTP_VERSION << 6) | len(self.csrcs)
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        head = _HEADER.pack(first, second, self.sequence_number & 0xFFFF,
                            self.timestamp & 0xFFFFFFFF, self.ssrc)
        return head + b"".join(struct.pack("!I", c) for c in self.csrcs) + self.payload


def payload_offset(data: bytes) -> tuple[int, int]:
    """Start and end of the payload in an RTP datagram, skipping CSRCs, extension, padding.

    Raises :class:`RtpError` for anything RFC 3550 §5.1 / A.1 says to discard.
    """
    n = len(data)
    if n < 12:
        raise RtpError(f"RTP packet too short ({n} bytes)")
    first = data[0]
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}, expected 2")
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if n < start + 4:
            raise RtpError("RTP header extension truncated")
        start += 4 + 4 * int.from_bytes(data[start + 2:start + 4], "big")
    end = n
    if first & 0x20:
        pad = data[-1]
        if pad == 0 or pad > n - start:
            raise RtpError("RTP padding length invalid")
        end -= pad
    if start > end:
        raise RtpError("RTP header longer than the packet")
    return start, end


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse and validate one RTP datagram."""
    start, end = payload_offset(data)
    first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
    cc = first & 0x0F
    csrcs = struct.unpack_from(f"!{cc}I", data, 12) if cc else ()
    return RtpPacket(second & 0x7F, seq, ts, ssrc, bytes(data[start:end]), bool(second & 0x80),
                     tuple(csrcs))


def looks_like_rtcp(data: bytes) -> bool:
    """RFC 5761 §4 demultiplexing rule: RTCP packet types 192-223 in the second octet."""
    return len(data) >= 8 and 192 <= data[1] <= 223


# --------------------------------------------------------------------------------- receiving


class SourceStatistics:
    """Reception statistics for one SSRC, RFC 3550 Appendix A.1, A.3 and A.8."""

    __slots__ = ("ssrc", "max_seq", "cycles", "base_seq", "bad_seq", "probation", "received",
                 "expected_prior", "received_prior", "transit", "jitter", "octets",
                 "last_arrival")

    def __init__(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self._init_seq(seq)
        self.max_seq = (seq - 1) & 0xFFFF
        self.probation = MIN_SEQUENTIAL
        self.transit: int | None = None
        self.jitter = 0.0
        self.octets = 0
        self.last_arrival = 0.0

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update_seq(self, seq: int) -> bool:
        """A.1 ``update_seq``: True when the packet counts as valid for statistics."""
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                # Two sequential packets after a jump: the source restarted (A.1).
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted below
        self.received += 1
        return True

    def update_jitter(self, rtp_timestamp: int, arrival_units: int) -> None:
        """A.8: interarrival jitter in timestamp units."""
        transit = (arrival_units - rtp_timestamp) & 0xFFFFFFFF
        if transit >= 1 << 31:
            transit -= 1 << 32
        if self.transit is not None:
            d = abs(transit - self.transit)
            if d < 1 << 16:  # a timestamp jump (the sender changed its base) is not jitter
                self.jitter += (d - self.jitter) / 16.0
        self.transit = transit

    @property
    def extended_max_seq(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        if self.probation:
            return 0
        return self.extended_max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (A.3); negative with duplicates, clamped to 24-bit signed."""
        return max(-0x800000, min(0x7FFFFF, self.expected - self.received))

    def fraction_lost_since_last_report(self) -> int:
        """A.3: the 8-bit loss fraction over the last report interval; resets the interval."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval


# --------------------------------------------------------------------------------- sending


class OutboundStream:
    """The RTP stream a leg sends to its phone: one SSRC, continuous seq and timestamp.

    ``source`` is any hashable naming what feeds the stream right now (``("relay", ssrc)``,
    ``"player"``, ``("moh", name)``...). ``header_for_relay`` maps an incoming packet's
    sequence/timestamp into this stream; ``header_for_local`` numbers locally generated frames.
    """

    __slots__ = ("ssrc", "seq", "timestamp", "last_sent", "source", "seq_offset", "ts_offset",
                 "packets", "octets", "_new_source")

    def __init__(self, ssrc: int | None = None, seq: int | None = None,
                 timestamp: int | None = None) -> None:
        rnd = os.urandom(10)
        # RFC 3550 §5.1: random initial SSRC, sequence number and timestamp.
        self.ssrc = ssrc if ssrc is not None else int.from_bytes(rnd[:4], "big")
        self.seq = (seq if seq is not None else int.from_bytes(rnd[4:6], "big")) & 0xFFFF
        self.timestamp = (timestamp if timestamp is not None
                          else int.from_bytes(rnd[6:10], "big")) & 0xFFFFFFFF
        self.last_sent: float | None = None  # time the last packet went out
        self.source: object = None
        self.seq_offset = 0
        self.ts_offset = 0
        self.packets = 0
        self.octets = 0
        self._new_source = True

    def _advance_for_gap(self, now: float) -> tuple[int, int]:
        """Next (seq, ts) after the last packet sent, the timestamp following the wall clock."""
        if self.last_sent is None:
            return (self.seq + 1) & 0xFFFF, self.timestamp
        elapsed = round((now - self.last_sent) * CLOCK_RATE)
        step = max(SAMPLES_PER_FRAME, elapsed)
        return (self.seq + 1) & 0xFFFF, (self.timestamp + step) & 0xFFFFFFFF

    def header_for_relay(self, source: object, seq: int, ts: int, marker: bool,
                         now: float) -> tuple[int, int, bool]:
        """(seq, timestamp, marker) to send for a relayed packet from ``source``."""
        if source != self.source:
            next_seq, next_ts = self._advance_for_gap(now)
            self.seq_offset = (next_seq - seq) & 0xFFFF
            self.ts_offset = (next_ts - ts) & 0xFFFFFFFF
            self.source = source
            marker = True
        out_seq = (seq + self.seq_offset) & 0xFFFF
        out_ts = (ts + self.ts_offset) & 0xFFFFFFFF
        # Only move the high-water mark forward: a reordered packet keeps its place.
        if ((out_seq - self.seq) & 0xFFFF) < 0x8000:
            self.seq = out_seq
            self.timestamp = out_ts
        self.last_sent = now
        return out_seq, out_ts, marker

    def header_for_local(self, source: object, now: float,
                         samples: int = SAMPLES_PER_FRAME) -> tuple[int, int, bool]:
        """(seq, timestamp, marker) for a locally generated frame of ``samples`` samples."""
        marker = False
        if source != self.source:
            self.seq, self.timestamp = self._advance_for_gap(now)
            self.source = source
            marker = True
        else:
            self.seq = (self.seq + 1) & 0xFFFF
            self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        self.last_sent = now
        return self.seq, self.timestamp, marker

    def count(self, payload_octets: int) -> None:
        self.packets += 1
        self.octets += payload_octets


# --------------------------------------------------------------------------------- RTCP


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    extended_highest_seq: int
    jitter: int
    last_sr: int = 0
    delay_since_last_sr: int = 0


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


_RB = struct.Struct("!IB3sIIII")


def _pack_block(b: ReportBlock) -> bytes:
    lost = b.cumulative_lost & 0xFFFFFF
    return _RB.pack(b.ssrc, b.fraction_lost, lost.to_bytes(3, "big"), b.extended_highest_seq,
                    b.jitter, b.last_sr, b.delay_since_last_sr)


def build_rtcp(report: SenderReport | ReceiverReport, cname: str) -> bytes:
    """A compound RTCP packet: SR or RR followed by SDES with CNAME (RFC 3550 §6.1)."""
    blocks = b"".join(_pack_block(b) for b in report.reports)
    rc = len(report.reports)
    if isinstance(report, SenderReport):
        body = struct.pack("!IIIII", report.ssrc, report.ntp_timestamp >> 32,
                           report.ntp_timestamp & 0xFFFFFFFF, report.rtp_timestamp & 0xFFFFFFFF,
                           report.packet_count & 0xFFFFFFFF) + struct.pack(
                               "!I", report.octet_count & 0xFFFFFFFF) + blocks
        pt = 200
    else:
        body = struct.pack("!I", report.ssrc) + blocks
        pt = 201
    head = struct.pack("!BBH", 0x80 | rc, pt, len(body) // 4)
    name = cname.encode()[:255]
    item = bytes([1, len(name)]) + name + b"\x00"
    item += b"\x00" * (-len(item) % 4)
    sdes = struct.pack("!I", report.ssrc) + item
    sdes_head = struct.pack("!BBH", 0x81, 202, len(sdes) // 4)
    return head + body + sdes_head + sdes


def parse_rtcp(data: bytes) -> list[SenderReport | ReceiverReport]:
    """Parse the SR and RR packets of a compound RTCP datagram; other types are skipped."""
    out: list[SenderReport | ReceiverReport] = []
    pos = 0
    if len(data) < 4:
        raise RtpError("RTCP packet too short")
    while pos + 4 <= len(data):
        first, pt, length = struct.unpack_from("!BBH", data, pos)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTCP version {first >> 6}, expected 2")
        end = pos + 4 + 4 * length
        if end > len(data):
            raise RtpError("RTCP length beyond the datagram")
        rc = first & 0x1F
        if pt in (200, 201):
            off = pos + 4
            (ssrc,) = struct.unpack_from("!I", data, off)
            off += 4
            sr_info: tuple[int, ...] = ()
            if pt == 200:
                sr_info = struct.unpack_from("!IIIII", data, off)
                off += 20
            blocks = []
            for _ in range(rc):
                if off + 24 > end:
                    raise RtpError("RTCP report block truncated")
                s, frac, lost3, ehs, jit, lsr, dlsr = _RB.unpack_from(data, off)
                lost = int.from_bytes(lost3, "big")
                if lost & 0x800000:
                    lost -= 1 << 24
                blocks.append(ReportBlock(s, frac, lost, ehs, jit, lsr, dlsr))
                off += 24
            if pt == 200:
                ntp = (sr_info[0] << 32) | sr_info[1]
                out.append(SenderReport(ssrc, ntp, sr_info[2], sr_info[3], sr_info[4],
                                        tuple(blocks)))
            else:
                out.append(ReceiverReport(ssrc, tuple(blocks)))
        pos = end
    return out


def ntp_timestamp(wallclock: float) -> int:
    """64-bit NTP timestamp for a Unix time (RFC 3550 §4)."""
    seconds = int(wallclock) + _NTP_EPOCH_OFFSET
    fraction = int((wallclock % 1.0) * (1 << 32))
    return ((seconds & 0xFFFFFFFF) << 32) | fraction


# --------------------------------------------------------------------------------- session


@dataclass(slots=True)
class LegStatistics:
    """What a leg reports for the call record (RFC 3550 §6.4 quantities, summed over SSRCs)."""

    packets_received: int = 0
    octets_received: int = 0
    packets_sent: int = 0
    octets_sent: int = 0
    packets_lost: int = 0
    jitter_ms: float = 0.0
    max_jitter_ms: float = 0.0
    ssrc_changes: int = 0
    foreign_packets: int = 0
    malformed_packets: int = 0
    remote_loss_fraction: float = 0.0  # from the phone's own RTCP reports about us
    remote_jitter_ms: float = 0.0
    rtcp_received: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_record(self) -> dict[str, float | int]:
        """Flat mapping for the call record / CDR row."""
        return {
            "packets_received": self.packets_received,
            "octets_received": self.octets_received,
            "packets_sent": self.packets_sent,
            "octets_sent": self.octets_sent,
            "packets_lost": self.packets_lost,
            "jitter_ms": round(self.jitter_ms, 3),
            "max_jitter_ms": round(self.max_jitter_ms, 3),
            "ssrc_changes": self.ssrc_changes,
            "foreign_packets": self.foreign_packets,
            "malformed_packets": self.malformed_packets,
            "remote_loss_fraction": round(self.remote_loss_fraction, 4),
            "remote_jitter_ms": round(self.remote_jitter_ms, 3),
        }


class RtpSession:
    """One call leg's RTP/RTCP state (RFC 3550), symmetric RTP latching (RFC 4961).

    Inputs: :meth:`set_remote`, :meth:`accept` (per RTP datagram), :meth:`handle_rtcp`,
    :meth:`rtcp_report` when :meth:`next_deadline` is reached. Outputs: the address to send to
    (:attr:`send_address`), the verdict per datagram, RTCP bytes.
    """

    def __init__(self, cname: str, outbound: OutboundStream | None = None) -> None:
        self.cname = cname
        self.outbound = outbound or OutboundStream()
        self.sdp_address: tuple[str, int] | None = None
        self.send_address: tuple[str, int] | None = None
        self.rtcp_address: tuple[str, int] | None = None
        self.latched = False
        self.source: SourceStatistics | None = None
        self._retired_lost = 0
        self._packets = 0
        self._octets = 0
        self.stats = LegStatistics()
        self._next_rtcp: float | None = None
        self._last_sr_ntp_middle = 0
        self._last_sr_arrival: float | None = None

    # -- configuration ---------------------------------------------------------------------
    def set_remote(self, address: tuple[str, int] | None) -> None:
        """Address from the remote SDP (c= and m=). None until known.

        Latching is re-armed either way (the phone may have restarted its stream behind a
        NAT). With the same address again (a hold/unhold re-INVITE) media keeps going to the
        latched address until the next packet shows where the phone is now, so a phone
        behind NAT does not lose media meanwhile.
        """
        if address is not None and address == self.sdp_address and self.latched:
            self.latched = False
            return
        self.sdp_address = address
        self.send_address = address
        self.rtcp_address = (address[0], address[1] + 1) if address else None
        self.latched = False

    # -- receiving -------------------------------------------------------------------------
    def accept(self, ssrc: int, seq: int, ts: int, octets: int, addr: tuple[str, int],
               now: float) -> bool:
        """Account one RTP packet; False when it must be dropped (foreign source).

        The caller has already checked the version and length (``payload_offset``).
        """
        src = self.source
        if not self.latched:
            self.latched = True
            self.send_address = addr
            self.rtcp_address = (addr[0], addr[1] + 1)
        elif addr != self.send_address:
            if src is None or ssrc != src.ssrc:
                self.stats.foreign_packets += 1
                return False
            self.send_address = addr  # same stream, new NAT binding
            self.rtcp_address = (addr[0], addr[1] + 1)
        if src is None or ssrc != src.ssrc:
            if src is not None:
                self._retire(src)
                self.stats.ssrc_changes += 1
            src = self.source = SourceStatistics(ssrc, seq)
            if self._next_rtcp is None:
                self._next_rtcp = now + RTCP_INTERVAL
        self._packets += 1
        self._octets += octets
        src.update_seq(seq)
        src.update_jitter(ts, int(now * CLOCK_RATE))
        src.octets += octets
        src.last_arrival = now
        return True

    def _retire(self, src: SourceStatistics) -> None:
        self._retired_lost += max(0, src.lost)

    def note_malformed(self) -> None:
        self.stats.malformed_packets += 1

    # -- RTCP ------------------------------------------------------------------------------
    def handle_rtcp(self, data: bytes, now: float, addr: tuple[str, int] | None = None) -> (
            list[SenderReport | ReceiverReport]):
        """Take the phone's RTCP: keep LSR/DLSR data and what it says about our stream.

        Symmetric RTCP (RFC 4961): once a valid report arrives from the host the RTP stream is
        latched to, our reports go back to that exact address (NAT-safe).
        """
        reports = parse_rtcp(data)
        self.stats.rtcp_received += 1
        if (addr is not None and self.send_address is not None
                and addr[0] == self.send_address[0]):
            self.rtcp_address = addr
        for r in reports:
            if isinstance(r, SenderReport):
                self._last_sr_ntp_middle = (r.ntp_timestamp >> 16) & 0xFFFFFFFF
                self._last_sr_arrival = now
            for block in r.reports:
                if block.ssrc == self.outbound.ssrc:
                    self.stats.remote_loss_fraction = block.fraction_lost / 256.0
                    self.stats.remote_jitter_ms = block.jitter * 1000.0 / CLOCK_RATE
        return reports

    def next_deadline(self) -> float | None:
        """When the next RTCP report is due (None before any media)."""
        return self._next_rtcp

    def rtcp_report(self, now: float, wallclock: float) -> bytes | None:
        """The compound SR/RR due at ``now`` (RFC 3550 §6.4), or None when not due."""
        if self._next_rtcp is None or now < self._next_rtcp:
            return None
        self._next_rtcp = now + RTCP_INTERVAL
        blocks: tuple[ReportBlock, ...] = ()
        src = self.source
        if src is not None:
            dlsr = 0
            if self._last_sr_arrival is not None:
                dlsr = int((now - self._last_sr_arrival) * 65536)
            blocks = (ReportBlock(
                src.ssrc, src.fraction_lost_since_last_report(), src.lost,
                src.extended_max_seq & 0xFFFFFFFF, int(src.jitter),
                self._last_sr_ntp_middle, dlsr),)
            self.stats.max_jitter_ms = max(self.stats.max_jitter_ms,
                                           src.jitter * 1000.0 / CLOCK_RATE)
        out = self.outbound
        report: SenderReport | ReceiverReport
        if out.packets:
            report = SenderReport(out.ssrc, ntp_timestamp(wallclock), out.timestamp, out.packets,
                                  out.octets, blocks)
        else:
            report = ReceiverReport(out.ssrc, blocks)
        return build_rtcp(report, self.cname)

    # -- statistics ------------------------------------------------------------------------
    def snapshot(self) -> LegStatistics:
        """Statistics summed over every SSRC this leg received (for the call record)."""
        s = self.stats
        src = self.source
        s.packets_received = self._packets
        s.octets_received = self._octets
        s.packets_lost = self._retired_lost + (max(0, src.lost) if src else 0)
        s.packets_sent = self.outbound.packets
        s.octets_sent = self.outbound.octets
        if src is not None:
            s.jitter_ms = src.jitter * 1000.0 / CLOCK_RATE
            s.max_jitter_ms = max(s.max_jitter_ms, s.jitter_ms)
        return s
