"""Call control of one B2BUA call between two parties, sans-IO (RFC 3261 §13, §16.7, §9).

`CallControl` knows the caller's leg (the "A leg") and the forked INVITE branches toward the
callee's contacts (the "B legs"). Its `handle_*(..., now)` methods take what happened and
return commands for the asyncio shell (softswitch/calls/b2bua.py), which owns the SIP
transactions, dialogs and the RTP relay. The same core answers every question a CDR asks:
when it started, when it was answered, how and by whom it ended.

Decisions:
- Forking is `softswitch.calls.fork.Fork`, the one fork of the switch (first 2xx wins, the
  rest CANCELled or BYEd, the best final response by RFC 3261 §16.7 step 6, one trunk
  challenge answered); this core adds the caller's side and the record.
- No answer within `no_answer_timeout`: all branches CANCELled, caller gets 408 No Answer.
- Disposition: 2xx -> ANSWERED; 486/600/603 -> BUSY; caller's CANCEL -> CANCELLED;
  no-answer timeout (408) -> NO ANSWER; everything else (404, 480, 5xx) -> FAILED.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass, field

from softswitch.calls.fork import (
    AnswerWith,
    Authenticate,
    ByeBranch,
    CancelBranch,
    Fork,
    ForkCommand,
    ForkFailed,
    ForkTarget,
    Progress,
    SendInvite,
)
from softswitch.log import get_logger

log = get_logger("calls")


class CallState(enum.Enum):
    ROUTING = "routing"  # caller's INVITE accepted (100 sent), destination being resolved
    CALLING = "calling"  # INVITEs sent to the callee's contacts, no provisional yet
    RINGING = "ringing"  # a 180/183 came back (early dialog)
    CONNECTED = "connected"  # a branch answered; caller got 200
    ENDED = "ended"


class Side(enum.Enum):
    CALLER = "caller"
    CALLEE = "callee"
    SWITCH = "switch"


# ---------------------------------------------------------------- commands to the shell


@dataclass(frozen=True, slots=True)
class SendProvisional:
    """Relay a 18x to the caller; `branch` is whose SDP (if any) goes with it."""

    status: int
    branch: int


@dataclass(frozen=True, slots=True)
class AnswerCaller:
    """200 OK to the caller with our SDP for `branch`'s answer."""

    branch: int


@dataclass(frozen=True, slots=True)
class RejectCaller:
    """A final failure to the caller; ``branch``: whose response it passes on (a 3xx's
    Contact goes with it), None when the status is the switch's own."""

    status: int
    reason: str = ""
    branch: int | None = None


@dataclass(frozen=True, slots=True)
class SendBye:
    """BYE to one side of the connected call."""

    side: Side


@dataclass(frozen=True, slots=True)
class CallFinished:
    """The call is over; write its record. Times are on the `now` scale."""

    start: float
    answer: float | None
    end: float
    disposition: str
    hangup_side: Side
    hangup_cause: str
    sip_code: int | None
    answered_branch: int | None


# SendInvite, CancelBranch, ByeBranch and Authenticate come from the fork as they are
Command = (SendProvisional | AnswerCaller | RejectCaller | SendInvite | CancelBranch | ByeBranch
           | Authenticate | SendBye | CallFinished)

__all__ = ["AnswerCaller", "Authenticate", "ByeBranch", "CallControl", "CallFinished",
           "CallState", "CancelBranch", "Command", "RejectCaller", "SendBye", "SendInvite",
           "SendProvisional", "Side", "disposition_for", "PICKED_UP"]


# ---------------------------------------------------------------- the core


_BUSY = {486, 600, 603}
PICKED_UP = -1  # the branch number of a picker's dialog (handle_picked_up)


def disposition_for(status: int) -> str:
    if 200 <= status < 300:
        return "ANSWERED"
    if status in _BUSY:
        return "BUSY"
    if status == 487:
        return "CANCELLED"
    if status == 408:
        return "NO ANSWER"
    return "FAILED"


