"""DTMF: RFC 4733 telephone-events in and out, SIP INFO bodies, in-band Goertzel detection.

All three produce :class:`media.events.DtmfDigit`, one per key press, when the press ends,
so the call layer sees the same thing whatever the phone does.

RFC 4733 receiving (§2.5.2): every packet of one event carries the event's start timestamp;
the end packet (E bit) is sent three times. An event is identified by its timestamp, so
retransmitted end packets are ignored, a lost start packet does not matter, and a lost END is
recovered two ways: a packet with a new timestamp finishes the previous event, and so does
silence for :data:`EVENT_TIMEOUT` after the last packet (``next_deadline``).

RFC 2198 redundant packets (RFC 4733 §2.6) are unpacked block by block into the same
receiver (``handle_red_packet``).

Decision: in-band detection requires the digit in two consecutive 20 ms frames (40 ms, the
ITU-T Q.24 minimum) and reports it when it stops; a tone lasting longer is one press.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from media.events import DtmfDigit, DtmfSource

EVENT_CODES: Final = "0123456789*#ABCD!"
EVENT_TIMEOUT: Final = 0.3  # seconds of silence after which a started event is finished
_EVENT = struct.Struct("!BBH")
CLOCK_RATE: Final = 8000


class DtmfError(ValueError):
    """A telephone-event payload or INFO body that cannot be understood."""


def event_to_digit(event: int) -> str | None:
    return EVENT_CODES[event] if 0 <= event < len(EVENT_CODES) else None


def digit_to_event(digit: str) -> int:
    d = digit.upper()
    if len(d) != 1 or d not in EVENT_CODES:
        raise DtmfError(f"not a DTMF digit: {digit!r} (allowed: 0-9 * # A-D)")
    return EVENT_CODES.index(d)


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The 4-byte payload of RFC 4733 §2.3."""

    event: int
    end: bool
    volume: int
    duration: int  # timestamp units

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise DtmfError(f"telephone-event payload of {len(payload)} bytes, need 4")
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | (self.volume & 0x3F),
                           self.duration & 0xFFFF)


