"""Events the media layer reports to the call layer (frozen, one module per layer: STYLE.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DtmfSource(StrEnum):
    """How a digit reached us."""

    RFC4733 = "rfc4733"  # telephone-event RTP payload (RFC 4733 §2)
    INBAND = "inband"  # tones in the audio, found by the Goertzel detector
    INFO = "info"  # SIP INFO, application/dtmf-relay or application/dtmf


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One key press. Reported once, when the key is released (or presumed released)."""

    digit: str  # "0"-"9", "*", "#", "A"-"D", or "!" for flash (RFC 4733 event 16)
    source: DtmfSource
    duration_ms: int
    at: float  # monotonic time the press was detected as finished
    leg: str = ""  # label of the leg it came from (filled in by the engine)


class PlaybackOutcome(StrEnum):
    FINISHED = "finished"  # every item played to the end
    INTERRUPTED = "interrupted"  # a DTMF digit stopped an interruptible playback
    STOPPED = "stopped"  # cancelled by the call layer, or the leg closed


@dataclass(frozen=True, slots=True)
class DigitEntry:
    """What :meth:`media.engine.MediaLeg.collect_digits` gathered and why it stopped."""

    digits: str  # without the terminator
    ended_by: str  # "terminator" | "max_digits" | "timeout" | "closed"

    @property
    def complete(self) -> bool:
        """The caller finished the entry themselves (terminator or enough digits)."""
        return self.ended_by in ("terminator", "max_digits")
