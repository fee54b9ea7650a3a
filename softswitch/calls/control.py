"""Call control of one B2BUA call between two parties, sans-IO (RFC 3261 §13, §16.7, §9).

`CallControl` knows the caller's leg (the "A leg") and the forked INVITE branches toward the
callee's contacts (the "B legs"). Its `handle_*(..., now)` methods take what happened and
return commands for the asyncio shell (softswitch/calls/b2bua.py), which owns the SIP
transactions, dialogs and the RTP relay. The same core answers every question a CDR asks:
when it started, when it was answered, how and by whom it ended.

Decisions:
- Forking (§16.7): INVITE goes to every live contact at once; the first 2xx wins, every
  other branch is CANCELled (still ringing) or ACKed and BYEd (answered too late).
- When every branch failed, the caller gets the "best" response: 6xx first, then 486 Busy
  Here when any phone was busy, else 480 when every branch failed with 408/480/503 or no
  response, else the lowest 4xx/5xx code seen (§16.7 step 6, simplified).
- No answer within `no_answer_timeout`: all branches CANCELled, caller gets 408.
- Disposition: 2xx -> ANSWERED; 486/600/603 -> BUSY; caller's CANCEL -> CANCELLED;
  no-answer timeout -> NO ANSWER; everything else (404, 480, 5xx) -> FAILED.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

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
    status: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CancelBranch:
    branch: int


@dataclass(frozen=True, slots=True)
class ByeBranch:
    """ACK (if not yet) and BYE a branch that answered after another won."""

    branch: int


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


Command = (SendProvisional | AnswerCaller | RejectCaller | CancelBranch | ByeBranch | SendBye
           | CallFinished)


# ---------------------------------------------------------------- the core


class BranchState(enum.Enum):
    TRYING = "trying"
    EARLY = "early"
    ANSWERED = "answered"
    FAILED = "failed"
    CANCELLING = "cancelling"


_BUSY = {486, 600, 603}


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


def best_failure(statuses: list[int]) -> int:
    """§16.7 step 6, simplified (see the module docstring)."""
    if not statuses:
        return 480
    six = [s for s in statuses if s >= 600]
    if six:
        return 486 if 600 in six else min(six)
    if any(s == 486 for s in statuses):
        return 486
    if all(s in (408, 480, 503) for s in statuses):
        return 480
    return min(statuses)


@dataclass
class CallControl:
    """One call; `call_id` is the caller's Call-ID (the key of its log lines and CDR)."""

    call_id: str
    caller: str
    callee: str
    start: float
    no_answer_timeout: float = 60.0
    state: CallState = CallState.ROUTING
    branches: dict[int, BranchState] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)
    answer: float | None = None
    answered_branch: int | None = None
    _deadline: float | None = None

    def __post_init__(self) -> None:
        self._log = log.bind(call_id=self.call_id, caller=self.caller, callee=self.callee)

    def _set_state(self, state: CallState, why: str) -> None:
        if state is self.state:
            return
        # debug: at hundreds of calls per second, one info line per call ("call ended",
        # written by the shell with the CDR fields) is what an operator reads
        self._log.debug("call state", old=self.state.value, new=state.value, why=why)
        self.state = state

    def next_deadline(self) -> float | None:
        return self._deadline if self.state in (CallState.CALLING, CallState.RINGING) else None

    def _finish(self, now: float, disposition: str, side: Side, cause: str,
                code: int | None) -> CallFinished:
        self._set_state(CallState.ENDED, cause)
        self._deadline = None
        return CallFinished(self.start, self.answer, now, disposition, side, cause, code,
                            self.answered_branch)

    # -- inputs

    def handle_route_failed(self, status: int, reason: str, now: float) -> list[Command]:
        """The destination cannot be called (404 unknown number, 480 not registered, ...)."""
        if self.state is not CallState.ROUTING:
            return []
        return [RejectCaller(status, reason),
                self._finish(now, disposition_for(status), Side.SWITCH, reason, status)]

    def handle_branches_started(self, branch_ids: list[int], now: float) -> list[Command]:
        """INVITEs went out to these contacts (forking)."""
        for b in branch_ids:
            self.branches[b] = BranchState.TRYING
        self._deadline = now + self.no_answer_timeout
        self._set_state(CallState.CALLING, f"forked to {len(branch_ids)} contact(s)")
        return []

    def handle_provisional(self, branch: int, status: int, now: float) -> list[Command]:
        if self.state not in (CallState.CALLING, CallState.RINGING) or status == 100:
            return []
        if self.branches.get(branch) is BranchState.TRYING:
            self.branches[branch] = BranchState.EARLY
        self._set_state(CallState.RINGING, f"{status} from branch {branch}")
        return [SendProvisional(status, branch)]

    def handle_answer(self, branch: int, now: float) -> list[Command]:
        """A 2xx from `branch`."""
        if self.state in (CallState.CONNECTED, CallState.ENDED) or self.answered_branch \
                is not None:
            if branch != self.answered_branch:
                # answered too late (another won, or the caller already left): hang it up
                self.branches[branch] = BranchState.FAILED
                return [ByeBranch(branch)]
            return []
        self.branches[branch] = BranchState.ANSWERED
        self.answered_branch = branch
        self.answer = now
        commands: list[Command] = [AnswerCaller(branch)]
        for other, st in self.branches.items():
            if other != branch and st in (BranchState.TRYING, BranchState.EARLY):
                self.branches[other] = BranchState.CANCELLING
                commands.append(CancelBranch(other))
        self._set_state(CallState.CONNECTED, f"answered on branch {branch}")
        return commands

    def handle_failure(self, branch: int, status: int, now: float) -> list[Command]:
        """A final non-2xx (or a transaction timeout as 408) from `branch`."""
        prev = self.branches.get(branch)
        self.branches[branch] = BranchState.FAILED
        if self.state not in (CallState.CALLING, CallState.RINGING):
            return []
        if prev is not BranchState.CANCELLING:
            self.failures.append(status)
        if status >= 600:
            # §16.7 step 5: a 6xx ends the fork
            commands: list[Command] = [CancelBranch(b) for b, st in self.branches.items()
                                       if st in (BranchState.TRYING, BranchState.EARLY)]
            for b in list(self.branches):
                if self.branches[b] is not BranchState.FAILED:
                    self.branches[b] = BranchState.CANCELLING
            return commands + [RejectCaller(status),
                               self._finish(now, disposition_for(status), Side.CALLEE,
                                            f"{status} from callee", status)]
        if any(st in (BranchState.TRYING, BranchState.EARLY) for st in self.branches.values()):
            return []
        code = best_failure(self.failures)
        return [RejectCaller(code),
                self._finish(now, disposition_for(code), Side.CALLEE,
                             f"{code} from callee", code)]

    def handle_cancel(self, now: float) -> list[Command]:
        """The caller CANCELled before the answer (the shell already sent 200 to CANCEL)."""
        if self.state not in (CallState.ROUTING, CallState.CALLING, CallState.RINGING):
            return []
        commands: list[Command] = []
        for b, st in self.branches.items():
            if st in (BranchState.TRYING, BranchState.EARLY):
                self.branches[b] = BranchState.CANCELLING
                commands.append(CancelBranch(b))
        return commands + [RejectCaller(487, "Request Terminated"),
                           self._finish(now, "CANCELLED", Side.CALLER, "CANCEL", 487)]

    def handle_timer(self, now: float) -> list[Command]:
        """No answer within the timeout: CANCEL every branch, 408 to the caller."""
        if self._deadline is None or now < self._deadline or \
                self.state not in (CallState.CALLING, CallState.RINGING):
            return []
        commands: list[Command] = []
        for b, st in self.branches.items():
            if st in (BranchState.TRYING, BranchState.EARLY):
                self.branches[b] = BranchState.CANCELLING
                commands.append(CancelBranch(b))
        return commands + [RejectCaller(408, "No Answer"),
                           self._finish(now, "NO ANSWER", Side.SWITCH, "no-answer timeout",
                                        408)]

    def handle_bye(self, side: Side, now: float) -> list[Command]:
        """BYE from one side of the connected call: BYE the other side."""
        if self.state is not CallState.CONNECTED:
            return []
        other = Side.CALLEE if side is Side.CALLER else Side.CALLER
        return [SendBye(other), self._finish(now, "ANSWERED", side, "BYE", 200)]

    def handle_shutdown(self, now: float, cause: str = "shutdown") -> list[Command]:
        """The switch ends the call (SIGTERM, media failure, ACK never came)."""
        if self.state is CallState.CONNECTED:
            return [SendBye(Side.CALLER), SendBye(Side.CALLEE),
                    self._finish(now, "ANSWERED", Side.SWITCH, cause, None)]
        if self.state is CallState.ENDED:
            return []
        commands: list[Command] = []
        for b, st in self.branches.items():
            if st in (BranchState.TRYING, BranchState.EARLY):
                self.branches[b] = BranchState.CANCELLING
                commands.append(CancelBranch(b))
        return commands + [RejectCaller(503, "Service Unavailable"),
                           self._finish(now, "FAILED", Side.SWITCH, cause, 503)]
