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
class CallHoldChanged:
    """A connected call's hold changed, the one hold event of the switch for extension
    calls and queue calls alike: ``party`` ("caller" or "callee") sent a re-INVITE putting
    the other on hold (sendonly/inactive, RFC 3264 §8.4: ``held``) or taking it off
    (sendrecv), and it was accepted. ``call_id`` is the caller's Call-ID (a queue call's
    task). ``queue`` is the queue of a queue call ("" for an extension call); there the
    ``callee`` is the agent (spec/queue-admin.md §8.2 "Hold Duration" counts it), and in a
    callback the customer is the caller. Published by the B2BUA (relayed re-INVITEs) and the
    queue-call shell (re-INVITEs it answers itself); the BLF lamps and the report rows
    subscribe."""

    at: float
    call_id: str
    caller: str
    callee: str
    party: str
    held: bool
    queue: str = ""


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


@dataclass(frozen=True, slots=True)
class CallPartyChanged:
    """A connected call's party on ``side`` ("caller" or "callee") is now ``party``: after a
    transfer (blind or attended), a pickup, a park retrieval or a park ring-back
    (softswitch.calls.transfer). ``previous`` is who was there ("" for a parked call's
    empty side). The call keeps its Call-ID and its one record; the lamps follow."""

    at: float
    call_id: str
    side: str
    party: str
    previous: str
