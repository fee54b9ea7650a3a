"""The asyncio shell around the sans-IO media cores: sockets, the 20 ms clock, legs, bridges.

See the package docstring (``media/__init__.py``) for the API the call layer uses.

Hot path (relay, DESIGN.md principle 5): every leg's RTP socket is in one epoll set read by a
single asyncio reader callback (one DatagramProtocol per leg where epoll is missing); per
packet ``MediaLeg._on_rtp`` parses the 12-byte header with one ``struct`` call, accounts the packet
in the leg's :class:`media.rtp.RtpSession`, rewrites the header into the other leg's outbound
stream and sends it straight on the socket; when the two legs chose different laws the payload
goes through a 256-byte ``bytes.translate`` table. Nothing is decoded unless a consumer of
linear audio (in-band DTMF detection, recorder, conference) is attached to the leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import select
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import structlog

from media import g711
from media.dtmf import (
    DtmfError,
    GoertzelDetector,
    TelephoneEventReceiver,
    digit_to_event,
    dtmf_tone,
    parse_info_body,
    parse_red,
    telephone_event_frames,
)
from media.events import DigitEntry, DtmfDigit, DtmfSource, PlaybackOutcome
from media.frames import FrameQueue
from media.g711 import Codec
from media.mixer import Role, hearing_matrix, mix
from media.player import FrameSource, Loop, PromptError, PromptLibrary
from media.recorder import ChannelRecorder, RecordingError
from media.rtp import RtpError, RtpSession, payload_offset

log = structlog.get_logger("media")

PTIME: Final = 0.020
FRAME_SAMPLES: Final = 160
_HDR = struct.Struct("!BBHII")
# Each playback names itself in its leg's outbound stream by a serial number, not by the
# Playback object: the stream outlives the playback, and Playback -> leg -> stream ->
# Playback would be a reference cycle left for the cyclic GC after every prompt.
_playback_serial = itertools.count(1)
_SEQ_TS_SSRC = struct.Struct("!HII")

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
# Put in a leg's digit queue when it closes, so every reader wakes up and stops.
_LEG_CLOSED: Final = DtmfDigit("", DtmfSource.INFO, 0, 0.0)
_MAX_QUEUED_DIGITS: Final = 64


class MediaError(Exception):
    """Base class of errors the media engine reports to the call layer."""


class PortRangeExhausted(MediaError):
    """No even/odd port pair of the configured RTP range could be bound."""


class LegClosed(MediaError):
    """The leg was closed; it can no longer be used."""


class _RtpProtocol(asyncio.DatagramProtocol):
    __slots__ = ("leg",)

    def __init__(self, leg: MediaLeg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.leg._on_rtp(data, addr, self.leg._time())

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a phone that went away: count it, keep the leg.
        self.leg._send_errors += 1


class _RtcpProtocol(asyncio.DatagramProtocol):
    def __init__(self, leg: MediaLeg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.leg._on_rtcp(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.leg._send_errors += 1


class MediaLeg:
    """One call leg's media: an even RTP port and the RTCP port above it (RFC 3550 §11).

    Created by :meth:`MediaEngine.open_leg`; configured from SDP with :meth:`set_remote`.
    """

    def __init__(self, engine: MediaEngine, label: str, host: str, port: int,
                 rtp_sock: socket.socket, rtcp_sock: socket.socket) -> None:
        self.engine = engine
        self.label = label
        self.local_host = host
        self.local_port = port
        self.session = RtpSession(cname=f"{label}@{host}")
        self.codec: Codec = Codec.PCMU
        self.payload_type = 0
        self.telephone_event_pt: int | None = None
        self.red_pt: int | None = None
        self.direction: Direction = "sendrecv"
        self.peer: MediaLeg | None = None
        self.closed = False
        # What the leg hears instead of the bridged party: a playback, music, a conference
        # (in that order of precedence; see _refresh_feed).
        self.feed: object | None = None
        self._playback: Playback | None = None
        self._music: MusicStream | None = None
        self._conference: Conference | None = None
        self._xlate: bytes | None = None  # translate table from my law to the peer's
        self._echo = False
        self._relay_key = id(self) << 32
        self._rtp_sock = rtp_sock
        self._rtcp_sock = rtcp_sock
        self._rtp_transport: asyncio.DatagramTransport | None = None
        self._rtcp_transport: asyncio.DatagramTransport | None = None
        self._te_rx = TelephoneEventReceiver()
        self._inband: GoertzelDetector | None = None
        self._dtmf_queue: asyncio.Queue[DtmfDigit] = asyncio.Queue()
        self._dtmf_callbacks: list[Callable[[DtmfDigit], None]] = []
        self._audio_consumers: list[Callable[[MediaLeg, bytes, float], None]] = []
        self._dtmf_out: list[Any] = []  # pending telephone-event frames / in-band tones
        self._dtmf_event_ts: int | None = None
        self._send_errors = 0
        self._recordings: list[Recording] = []  # recordings this leg is in
        self._txbuf = bytearray(12 + FRAME_SAMPLES)
        self._time = engine._loop_time

    # -- configuration from SDP ----------------------------------------------------------
    def set_remote(self, addr: tuple[str, int] | None, payload_type: int,
                   codec: str | Codec, telephone_event_pt: int | None = None, *,
                   red_pt: int | None = None) -> None:
        """Apply the negotiated SDP (RFC 3264): where to send, which payload types.

        ``addr`` may be None (e.g. an offer with c=0.0.0.0 or not yet known): the leg then
        sends only after latching to the phone's first packet (symmetric RTP).
        ``red_pt``: the RFC 2198 "red" payload type when the phone sends telephone-events
        with redundancy (RFC 4733 §2.6).
        """
        self._check_open()
        codec = codec if isinstance(codec, Codec) else g711.codec_from_name(codec)
        if not 0 <= payload_type <= 127:
            raise ValueError(f"payload type {payload_type} outside 0-127")
        if telephone_event_pt is not None and not 96 <= telephone_event_pt <= 127:
            raise ValueError(f"telephone-event payload type {telephone_event_pt} is not dynamic "
                             "(96-127, RFC 3551 §3)")
        self.session.set_remote(addr)
        self.codec = codec
        self.payload_type = payload_type
        self.telephone_event_pt = telephone_event_pt
        self.red_pt = red_pt
        # In-band detection is the fallback for phones that do not send RFC 4733 events.
        self._inband = GoertzelDetector() if telephone_event_pt is None else None
        self.engine._recompute_translation(self)

    def set_echo(self, on: bool) -> None:
        """Echo test (``*43``): send the phone's own audio and RFC 4733 events straight back
        (instead of relaying them to a bridged party)."""
        self._check_open()
        self._echo = on

    def set_hold(self, on: bool) -> None:
        """The phone put us on hold (its SDP said sendonly) or resumed: while held, nothing is
        sent to it; what it sends (its own hold music, if any) is still received and relayed.
        """
        self.set_direction("recvonly" if on else "sendrecv")

    def set_direction(self, direction: Direction) -> None:
        """Our side's SDP direction attribute (RFC 3264 §6.1): ``recvonly`` / ``inactive`` stop
        sending to the phone; ``sendonly`` / ``inactive`` ignore what it sends."""
        if direction not in ("sendrecv", "sendonly", "recvonly", "inactive"):
            raise ValueError(f"unknown SDP direction {direction!r}")
        self.direction = direction

    @property
    def on_hold(self) -> bool:
        return self.direction in ("recvonly", "inactive")

    @property
    def remote_address(self) -> tuple[str, int] | None:
        """Where this leg sends RTP: the latched source, else the SDP address."""
        return self.session.send_address

    @property
    def stats(self) -> dict[str, float | int]:
        """RTP statistics for the call record (RFC 3550 §6.4 quantities)."""
        s = self.session.snapshot()
        rec = s.as_record()
        rec["send_errors"] = self._send_errors
        return rec

    # -- DTMF ----------------------------------------------------------------------------
    def on_dtmf(self, callback: Callable[[DtmfDigit], None]) -> None:
        """Call ``callback(digit)`` for every key press (RFC 4733, in-band or INFO)."""
        self._dtmf_callbacks.append(callback)

    async def dtmf_events(self) -> AsyncIterator[DtmfDigit]:
        """Async iterator over key presses; ends when the leg closes."""
        while not self.closed or not self._dtmf_queue.empty():
            if self.closed and self._dtmf_queue.empty():
                return
            digit = await self._dtmf_queue.get()
            if digit.digit == "":  # the close sentinel: leave it for other readers
                self._dtmf_queue.put_nowait(digit)
                return
            yield digit

    async def next_digit(self, timeout: float | None = None) -> DtmfDigit | None:
        """The next key press, or None on timeout / close."""
        try:
            digit = await asyncio.wait_for(self._dtmf_queue.get(), timeout)
        except TimeoutError:
            return None
        if digit.digit == "":
            self._dtmf_queue.put_nowait(digit)  # closed: every later call returns at once
            return None
        return digit

    def flush_digits(self) -> int:
        """Forget key presses not yet consumed (before asking the caller for input)."""
        n = 0
        while not self._dtmf_queue.empty():
            if self._dtmf_queue.get_nowait().digit == "":
                self._dtmf_queue.put_nowait(_LEG_CLOSED)
                break
            n += 1
        return n

    async def collect_digits(self, max_digits: int | None = None, *,
                             terminator: str | None = "#", first_timeout: float = 10.0,
                             inter_digit_timeout: float = 5.0) -> DigitEntry:
        """Gather an entry ("enter your callback number followed by the pound key").

        Stops at ``terminator`` (not included), at ``max_digits``, when no key comes within
        ``first_timeout`` (first key) / ``inter_digit_timeout`` (next keys), or when the leg
        closes. A digit that interrupted a prompt is the first digit of the entry.
        """
        if max_digits is not None and max_digits < 1:
            raise ValueError("max_digits must be >= 1")
        digits = ""
        while True:
            timeout = first_timeout if not digits else inter_digit_timeout
            try:
                d = self._dtmf_queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    d = await asyncio.wait_for(self._dtmf_queue.get(), timeout)
                except TimeoutError:
                    return DigitEntry(digits, "timeout")
            if d.digit == "":
                self._dtmf_queue.put_nowait(d)  # keep the close sentinel for other readers
                return DigitEntry(digits, "closed")
            if terminator is not None and d.digit == terminator:
                return DigitEntry(digits, "terminator")
            digits += d.digit
            if max_digits is not None and len(digits) >= max_digits:
                return DigitEntry(digits, "max_digits")

    def receive_info_dtmf(self, content_type: str, body: str) -> DtmfDigit:
        """Feed a SIP INFO (application/dtmf-relay or application/dtmf) received on this
        leg's dialog; the digit is reported like any other. Raises DtmfError on bad bodies."""
        digit = parse_info_body(content_type, body, self._time())
        self._emit_dtmf(digit)
        return digit

    def send_dtmf(self, digits: str, duration_ms: int = 100) -> None:
        """Send key presses to the phone: RFC 4733 events when negotiated, else tones.
        Raises DtmfError (nothing queued) if any character is not a DTMF digit."""
        self._check_open()
        for d in digits:
            digit_to_event(d)
        for d in digits:
            if self.telephone_event_pt is not None:
                self._dtmf_out.extend(telephone_event_frames(d, duration_ms))
                self._dtmf_out.extend([None, None])  # 40 ms pause between digits
            else:
                tone = dtmf_tone(d, duration_ms)
                for i in range(0, len(tone), FRAME_SAMPLES):
                    frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
                    chunk = tone[i:i + FRAME_SAMPLES]
                    frame[: len(chunk)] = chunk
                    self._dtmf_out.append(frame)
                self._dtmf_out.extend([np.zeros(FRAME_SAMPLES, dtype=np.int16)] * 2)
        if self._dtmf_out:
            self.engine._dtmf_senders.add(self)

    def _emit_dtmf(self, digit: DtmfDigit) -> None:
        if not digit.leg:
            digit = DtmfDigit(digit.digit, digit.source, digit.duration_ms, digit.at, self.label)
        log.debug("dtmf", leg=self.label, digit=digit.digit, source=digit.source.value)
        if self._dtmf_queue.qsize() >= _MAX_QUEUED_DIGITS:
            self._dtmf_queue.get_nowait()  # nobody reads them: keep only the latest presses
        self._dtmf_queue.put_nowait(digit)
        for cb in list(self._dtmf_callbacks):
            try:
                cb(digit)
            except Exception:  # the call layer's bug: log it, keep the media running
                log.exception("dtmf callback failed", leg=self.label)
        self.engine._digit_received(self, digit)

    # -- audio taps (recorder, mixer) --------------------------------------------------------
    def add_audio_consumer(self, consumer: Callable[[MediaLeg, bytes, float], None]) -> None:
        """Get every received audio payload (in this leg's law) with its arrival time."""
        self._audio_consumers.append(consumer)

    def remove_audio_consumer(self, consumer: Callable[[MediaLeg, bytes, float], None]) -> None:
        with contextlib.suppress(ValueError):
            self._audio_consumers.remove(consumer)

    # -- the hot path --------------------------------------------------------------------
    def _on_rtp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        b0 = data[0] if data else 0
        if len(data) < 12 or b0 & 0xC0 != 0x80:
            self.session.note_malformed()
            return
        if b0 & 0x3F:
            try:
                start, end = payload_offset(data)
            except RtpError:
                self.session.note_malformed()
                return
        else:
            start, end = 12, len(data)
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        if not self.session.accept(ssrc, seq, ts, end - start, addr, now):
            return
        if self.direction in ("sendonly", "inactive"):
            return
        b1 = data[1]
        pt = b1 & 0x7F
        if pt == self.payload_type:
            if self._inband is not None or self._audio_consumers:
                payload = data[start:end]
                for consumer in self._audio_consumers:
                    consumer(self, payload, now)
                if self._inband is not None:
                    for digit in self._inband.process(g711.decode(payload, self.codec), now):
                        self._emit_dtmf(digit)
            peer = self if self._echo else self.peer
            if peer is None or not peer._hears_relay or peer._dtmf_out:
                return
            payload = data[start:end]
            if self._xlate is not None and peer is not self:
                payload = payload.translate(self._xlate)
            peer._forward(self._relay_key + ssrc, seq, ts, bool(b1 & 0x80), peer.payload_type,
                          payload, now)
        elif pt == self.telephone_event_pt or (pt == self.red_pt and pt is not None):
            event = data[start:end]
            try:
                if pt == self.telephone_event_pt:
                    digits = self._te_rx.handle_packet(event, ts, now)
                else:
                    te_pt = self.telephone_event_pt if self.telephone_event_pt is not None else -1
                    digits = self._te_rx.handle_red_packet(event, ts, te_pt, now)
                    # What is relayed is the primary (newest) event block alone.
                    blocks = [b for p, t, b in parse_red(event, ts) if p == te_pt and t == ts]
                    event = blocks[-1] if blocks else b""
            except DtmfError:
                self.session.note_malformed()
                return
            if self._te_rx.next_deadline() is not None:
                self.engine._dtmf_pending.add(self)
            for digit in digits:
                self._emit_dtmf(digit)
            peer = self if self._echo else self.peer
            if (digits and peer is not None and peer.telephone_event_pt is None
                    and peer.feed is None):
                # The other phone did not negotiate RFC 4733: it hears the key as tones.
                for digit in digits:
                    peer.send_dtmf(digit.digit, max(digit.duration_ms, 80))
            # Relay the events themselves when the other phone negotiated them too.
            if (event and peer is not None and peer.telephone_event_pt is not None
                    and peer._hears_relay):
                peer._forward(self._relay_key + ssrc, seq, ts, bool(b1 & 0x80),
                              peer.telephone_event_pt, event, now)
        # else: comfort noise (PT 13) or a payload type not negotiated: counted, not relayed

    @property
    def _hears_relay(self) -> bool:
        """Relayed packets reach this leg's phone now (no feed, a destination, not held)."""
        return (self.feed is None and self.session.send_address is not None
                and self.direction not in ("recvonly", "inactive"))

    def _forward(self, source: int, seq: int, ts: int, marker: bool, payload_type: int,
                 payload: bytes, now: float) -> None:
        """Send a relayed payload in this leg's outbound stream (numbering rewritten)."""
        out = self.session.outbound
        oseq, ots, marker = out.header_for_relay(source, seq, ts, marker, now)
        self._send(_HDR.pack(0x80, (0x80 if marker else 0) | payload_type, oseq, ots,
                             out.ssrc) + payload, len(payload))

    def _send(self, packet: bytes | bytearray, payload_len: int) -> None:
        addr = self.session.send_address
        if addr is None:
            return
        try:
            self._rtp_sock.sendto(packet, addr)
        except (BlockingIOError, InterruptedError):
            # Socket buffer full: a late RTP packet is worthless, so drop rather than queue.
            self._send_errors += 1
            return
        except OSError:
            self._send_errors += 1
            return
        self.session.outbound.count(payload_len)

    def _send_local_frame(self, source: object, payload: bytes, now: float) -> None:
        """Send one locally generated 20 ms frame (prompt, music, mix) in this leg's law."""
        if self.session.send_address is None or self.direction in ("recvonly", "inactive"):
            return
        out = self.session.outbound
        seq, ts, marker = out.header_for_local(source, now)
        n = len(payload)
        buf = self._txbuf
        if len(buf) != 12 + n:
            buf = self._txbuf = bytearray(12 + n)
        _HDR.pack_into(buf, 0, 0x80, (0x80 if marker else 0) | self.payload_type, seq, ts,
                       out.ssrc)
        buf[12:] = payload
        self._send(buf, n)

    def _send_dtmf_tick(self, now: float) -> None:
        item = self._dtmf_out.pop(0)
        out = self.session.outbound
        if isinstance(item, tuple):
            payload, first, _end = item  # every packet of one event keeps its start ts
            seq, ts, marker = out.header_for_local(("dtmf", id(self)), now)
            if first or self._dtmf_event_ts is None:
                self._dtmf_event_ts = ts
            pt = self.telephone_event_pt if self.telephone_event_pt is not None else 101
            if self.session.send_address is not None:
                self._send(_HDR.pack(0x80, (0x80 if first else 0) | pt, seq,
                                     self._dtmf_event_ts, out.ssrc) + payload, len(payload))
        elif item is None:
            out.header_for_local(("dtmf", id(self)), now)  # a silent gap, timestamps advance
        else:
            self._send_local_frame(("dtmf", id(self)), g711.encode(item, self.codec), now)

    def _on_rtcp(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.session.handle_rtcp(data, self._time(), addr)
        except RtpError:
            self.session.note_malformed()

    def _rtcp_tick(self, now: float) -> None:
        report = self.session.rtcp_report(now, time.time())
        addr = self.session.rtcp_address
        if report is not None and addr is not None:
            try:
                self._rtcp_sock.sendto(report, addr)
            except OSError:
                self._send_errors += 1

    def _refresh_feed(self) -> None:
        self.feed = self._playback or self._music or self._conference

    @property
    def hearing(self) -> str:
        """What the leg hears now: 'playback', 'music', 'conference', 'bridge' or 'nothing'."""
        if self._playback is not None:
            return "playback"
        if self._music is not None:
            return "music"
        if self._conference is not None:
            return "conference"
        return "bridge" if self.peer is not None else "nothing"

    def _check_open(self) -> None:
        if self.closed:
            raise LegClosed(f"media leg {self.label!r} is closed")

    async def close(self) -> None:
        """Stop media, unbridge, release both ports. Idempotent."""
        if self.closed:
            return
        self.engine._forget_leg(self)
        self.closed = True
        self.engine._unwatch(self)
        for tr in (self._rtp_transport, self._rtcp_transport):
            if tr is not None:
                tr.close()
        self._rtp_sock.close()
        self._rtcp_sock.close()
        self._dtmf_queue.put_nowait(_LEG_CLOSED)
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"<MediaLeg {self.label} {self.local_host}:{self.local_port} {self.codec.value}>"


class MediaEngine:
    """Owns the RTP port range, the legs, the bridges and the 20 ms media clock."""

    def __init__(self, host: str, port_range: tuple[int, int], *, ptime: float = PTIME,
                 prompts_dir: str | Path | None = None) -> None:
        first, last = port_range
        if first > last or first < 1024 or last > 65535:
            raise ValueError(f"bad RTP port range {first}-{last} (need 1024 <= first <= last "
                             "<= 65535)")
        if (first + 1 if first % 2 else first) + 1 > last:
            raise ValueError(f"RTP port range {first}-{last} holds no even/odd port pair")
        if abs(ptime - PTIME) > 1e-9:
            # Frames, players and the mixer are built for 160 samples (RFC 3551 default).
            raise ValueError(f"ptime {ptime * 1000:g} ms: only 20 ms packetization is supported")
        self.host = host
        self.port_range = (first, last)
        self.ptime = ptime
        self._next_port = first + (first % 2)
        self._ports_in_use: set[int] = set()
        self.legs: dict[str, MediaLeg] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._dtmf_pending: set[MediaLeg] = set()
        self._dtmf_senders: set[MediaLeg] = set()
        self._digit_listeners: list[Callable[[MediaLeg, DtmfDigit], None]] = []
        self._tick_hooks: list[Callable[[int, float], None]] = []
        self._leg_close_hooks: list[Callable[[MediaLeg], None]] = []
        self.tick_count = 0
        self.late_ticks = 0
        self._rtcp_cursor = 0
        self._playbacks: dict[MediaLeg, Playback] = {}
        self.music_streams: dict[str, MusicStream] = {}
        self.conferences: dict[str, Conference] = {}
        self._recordings: dict[Recording, None] = {}  # running ones, in start order
        self._library: PromptLibrary | None = None
        self._library_dir: Path | None = Path(prompts_dir) if prompts_dir else None
        self._epoll: Any = select.epoll() if hasattr(select, "epoll") else None
        self._epoll_registered = False
        self._fd_legs: dict[int, MediaLeg] = {}

    def _loop_time(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else time.monotonic()

    # -- the receive fast path ---------------------------------------------------------------
    # All RTP sockets sit in ONE epoll set whose fd is itself watched by the asyncio loop:
    # a single loop callback then reads every ready socket, instead of one loop callback,
    # handle and protocol dispatch per packet (measured with benchmarks.media --no-epoll:
    # about 10% less CPU per relayed packet; the rest is recvfrom/sendto in the kernel).
    # Platforms without epoll use one asyncio DatagramProtocol per leg instead.
    def _watch(self, leg: MediaLeg) -> bool:
        if self._epoll is None or self._loop is None:
            return False
        if self._epoll.closed:
            self._epoll = select.epoll()
        if not self._epoll_registered:
            self._loop.add_reader(self._epoll.fileno(), self._poll_rtp)
            self._epoll_registered = True
        fd = leg._rtp_sock.fileno()
        self._epoll.register(fd, select.EPOLLIN)
        self._fd_legs[fd] = leg
        return True

    def _unwatch(self, leg: MediaLeg) -> None:
        fd = leg._rtp_sock.fileno()
        if self._fd_legs.pop(fd, None) is not None and self._epoll is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    def _poll_rtp(self) -> None:
        epoll = self._epoll
        if epoll is None:
            return
        fd_legs = self._fd_legs
        now = self._loop_time()  # one arrival time per batch: they are microseconds apart
        for fd, _ in epoll.poll(0):
            leg = fd_legs.get(fd)
            if leg is None:
                continue
            try:
                data, addr = leg._rtp_sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # ICMP port unreachable from an earlier send, and the like
                leg._send_errors += 1
                continue
            try:
                leg._on_rtp(data, addr, now)
            except Exception:  # a bug on one leg must not stall every other leg's media
                log.exception("rtp packet handling failed", leg=leg.label)

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the media clock. Legs may be opened before or after."""
        self._loop = asyncio.get_running_loop()
        if self._clock_task is None:
            self._clock_task = asyncio.create_task(self._clock(), name="media-clock")

    async def stop(self) -> None:
        """Close every leg and stop the clock."""
        for leg in list(self.legs.values()):
            await leg.close()
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        if self._epoll_registered and self._loop is not None and self._epoll is not None:
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll_registered = False
        if self._epoll is not None:
            self._epoll.close()  # a later open_leg makes a new one

    async def __aenter__(self) -> MediaEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- legs ------------------------------------------------------------------------------
    def _bind_pair(self) -> tuple[int, socket.socket, socket.socket]:
        first, last = self.port_range
        even_first = first + (first % 2)
        count = (last - even_first + 1) // 2
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(count):
            port = self._next_port
            self._next_port += 2
            if self._next_port + 1 > last:
                self._next_port = even_first
            if port in self._ports_in_use:
                continue
            rtp = socket.socket(family, socket.SOCK_DGRAM)
            rtcp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp.bind((self.host, port))
                rtcp.bind((self.host, port + 1))
            except OSError as exc:
                rtp.close()
                rtcp.close()
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise MediaError(f"cannot bind RTP on {self.host}:{port}: {exc}") from exc
            for s in (rtp, rtcp):
                s.setblocking(False)
            with contextlib.suppress(OSError):
                rtp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)
                rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            return port, rtp, rtcp
        raise PortRangeExhausted(
            f"no free RTP port pair in {first}-{last} on {self.host} "
            f"({len(self._ports_in_use)} legs open)")

    async def open_leg(self, label: str) -> MediaLeg:
        """Bind an even RTP port of the range and RTCP on port+1; raises PortRangeExhausted."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if label in self.legs:
            raise MediaError(f"a media leg labelled {label!r} is already open")
        port, rtp, rtcp = self._bind_pair()
        leg = MediaLeg(self, label, self.host, port, rtp, rtcp)
        loop = self._loop
        try:
            if not self._watch(leg):
                tr, _ = await loop.create_datagram_endpoint(lambda: _RtpProtocol(leg), sock=rtp)
                leg._rtp_transport = tr
            tr2, _ = await loop.create_datagram_endpoint(lambda: _RtcpProtocol(leg), sock=rtcp)
            leg._rtcp_transport = tr2
        except BaseException:
            self._unwatch(leg)
            rtp.close()
            rtcp.close()
            if leg._rtp_transport is not None:
                leg._rtp_transport.close()
            raise
        self._ports_in_use.add(port)
        self.legs[label] = leg
        log.debug("leg opened", leg=label, port=port)
        return leg

    def _forget_leg(self, leg: MediaLeg) -> None:
        if leg.peer is not None:
            self.unbridge(leg, leg.peer)
        pb = self._playbacks.get(leg)
        if pb is not None:
            pb._finish(PlaybackOutcome.STOPPED)
        self.detach_moh(leg)
        if leg._conference is not None:
            leg._conference.remove(leg)
        for rec in list(leg._recordings):
            rec.close()
        for hook in list(self._leg_close_hooks):
            hook(leg)
        self._ports_in_use.discard(leg.local_port)
        self.legs.pop(leg.label, None)
        self._dtmf_pending.discard(leg)
        self._dtmf_senders.discard(leg)

    # -- bridging --------------------------------------------------------------------------
    def bridge(self, a: MediaLeg, b: MediaLeg) -> None:
        """Relay a <-> b: payloads untouched when both chose the same law, PCMU<->PCMA
        transcoded otherwise. A leg is in at most one bridge."""
        a._check_open()
        b._check_open()
        if a is b:
            raise MediaError("cannot bridge a leg with itself")
        for leg, other in ((a, b), (b, a)):
            if leg.peer is not None and leg.peer is not other:
                raise MediaError(f"leg {leg.label!r} is already bridged to {leg.peer.label!r}")
        a.peer = b
        b.peer = a
        self._recompute_translation(a)
        log.debug("bridged", a=a.label, b=b.label)

    def unbridge(self, a: MediaLeg, b: MediaLeg) -> None:
        """Stop relaying between a and b (no error if they were not bridged)."""
        if a.peer is b:
            a.peer = None
            a._xlate = None
        if b.peer is a:
            b.peer = None
            b._xlate = None

    def _recompute_translation(self, leg: MediaLeg) -> None:
        peer = leg.peer
        if peer is None:
            return
        leg._xlate = g711.transcode_table(leg.codec, peer.codec)
        peer._xlate = g711.transcode_table(peer.codec, leg.codec)

    # -- DTMF plumbing ---------------------------------------------------------------------
    def on_digit(self, listener: Callable[[MediaLeg, DtmfDigit], None]) -> None:
        """Engine-wide digit listener (every leg)."""
        self._digit_listeners.append(listener)

    def _digit_received(self, leg: MediaLeg, digit: DtmfDigit) -> None:
        pb = self._playbacks.get(leg)
        if pb is not None and pb.interruptible:
            pb.digit = digit
            pb._finish(PlaybackOutcome.INTERRUPTED)
        for listener in list(self._digit_listeners):
            try:
                listener(leg, digit)
            except Exception:
                log.exception("digit listener failed", leg=leg.label)

    # -- players ---------------------------------------------------------------------------
    @property
    def prompts(self) -> PromptLibrary:
        """The system prompt library (prompts/manifest.json), loaded on first use."""
        if self._library is None:
            self._library = (PromptLibrary(self._library_dir) if self._library_dir
                             else PromptLibrary())
        return self._library

    def play(self, leg: MediaLeg, source: FrameSource, *,
             interruptible: bool = False) -> Playback:
        """Play ``source`` (PromptSequence, Loop, ...) to ``leg`` on the media clock.

        While it plays the leg hears only it (not the bridged party, not music). A new play()
        on the same leg stops the previous one (outcome STOPPED). ``interruptible``: a key
        press on the leg ends it with outcome INTERRUPTED and ``playback.digit`` set (the
        digit is still delivered to the leg's DTMF consumers as usual).
        """
        leg._check_open()
        old = self._playbacks.get(leg)
        if old is not None:
            old._finish(PlaybackOutcome.STOPPED)
        pb = Playback(self, leg, source, interruptible)
        self._playbacks[leg] = pb
        leg._playback = pb
        leg._refresh_feed()
        return pb

    def add_music(self, name: str, source: FrameSource) -> MusicStream:
        """Register a shared stream (music on hold, a region's ringback): every leg attached
        to it hears the same audio, encoded once per tick per law."""
        if name in self.music_streams:
            raise MediaError(f"music stream {name!r} already exists")
        stream = MusicStream(name, source)
        self.music_streams[name] = stream
        return stream

    def set_music(self, name: str, source: FrameSource) -> MusicStream:
        """Register the shared stream ``name``, or give an existing one a new source (its
        listeners keep listening and hear the new source from its start): a changed tone
        region's ringback."""
        stream = self.music_streams.get(name)
        if stream is None:
            return self.add_music(name, source)
        stream.source = source
        return stream

    def attach_moh(self, leg: MediaLeg, stream_name: str = "default") -> MusicStream:
        """Let ``leg`` hear the shared stream ``stream_name`` until detach_moh (a playback
        started meanwhile takes precedence, then the music resumes). Unknown names are looked
        up as ``moh/<name>`` in the prompt library and looped."""
        leg._check_open()
        stream = self.music_streams.get(stream_name)
        if stream is None:
            try:
                track = self.prompts.music(stream_name)
            except PromptError as exc:
                raise MediaError(f"no music stream {stream_name!r}: {exc}") from None
            stream = self.add_music(stream_name, Loop(track))
        if leg._music is stream:
            return stream
        self.detach_moh(leg)
        stream.listeners.append(leg)
        leg._music = stream
        leg._refresh_feed()
        return stream

    def detach_moh(self, leg: MediaLeg) -> None:
        """Stop the music for ``leg`` (no error when it hears none)."""
        stream = leg._music
        if stream is None:
            return
        with contextlib.suppress(ValueError):
            stream.listeners.remove(leg)
        leg._music = None
        leg._refresh_feed()

    # -- conferences and recordings ------------------------------------------------------------
    def conference(self, name: str) -> Conference:
        """Get or create the conference ``name`` (N-party minus-one mixing)."""
        conf = self.conferences.get(name)
        if conf is None:
            conf = self.conferences[name] = Conference(self, name)
        return conf

    def record(self, legs: Sequence[MediaLeg], path: str | Path) -> Recording:
        """Record what each leg says into one WAV, one channel per leg in the given order
        (caller, agent). Stops by ``await rec.stop()`` or when any of the legs closes."""
        if not legs:
            raise MediaError("record() needs at least one leg")
        for leg in legs:
            leg._check_open()
        rec = Recording(self, list(legs), Path(path))
        self._recordings[rec] = None
        return rec

    def _tick_playbacks(self, now: float) -> None:
        for leg, pb in list(self._playbacks.items()):
            if leg._dtmf_out:
                continue  # keys being sent: the prompt waits
            frame = pb.source.next_frame()
            if frame is None:
                pb._finish(PlaybackOutcome.FINISHED)
                continue
            pb.frames_played += 1
            leg._send_local_frame(pb.stream_source, g711.encode(frame, leg.codec), now)

    # -- the clock ---------------------------------------------------------------------------
    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += self.ptime
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            if now - deadline > 5 * self.ptime:
                # Far behind (the process was stalled): resynchronise instead of bursting.
                self.late_ticks += 1
                deadline = now
            try:
                self.tick(now)
            except Exception:  # a bug in one feed must not stop the clock for every call
                log.exception("media tick failed")

    def tick(self, now: float) -> None:
        """One 20 ms step for every leg: DTMF timers and sending, hooks, RTCP."""
        self.tick_count += 1
        n = self.tick_count
        if self._dtmf_pending:
            for leg in list(self._dtmf_pending):
                for digit in leg._te_rx.handle_timeout(now):
                    leg._emit_dtmf(digit)
                if leg._te_rx.next_deadline() is None:
                    self._dtmf_pending.discard(leg)
        for hook in list(self._tick_hooks):
            hook(n, now)
        if self._playbacks:
            self._tick_playbacks(now)
        for stream in self.music_streams.values():
            if stream.listeners:
                stream._tick(now)
        for conf in self.conferences.values():
            if conf.members:
                conf._tick(now)
        if self._recordings:
            for rec in list(self._recordings):
                rec._tick()
        if self._dtmf_senders:
            for leg in list(self._dtmf_senders):
                leg._send_dtmf_tick(now)
                if not leg._dtmf_out:
                    self._dtmf_senders.discard(leg)
        # RTCP: visit 1/50 of the legs per tick, so each is looked at once a second.
        legs = list(self.legs.values())
        if legs:
            step = max(1, len(legs) // 50)
            start = self._rtcp_cursor % len(legs)
            for leg in legs[start:start + step]:
                if leg.session.next_deadline() is not None:
                    leg._rtcp_tick(now)
            self._rtcp_cursor = start + step


class Playback:
    """A source playing to one leg. ``await playback`` -> :class:`PlaybackOutcome`.

    Cancelling the awaiting task, or :meth:`stop`, stops the playback (STOPPED).
    """

    def __init__(self, engine: MediaEngine, leg: MediaLeg, source: FrameSource,
                 interruptible: bool) -> None:
        self.engine = engine
        self.leg = leg
        self.source = source
        self.interruptible = interruptible
        self.digit: DtmfDigit | None = None
        self.frames_played = 0
        self.stream_source = ("playback", next(_playback_serial))  # see _playback_serial
        loop = engine._loop or asyncio.get_running_loop()
        self._future: asyncio.Future[PlaybackOutcome] = loop.create_future()
        self._future.add_done_callback(self._on_done)

    @property
    def outcome(self) -> PlaybackOutcome | None:
        """None while playing."""
        if self._future.done() and not self._future.cancelled():
            return self._future.result()
        return PlaybackOutcome.STOPPED if self._future.cancelled() else None

    @property
    def done(self) -> bool:
        return self._future.done()

    def stop(self) -> None:
        self._finish(PlaybackOutcome.STOPPED)

    def _finish(self, outcome: PlaybackOutcome) -> None:
        if not self._future.done():
            self._future.set_result(outcome)
        self._detach()

    def _on_done(self, fut: asyncio.Future[PlaybackOutcome]) -> None:
        self._detach()  # also when the awaiting task was cancelled

    def _detach(self) -> None:
        engine, leg = self.engine, self.leg
        if engine._playbacks.get(leg) is self:
            del engine._playbacks[leg]
        if leg._playback is self:
            leg._playback = None
            leg._refresh_feed()

    def __await__(self) -> Generator[Any, None, PlaybackOutcome]:
        return self._future.__await__()


class MusicStream:
    """One shared stream (music on hold / ringback): one frame per tick, encoded once per law,
    sent to every attached leg with that leg's own RTP header."""

    def __init__(self, name: str, source: FrameSource) -> None:
        self.name = name
        self.source = source
        self.listeners: list[MediaLeg] = []
        self.ticks = 0

    def _tick(self, now: float) -> None:
        frame = self.source.next_frame()
        if frame is None:  # a finite source: start again
            self.source.rewind()
            frame = self.source.next_frame()
            if frame is None:
                return
        self.ticks += 1
        encoded: dict[Codec, bytes] = {}
        # Profiled: per leg the cost is the sendto itself (kernel, loopback delivery);
        # inlining the header bookkeeping here saved nothing measurable, so it is not done.
        for leg in self.listeners:
            if leg.feed is not self or leg._dtmf_out:
                continue
            payload = encoded.get(leg.codec)
            if payload is None:
                payload = encoded[leg.codec] = g711.encode(frame, leg.codec)
            leg._send_local_frame(self, payload, now)


class Conference:
    """N-party mix on the media clock (``media.mixer``). Adding a bridged leg unbridges it:
    to let a supervisor listen to a call, add caller and agent as PARTICIPANTs and the
    supervisor as LISTEN / WHISPER (whisper_to=agent) / BARGE."""

    def __init__(self, engine: MediaEngine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.members: list[MediaLeg] = []
        self.roles: dict[MediaLeg, Role] = {}
        self.whisper_to: dict[MediaLeg, MediaLeg] = {}
        self._queues: dict[MediaLeg, FrameQueue] = {}
        self._matrix: Any = None

    def add(self, leg: MediaLeg, role: Role | str = Role.PARTICIPANT,
            whisper_to: MediaLeg | None = None) -> None:
        leg._check_open()
        if leg._conference is not None and leg._conference is not self:
            raise MediaError(f"leg {leg.label!r} is already in conference "
                             f"{leg._conference.name!r}")
        self._check_role(leg, Role(role), whisper_to)
        if leg.peer is not None:
            self.engine.unbridge(leg, leg.peer)
        if leg not in self.roles:
            self.members.append(leg)
            self._queues[leg] = FrameQueue()
            leg.add_audio_consumer(self._consume)
        leg._conference = self
        leg._refresh_feed()
        self.set_role(leg, role, whisper_to)

    def set_role(self, leg: MediaLeg, role: Role | str,
                 whisper_to: MediaLeg | None = None) -> None:
        """Switch a member between participant / listen / whisper / barge."""
        role = Role(role)
        if leg not in self.members:
            raise MediaError(f"leg {leg.label!r} is not in conference {self.name!r}")
        self._check_role(leg, role, whisper_to)
        if role is Role.WHISPER and whisper_to is not None:
            self.whisper_to[leg] = whisper_to
        else:
            self.whisper_to.pop(leg, None)
        self.roles[leg] = role
        self._matrix = None

    def _check_role(self, leg: MediaLeg, role: Role, whisper_to: MediaLeg | None) -> None:
        if role is Role.WHISPER and (whisper_to is None or whisper_to not in self.members
                                     or whisper_to is leg):
            raise MediaError("whisper needs whisper_to: another member of the conference")

    def remove(self, leg: MediaLeg) -> None:
        if leg not in self.roles:
            return
        self.members.remove(leg)
        del self.roles[leg]
        self.whisper_to.pop(leg, None)
        for other, target in list(self.whisper_to.items()):
            if target is leg:  # the whisper target left: the whisperer just listens
                del self.whisper_to[other]
                self.roles[other] = Role.LISTEN
        del self._queues[leg]
        leg.remove_audio_consumer(self._consume)
        leg._conference = None
        leg._refresh_feed()
        self._matrix = None

    def _consume(self, leg: MediaLeg, payload: bytes, now: float) -> None:
        q = self._queues.get(leg)
        if q is not None:
            q.push(g711.decode(payload, leg.codec))

    def matrix(self) -> Any:
        if self._matrix is None:
            idx = {leg: i for i, leg in enumerate(self.members)}
            roles = [self.roles[leg] for leg in self.members]
            targets = [frozenset({idx[self.whisper_to[leg]]}) if leg in self.whisper_to
                       else frozenset() for leg in self.members]
            self._matrix = hearing_matrix(roles, targets)
        return self._matrix

    def _tick(self, now: float) -> None:
        frames = np.zeros((len(self.members), FRAME_SAMPLES), dtype=np.int16)
        for i, leg in enumerate(self.members):
            f = self._queues[leg].pop()
            if f is not None:
                frames[i] = f
        out = mix(frames, self.matrix())
        for i, leg in enumerate(self.members):
            if leg.feed is self and not leg._dtmf_out:
                leg._send_local_frame(self, g711.encode(out[i], leg.codec), now)

    async def close(self) -> None:
        for leg in list(self.members):
            self.remove(leg)
        self.engine.conferences.pop(self.name, None)


class Recording:
    """A running call recording (``MediaEngine.record``)."""

    def __init__(self, engine: MediaEngine, legs: list[MediaLeg], path: Path) -> None:
        self.engine = engine
        self.legs = legs
        self.path = path
        self._core = ChannelRecorder(path, len(legs))
        self.error: str | None = None  # why the recording ended early (a write failure)
        self._consumers: list[Callable[[MediaLeg, bytes, float], None]] = []
        for ch, leg in enumerate(legs):
            def consume(lg: MediaLeg, payload: bytes, now: float, ch: int = ch) -> None:
                self._core.push_payload(ch, payload, lg.codec)
            self._consumers.append(consume)
            leg.add_audio_consumer(consume)
            leg._recordings.append(self)

    @property
    def duration(self) -> float:
        return self._core.duration

    @property
    def active(self) -> bool:
        return not self._core.closed

    @property
    def paused(self) -> bool:
        return self._core.paused

    def pause(self) -> None:
        """Pause recording (silence is written meanwhile; see media.recorder)."""
        self._core.paused = True

    def resume(self) -> None:
        self._core.paused = False

    def _tick(self) -> None:
        """One 20 ms frame (the engine's clock). A write failure (disk full, the directory
        gone) ends this recording, logged once; the file keeps what was written before,
        and the clock goes on for every other call."""
        try:
            self._core.tick()
        except RecordingError as exc:
            self._fail(exc)

    def _fail(self, exc: RecordingError) -> None:
        self.error = str(exc)
        log.error("recording failed", path=str(self.path), error=self.error)
        self._core.abandon()
        self._detach()

    def _detach(self) -> None:
        # The consumers close over this recording: dropping them here leaves no cycle, so
        # a finished recording is freed by reference counting (no cyclic GC needed).
        consumers, self._consumers = self._consumers, []
        for leg, consumer in zip(self.legs, consumers, strict=False):
            leg.remove_audio_consumer(consumer)
        for leg in self.legs:
            if self in leg._recordings:
                leg._recordings.remove(self)
        self.engine._recordings.pop(self, None)

    def close(self) -> None:
        """Finish the file now (synchronous: complete when this returns). Idempotent; a
        failing last write is contained like one during the call (``error``)."""
        if not self._core.closed:
            try:
                self._core.close()
            except RecordingError as exc:
                self._fail(exc)
                return
        self._detach()

    async def stop(self) -> Path:
        """Finish the file; returns its path (for the call record)."""
        self.close()
        return self.path
