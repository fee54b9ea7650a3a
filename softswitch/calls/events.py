"""Events of the calls layer, published on the switch's event bus (softswitch.events,
DESIGN.md principle 4). Times: `at` is the loop's monotonic time like the ACD events;
wall-clock times are in the CDR."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallStarted:
    """An authenticated INVITE was routed: `destination` is the dial plan's kind
    (extension, echo, not_found, ...)."""

    at: float
    call_id: str
    caller: str
    callee: str
    destination: str


@dataclass(frozen=True, slots=True)
class CallRinging:
    """The called party's phone rings: the first 180/183 of the call. `callee` is the
    number rung (the extension for extension calls), `destination` the dial plan's kind."""

    at: float
    call_id: str
    caller: str
    callee: str
    destination: str


@dataclass(frozen=True, slots=True)
class CallHeld:
    """A connected extension call's hold changed: ``party`` ("caller" or "callee") sent a
    re-INVITE putting the other on hold (sendonly/inactive, ``held``) or taking it off, and
    the other side accepted it."""

    at: float
    call_id: str
    caller: str
    callee: str
    party: str
    held: bool


@dataclass(frozen=True, slots=True)
class CallAnswered:
    at: float
    call_id: str
    caller: str
    callee: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; the same facts as its CDR row."""

    at: float
    call_id: str
    caller: str
    callee: str
    disposition: str
    hangup_side: str
    hangup_cause: str
    sip_code: int | None
    duration: float
    billsec: float