@dataclass
class CallControl:
    """One call; `call_id` is the caller's Call-ID (the key of its log lines and CDR)."""

    call_id: str
    caller: str
    callee: str
    start: float
    no_answer_timeout: float = 60.0
    state: CallState = CallState.ROUTING
    answer: float | None = None
    answered_branch: int | None = None
    fork: Fork = field(init=False)

    def __post_init__(self) -> None:
        self._log = log.bind(call_id=self.call_id, caller=self.caller, callee=self.callee)
        self.fork = Fork(self.no_answer_timeout, name=self.call_id)

    def _set_state(self, state: CallState, why: str) -> None:
        if state is self.state:
            return
        # debug: at hundreds of calls per second, one info line per call ("call ended",
        # written by the shell with the CDR fields) is what an operator reads
        self._log.debug("call state", old=self.state.value, new=state.value, why=why)
        self.state = state

    def next_deadline(self) -> float | None:
        if self.state not in (CallState.CALLING, CallState.RINGING):
            return None
        return self.fork.next_deadline()

    def _finish(self, now: float, disposition: str, side: Side, cause: str,
                code: int | None) -> CallFinished:
        self._set_state(CallState.ENDED, cause)
        return CallFinished(self.start, self.answer, now, disposition, side, cause, code,
                            self.answered_branch)

    def _from_fork(self, commands: list[ForkCommand], now: float) -> list[Command]:
        """The fork's commands as the B2BUA's: the caller's side of each."""
        out: list[Command] = []
        for cmd in commands:
            if isinstance(cmd, Progress):
                self._set_state(CallState.RINGING, f"{cmd.status} from branch {cmd.branch}")
                out.append(SendProvisional(cmd.status, cmd.branch))
            elif isinstance(cmd, AnswerWith):
                self.answered_branch = cmd.branch
                self.answer = now
                self._set_state(CallState.CONNECTED, f"answered on branch {cmd.branch}")
                out.append(AnswerCaller(cmd.branch))
            elif isinstance(cmd, ForkFailed):
                code = cmd.status
                out += [RejectCaller(code, branch=cmd.branch),
                        self._finish(now, disposition_for(code), Side.CALLEE,
                                     f"{code} from callee", code)]
            else:
                out.append(cmd)
        return out

    # -- inputs

    def handle_route_failed(self, status: int, reason: str, now: float) -> list[Command]:
        """The destination cannot be called (404 unknown number, 480 not registered, ...)."""
        if self.state is not CallState.ROUTING:
            return []
        return [RejectCaller(status, reason),
                self._finish(now, disposition_for(status), Side.SWITCH, reason, status)]

    def handle_branches_started(self, branch_ids: list[int], now: float,
                                trunk_branches: Collection[int] = ()) -> list[Command]:
        """Fork to the callee's contacts, numbered 0, 1, ... (``trunk_branches``: those whose
        trunk credentials answer one challenge); returns the INVITEs to send."""
        if branch_ids != list(range(len(branch_ids))):
            raise ValueError(f"branches are numbered 0..n-1, got {branch_ids}")
        targets = [ForkTarget(credentials=b in trunk_branches) for b in branch_ids]
        commands = self._from_fork(self.fork.start(targets, now), now)
        if self.state is CallState.ROUTING:
            self._set_state(CallState.CALLING, f"forked to {len(branch_ids)} contact(s)")
        return commands

    def handle_provisional(self, branch: int, status: int, now: float) -> list[Command]:
        return self._from_fork(self.fork.handle_response(branch, status, now), now)

    def handle_answer(self, branch: int, now: float) -> list[Command]:
        """A 2xx from `branch`."""
        return self._from_fork(self.fork.handle_response(branch, 200, now), now)

    def handle_failure(self, branch: int, status: int, now: float) -> list[Command]:
        """A final non-2xx (a 401/407 too; or a transaction timeout as 408) from `branch`."""
        return self._from_fork(self.fork.handle_response(branch, status, now), now)

    def handle_unusable_answer(self, branch: int, now: float) -> list[Command]:
        """A 2xx from `branch` without a usable SDP answer: BYE it, count it as 488."""
        return self._from_fork(self.fork.handle_unusable_answer(branch, now), now)

    def handle_cancel(self, now: float) -> list[Command]:
        """The caller CANCELled before the answer (the shell already sent 200 to CANCEL)."""
        if self.state not in (CallState.ROUTING, CallState.CALLING, CallState.RINGING):
            return []
        return [*self._from_fork(self.fork.handle_cancel(now), now),
                RejectCaller(487, "Request Terminated"),
                self._finish(now, "CANCELLED", Side.CALLER, "CANCEL", 487)]

    def handle_timer(self, now: float) -> list[Command]:
        """No answer within the timeout: CANCEL every branch, 408 to the caller."""
        if self.state not in (CallState.CALLING, CallState.RINGING):
            return []
        out: list[Command] = []
        for cmd in self.fork.handle_timer(now):
            if isinstance(cmd, ForkFailed):
                out += [RejectCaller(cmd.status, "No Answer"),
                        self._finish(now, "NO ANSWER", Side.SWITCH, "no-answer timeout",
                                     cmd.status)]
            else:
                out += self._from_fork([cmd], now)
        return out

    def handle_bye(self, side: Side, now: float) -> list[Command]:
        """BYE from one side of the connected call: BYE the other side."""
        if self.state is not CallState.CONNECTED:
            return []
        other = Side.CALLEE if side is Side.CALLER else Side.CALLER
        return [SendBye(other), self._finish(now, "ANSWERED", side, "BYE", 200)]

    def handle_picked_up(self, now: float) -> list[Command]:
        """Another extension picked the ringing call up (softswitch.calls.pickup): every
        branch is CANCELled and the caller is answered with the picker, whom the shell
        keeps as branch `PICKED_UP`. The record counts the call as answered then."""
        if self.state not in (CallState.CALLING, CallState.RINGING):
            return []
        out = self._from_fork(self.fork.handle_cancel(now), now)
        self.answered_branch = PICKED_UP
        self.answer = now
        self._set_state(CallState.CONNECTED, "picked up")
        return [*out, AnswerCaller(PICKED_UP)]

    def handle_adopted(self, now: float) -> list[Command]:
        """The caller's dialog was answered by another shell, which hands it over (a queue
        caller parked from the live API, softswitch.calls.transfer): the call starts
        connected and answered ``now`` (its record's answer), with the callee's side empty
        (branch `PICKED_UP` until someone joins it). Nothing to send: the caller already
        has its 200 OK."""
        if self.state is not CallState.ROUTING:
            return []
        self.answered_branch = PICKED_UP
        self.answer = now
        self._set_state(CallState.CONNECTED, "adopted")
        return []

    def handle_shutdown(self, now: float, cause: str = "shutdown") -> list[Command]:
        """The switch ends the call (SIGTERM, media failure, ACK never came)."""
        if self.state is CallState.CONNECTED:
            return [SendBye(Side.CALLER), SendBye(Side.CALLEE),
                    self._finish(now, "ANSWERED", Side.SWITCH, cause, None)]
        if self.state is CallState.ENDED:
            return []
        return [*self._from_fork(self.fork.handle_cancel(now), now),
                RejectCaller(503, "Service Unavailable"),
                self._finish(now, "FAILED", Side.SWITCH, cause, 503)]