class TelephoneEventReceiver:
    """Turns RFC 4733 packets into key presses (sans-IO)."""

    def __init__(self) -> None:
        self._ts: int | None = None  # timestamp of the event in progress or last finished
        self._event = 0
        self._duration = 0
        self._open = False
        self._last_packet = 0.0
        self._recent: list[int] = []  # timestamps of finished events (late retransmissions)

    def handle_packet(self, payload: bytes, timestamp: int, now: float) -> list[DtmfDigit]:
        ev = TelephoneEvent.parse(payload)
        out: list[DtmfDigit] = []
        if timestamp != self._ts:
            if timestamp in self._recent:
                return out  # a retransmitted end of an event already reported
            if self._open:
                out.extend(self._finish(now))  # the previous event's end packets were lost
            self._ts = timestamp
            self._event = ev.event
            self._duration = ev.duration
            self._open = True
        elif not self._open:
            return out  # redundant end packet
        self._duration = max(self._duration, ev.duration)
        self._last_packet = now
        if ev.end:
            out.extend(self._finish(now))
        return out

    def handle_red_packet(self, payload: bytes, timestamp: int, event_pt: int,
                          now: float) -> list[DtmfDigit]:
        """An RFC 2198 redundant packet carrying telephone-events (RFC 4733 §2.6): older
        blocks first, each at ``timestamp - offset``; blocks of other payload types are
        skipped. Repeats are harmless (events are keyed by their timestamp)."""
        out: list[DtmfDigit] = []
        for pt, ts, block in parse_red(payload, timestamp):
            if pt == event_pt:
                out.extend(self.handle_packet(block, ts, now))
        return out

    def _finish(self, now: float) -> list[DtmfDigit]:
        self._open = False
        if self._ts is not None:
            self._recent.append(self._ts)
            del self._recent[:-8]
        digit = event_to_digit(self._event)
        if digit is None:
            return []  # a non-DTMF event (tones, line events): not a key press
        return [DtmfDigit(digit, DtmfSource.RFC4733, self._duration * 1000 // CLOCK_RATE, now)]

    def next_deadline(self) -> float | None:
        return self._last_packet + EVENT_TIMEOUT if self._open else None

    def handle_timeout(self, now: float) -> list[DtmfDigit]:
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            return self._finish(now)
        return []


def parse_red(payload: bytes, timestamp: int) -> list[tuple[int, int, bytes]]:
    """Split an RFC 2198 payload into (payload type, timestamp, data) blocks, oldest first."""
    headers: list[tuple[int, int, int]] = []
    pos = 0
    while True:
        if pos >= len(payload):
            raise DtmfError("RED payload ends inside its block headers")
        first = payload[pos]
        if not first & 0x80:  # the last header: primary block, 1 byte
            headers.append((first & 0x7F, 0, -1))
            pos += 1
            break
        if pos + 4 > len(payload):
            raise DtmfError("RED block header truncated")
        word = int.from_bytes(payload[pos:pos + 4], "big")
        headers.append(((word >> 24) & 0x7F, (word >> 10) & 0x3FFF, word & 0x3FF))
        pos += 4
    blocks = []
    for pt, offset, length in headers:
        size = len(payload) - pos if length < 0 else length
        if pos + size > len(payload):
            raise DtmfError("RED block longer than the payload")
        blocks.append((pt, (timestamp - offset) & 0xFFFFFFFF, bytes(payload[pos:pos + size])))
        pos += size
    return blocks


def telephone_event_frames(digit: str, duration_ms: int = 100,
                           volume: int = 10) -> Iterator[tuple[bytes, bool, bool]]:
    """Payloads to send, one per 20 ms tick, for one key press (RFC 4733 §2.5.1).

    Yields (payload, first_packet, end) triples; the end packet is sent three times (§2.5.1.4).
    The caller stamps every packet of the event with the timestamp of the first one.
    """
    event = digit_to_event(digit)
    total = max(40, duration_ms) * CLOCK_RATE // 1000
    step = 160
    dur = step
    first = True
    while dur < total:
        yield bytes(TelephoneEvent(event, False, volume, dur)), first, False
        first = False
        dur += step
    for _ in range(3):
        yield bytes(TelephoneEvent(event, True, volume, total)), first, True
        first = False


def parse_info_body(content_type: str, body: str, now: float) -> DtmfDigit:
    """A digit from a SIP INFO body: ``application/dtmf-relay`` (``Signal=5`` /
    ``Duration=160`` lines, the de-facto Cisco format) or ``application/dtmf`` (the digit).
    """
    ctype = content_type.split(";")[0].strip().lower()
    signal: str | None = None
    duration = 100
    if ctype == "application/dtmf-relay":
        for line in body.splitlines():
            key, sep, value = line.partition("=")
            if not sep:
                continue
            key = key.strip().lower()
            value = value.strip()
            if key == "signal":
                signal = value
            elif key == "duration":
                try:
                    duration = int(value)
                except ValueError:
                    raise DtmfError(f"INFO Duration is not a number: {value!r}") from None
    elif ctype == "application/dtmf":
        signal = body.strip()
    else:
        raise DtmfError(f"INFO with Content-Type {content_type!r} carries no DTMF")
    if not signal:
        raise DtmfError("INFO body has no Signal")
    if signal == "16":
        signal = "!"
    elif signal in ("10", "11"):
        signal = "*" if signal == "10" else "#"
    digit_to_event(signal)  # validates
    return DtmfDigit(signal.upper(), DtmfSource.INFO, duration, now)


# --------------------------------------------------------------------------------- in-band

ROW_FREQS: Final = (697.0, 770.0, 852.0, 941.0)
COL_FREQS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")


def dtmf_tone(digit: str, duration_ms: int, amplitude: int = 8000,
              rate: int = CLOCK_RATE) -> npt.NDArray[np.int16]:
    """The dual tone of ``digit`` (ITU-T Q.23), for in-band sending and tests."""
    d = digit.upper()
    for r, row in enumerate(KEYPAD):
        c = row.find(d)
        if c >= 0:
            t = np.arange(duration_ms * rate // 1000) / rate
            wave = np.sin(2 * np.pi * ROW_FREQS[r] * t) + np.sin(2 * np.pi * COL_FREQS[c] * t)
            return (wave * (amplitude / 2)).astype(np.int16)
    raise DtmfError(f"not a DTMF digit: {digit!r}")


class GoertzelDetector:
    """In-band DTMF detection over 20 ms frames of 8 kHz linear audio (Goertzel algorithm).

    Per frame the eight Q.23 frequencies are measured at once (numpy over the frame). A frame
    holds a digit when the strongest row and column tone carry most of the frame's energy,
    the twist between them is within 8 dB, and the level is above about -35 dBm0.
    """

    MIN_FRAMES: Final = 2
    ENERGY_SHARE: Final = 0.6
    MAX_TWIST_DB: Final = 8.0
    MIN_RMS: Final = 80.0

    def __init__(self, frame_samples: int = 160) -> None:
        self.n = frame_samples
        freqs = np.array(ROW_FREQS + COL_FREQS)
        self._coeff = 2.0 * np.cos(2.0 * np.pi * freqs / CLOCK_RATE)
        # The Goertzel recurrence's final power is |X(f)|^2, the single-frequency DFT at f.
        # Evaluated for the eight frequencies as one (8 x N) complex matrix product: the same
        # numbers as running the recurrence, without a Python loop over samples.
        n = np.arange(frame_samples)
        self._basis = np.exp(-2j * np.pi * np.outer(freqs, n) / CLOCK_RATE)
        self._candidate: str | None = None
        self._frames = 0
        self._active: str | None = None
        self._active_frames = 0
        self._pending: npt.NDArray[np.int16] = np.zeros(0, np.int16)

    def classify(self, frame: npt.NDArray[np.int16]) -> str | None:
        """The digit present in one frame, or None."""
        x = frame.astype(np.float64)
        energy = float(np.dot(x, x))
        if energy < self.MIN_RMS * self.MIN_RMS * len(x):
            return None
        power = np.abs(self._basis[:, : len(x)] @ x) ** 2 * 2.0 / (len(x) * energy)
        r = int(np.argmax(power[:4]))
        c = int(np.argmax(power[4:]))
        pr, pc = float(power[r]), float(power[4 + c])
        if pr + pc < self.ENERGY_SHARE or pr <= 0 or pc <= 0:
            return None
        if abs(10.0 * math.log10(pr / pc)) > self.MAX_TWIST_DB:
            return None
        return KEYPAD[r][c]

    def process(self, audio: npt.NDArray[np.int16], now: float) -> list[DtmfDigit]:
        """Feed received audio of any length (phones may send 10, 20, 30 ms packets); it is
        analysed in 20 ms frames. Returns the presses that ended."""
        if len(audio) == self.n and not len(self._pending):
            return self._process_frame(audio, now)
        buf = np.concatenate([self._pending, audio]) if len(self._pending) else audio
        out: list[DtmfDigit] = []
        whole = len(buf) - len(buf) % self.n
        for i in range(0, whole, self.n):
            out += self._process_frame(buf[i:i + self.n], now)
        self._pending = buf[whole:].copy()
        return out

    def _process_frame(self, frame: npt.NDArray[np.int16], now: float) -> list[DtmfDigit]:
        d = self.classify(frame)
        out: list[DtmfDigit] = []
        if self._active is not None:
            if d == self._active:
                self._active_frames += 1
                return out
            out.append(DtmfDigit(self._active, DtmfSource.INBAND,
                                 self._active_frames * self.n * 1000 // CLOCK_RATE, now))
            self._active = None
        if d is not None and d == self._candidate:
            self._frames += 1
        else:
            self._candidate = d
            self._frames = 1 if d is not None else 0
        if d is not None and self._frames >= self.MIN_FRAMES:
            self._active = d
            self._active_frames = self._frames
            self._candidate = None
            self._frames = 0
        return out
