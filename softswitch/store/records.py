"""Rows the switch writes: registrations, call detail records, and the dialogs of open calls."""

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
    #: the switch stopped without ending the call (a crash); closed at the next start-up
    INTERRUPTED = "INTERRUPTED"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call detail record; times are wall-clock epoch seconds. `end_time` is None only
    for an INTERRUPTED call (the switch crashed: when it ended is not known)."""

    call_id: str
    caller: str
    callee: str
    start_time: float
    answer_time: float | None
    end_time: float | None
    disposition: str
    hangup_side: str
    hangup_cause: str
    sip_code: int | None = None
    caller_rtp: dict[str, Any] | None = None
    callee_rtp: dict[str, Any] | None = None
    recording: str | None = None  # the call's WAV (softswitch.calls.recording)

    @property
    def duration(self) -> float | None:
        if self.end_time is None:
            return None
        return max(0.0, self.end_time - self.start_time)

    @property
    def billsec(self) -> float | None:
        if self.answer_time is None:
            return 0.0
        if self.end_time is None:
            return None
        return max(0.0, self.end_time - self.answer_time)


@dataclass(frozen=True, slots=True)
class DialogRow:
    """What an in-dialog request to one leg of an open call needs (RFC 3261 §12.2.1.1),
    as written when the leg's dialog was confirmed: its Call-ID, our From (with our tag)
    and their To (with their tag) as header values, the Request-URI (their Contact), the
    Route values in order, our next CSeq number, and where the leg is reached."""

    record_uid: str  # the cdr row of the call
    leg: str  # caller | callee | agent
    call_id: str
    local_address: str
    remote_address: str
    remote_target: str
    route_set: tuple[str, ...]
    next_cseq: int
    transport: str
    host: str
    port: int
