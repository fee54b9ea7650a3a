"""Rows the switch writes: registrations and call detail records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RegistrationRow:
    """One registered contact of an extension (RFC 3261 §10.3 binding)."""

    aor: str
    contact: str
    expires_at: float  # wall-clock epoch seconds
    received_host: str
    received_port: int
    transport: str
    call_id: str
    cseq: int
    q: float | None = None
    user_agent: str = ""
    registered_at: float = 0.0


class Disposition:
    ANSWERED = "ANSWERED"
    NO_ANSWER = "NO ANSWER"
    BUSY = "BUSY"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call detail record; times are wall-clock epoch seconds."""

    call_id: str
    caller: str
    callee: str
    start_time: float
    answer_time: float | None
    end_time: float
    disposition: str
    hangup_side: str
    hangup_cause: str
    sip_code: int | None = None
    caller_rtp: dict[str, Any] | None = None
    callee_rtp: dict[str, Any] | None = None
    recording: str | None = None  # the call's WAV (softswitch.calls.recording)

    @property
    def duration(self) -> float:
        return max(0.0, self.end_time - self.start_time)

    @property
    def billsec(self) -> float:
        if self.answer_time is None:
            return 0.0
        return max(0.0, self.end_time - self.answer_time)
