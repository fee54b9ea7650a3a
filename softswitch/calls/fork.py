"""One INVITE forked to several targets, sans-IO (RFC 3261 §16.7 response processing, §9
CANCEL, §22.2 answering a challenge).

Every place where the switch rings several contacts at once uses this one `Fork`: an
extension call to an extension's registered phones (softswitch.calls.control for the
B2BUA), and the calls the queue places itself, an offer to an agent, a callback customer, a
transfer target (softswitch.queue.dialer). So the same branch results give the caller the
same final answer everywhere.

Inputs: ``start(targets, now)``, ``handle_response(branch, status, now)`` (provisional, 2xx,
failure, 401/407 challenge; a transaction timeout is a 408), ``handle_unusable_answer``
(a 2xx whose SDP cannot be used), ``handle_cancel(now)`` (the caller gave up) and
``handle_timer(now)`` (the fork's no-answer timeout). Outputs: the returned commands and
``next_deadline()``. Branches are numbered by their target's position (0, 1, ...).

Decisions (§16.7 leaves room; what the switch does):
- The first 2xx wins: it is answered and every other branch still ringing is CANCELled; a
  2xx that comes later (another branch won, the fork failed, or the caller gave up) is
  ACKed and BYEd (`ByeBranch`), so no phone is left off-hook.
- A 6xx ends the fork at once (§16.7 step 5 asks to CANCEL the rest; the switch does not
  wait for their 487s): the person declined everywhere, the caller hears it now. A 2xx
  racing the CANCEL is then BYEd.
- Final answer when every branch failed: `best_response`, step 6 of §16.7 as the table
  `FINAL_RESPONSE_RULES` below. Responses to our own CANCELs (487) are not counted.
- No response at all before the fork's timeout: 408 Request Timeout (step 6: "If there are
  no final responses in the context, the proxy MUST send a 408"); the timeout answers 408
  even when some branches had already failed (the caller waited the whole ring time).
- Nothing to ring (``start([])``): 480 Temporarily Unavailable, what every shell answered
  for an extension with no registered phone.
- A target with credentials (a trunk: softswitch.trunks) answers ONE 401/407 with them
  (`Authenticate`); a second challenge, or one from a target without credentials, is that
  branch's failure. The switch never forwards a 401/407 to its caller: the challenge is for
  the switch's request and the caller's credentials are the switch's, not the provider's;
  it becomes 403 Forbidden.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from softswitch.log import get_logger

log = get_logger("calls")


# ---------------------------------------------------------------- the final-response table

# §16.7 step 6: a response the switch does not pass on as it is ("A proxy which receives a
# 503 ... SHOULD NOT forward it upstream ... the proxy SHOULD generate a 500"; a challenge
# is the switch's own business, see the module docstring).
FORWARDED_AS: dict[int, int] = {503: 500, 401: 403, 407: 403}

# Within the chosen class the switch prefers, in this order (§16.7 step 6: "give preference
# to responses that provide information affecting resubmission of this request, such as
# ... 415, 420, and 484"; then what tells the caller most about the callee: somebody is
# busy, the person is unavailable), then the lowest other code, and the 408 of a phone that
# never answered last (a timeout says nothing about the callee).
PREFERRED: tuple[int, ...] = (415, 420, 484, 486, 480)
LEAST_PREFERRED: tuple[int, ...] = (487, 408)

NOTHING_TO_RING = 480
NO_RESPONSE = 408

# The rules as a table: branch results -> what the caller gets. tests/calls/test_fork.py
# checks each row against `best_response` and against a fork driven branch by branch.
FINAL_RESPONSE_RULES: tuple[tuple[tuple[int, ...], int, str], ...] = (
    ((), NO_RESPONSE, "no final response at all (every branch timed out): 408"),
    ((480, 408), 480, "unavailable beats a phone that never answered"),
    ((408, 480), 480, "... in any order"),
    ((603,), 603, "a decline is passed on"),
    ((486, 603), 603, "6xx wins over everything"),
    ((600, 486), 600, "6xx wins over busy"),
    ((503,), 500, "503 is never forwarded: 500"),
    ((503, 480), 480, "4xx is a lower class than 5xx"),
    ((404, 480), 480, "unavailable beats not found"),
    ((404, 500), 404, "lowest class: 4xx before 5xx"),
    ((486, 480), 486, "busy beats unavailable"),
    ((480, 486, 408), 486, "busy beats the rest of 4xx"),
    ((302, 486), 302, "3xx before 4xx"),
    ((484, 486), 484, "resubmission information first (address incomplete)"),
    ((415, 486), 415, "resubmission information first (unsupported media)"),
    ((404, 403), 403, "otherwise the lowest code in the class"),
    ((407,), 403, "an unanswered challenge is not forwarded: 403"),
    ((502, 503), 500, "only 5xx: lowest after 503 -> 500"),
)


def best_response(statuses: Sequence[int]) -> int:
    """RFC 3261 §16.7 step 6: the final response the caller gets when every branch failed
    with ``statuses`` (final, non-2xx, 487s of our own CANCELs excluded); see the table."""
    if not statuses:
        return NO_RESPONSE
    six = [s for s in statuses if s >= 600]
    if six:
        return six[0]  # "MUST choose from the 6xx class": the first one received
    forwarded = [FORWARDED_AS.get(s, s) for s in statuses]
    lowest_class = min(s // 100 for s in forwarded)
    in_class = [s for s in forwarded if s // 100 == lowest_class]
    for code in PREFERRED:
        if code in in_class:
            return code
    others = [s for s in in_class if s not in LEAST_PREFERRED]
    if others:
        return min(others)
    for code in LEAST_PREFERRED[::-1]:
        if code in in_class:
            return code
    return min(in_class)


# ---------------------------------------------------------------- inputs and outputs


@dataclass(frozen=True, slots=True)
class ForkTarget:
    """One contact to ring; ``credentials``: a trunk whose username/password answer one
    401/407 (softswitch.trunks)."""

    credentials: bool = False


@dataclass(frozen=True, slots=True)
class SendInvite:
    branch: int


@dataclass(frozen=True, slots=True)
class Progress:
    """A 18x on ``branch`` while the fork is undecided: relay it (the phone rings)."""

    branch: int
    status: int


@dataclass(frozen=True, slots=True)
class CancelBranch:
    branch: int


@dataclass(frozen=True, slots=True)
class AnswerWith:
    """``branch`` answered first: connect the caller with it."""

    branch: int


@dataclass(frozen=True, slots=True)
class ByeBranch:
    """ACK (if not yet) and BYE a branch that answered after the fork was decided."""

    branch: int


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Resend ``branch``'s INVITE with the target's credentials (one challenge)."""

    branch: int


@dataclass(frozen=True, slots=True)
class ForkFailed:
    """Every branch failed (or the timeout): the caller gets ``status``. ``branch`` is the
    branch whose response was chosen (its Contact matters for a 3xx), None when the status
    is the switch's own (408 timeout, 480 nothing to ring, 500 for 503, 403 for 401/407)."""

    status: int
    branch: int | None = None


ForkCommand = (SendInvite | Progress | CancelBranch | AnswerWith | ByeBranch | Authenticate
               | ForkFailed)


class BranchState(enum.Enum):
    CALLING = "calling"  # INVITE sent (or resent with credentials), nothing back yet
    EARLY = "early"  # a 18x came back (early dialog)
    ANSWERED = "answered"  # a 2xx came back (the winner, or one that is BYEd)
    FAILED = "failed"  # a final non-2xx (or a transaction timeout)
    CANCELLING = "cancelling"  # we sent CANCEL; its final response is not counted


_LIVE = (BranchState.CALLING, BranchState.EARLY)


class ForkState(enum.Enum):
    IDLE = "idle"
    CALLING = "calling"  # INVITEs out, undecided
    ANSWERED = "answered"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the caller gave up


@dataclass
class Fork:
    """One forked INVITE (see the module docstring). ``timeout``: seconds from `start`
    until the fork gives up with 408 (None: the owner stops it with `handle_cancel`)."""

    timeout: float | None = None
    name: str = ""  # for log lines: the call or offer this fork belongs to
    state: ForkState = ForkState.IDLE
    branches: dict[int, BranchState] = field(default_factory=dict)
    responses: dict[int, int] = field(default_factory=dict)  # counted final statuses
    winner: int | None = None
    final: int | None = None
    _credentials: set[int] = field(default_factory=set)
    _deadline: float | None = None

    def _set_state(self, state: ForkState, why: str) -> None:
        log.debug("fork state", fork=self.name, old=self.state.value, new=state.value,
                  why=why)
        self.state = state

    @property
    def undecided(self) -> bool:
        """Still ringing: a 2xx now would win."""
        return self.state is ForkState.CALLING

    def next_deadline(self) -> float | None:
        return self._deadline if self.state is ForkState.CALLING else None

    # -- inputs

    def start(self, targets: Sequence[ForkTarget], now: float) -> list[ForkCommand]:
        if self.state is not ForkState.IDLE:
            raise RuntimeError("a fork starts once")
        if not targets:
            self.final = NOTHING_TO_RING
            self._set_state(ForkState.FAILED, "nothing to ring")
            return [ForkFailed(NOTHING_TO_RING)]
        for i, target in enumerate(targets):
            self.branches[i] = BranchState.CALLING
            if target.credentials:
                self._credentials.add(i)
        if self.timeout is not None:
            self._deadline = now + self.timeout
        self._set_state(ForkState.CALLING, f"forked to {len(targets)} target(s)")
        return [SendInvite(i) for i in range(len(targets))]

    def handle_response(self, branch: int, status: int, now: float) -> list[ForkCommand]:
        st = self.branches.get(branch)
        if st is None or status <= 100:
            return []
        if status < 200:
            if st is BranchState.CALLING:
                self.branches[branch] = BranchState.EARLY
            live = self.branches[branch] in _LIVE
            return [Progress(branch, status)] if self.undecided and live else []
        if status < 300:
            return self._answered(branch, now)
        if status in (401, 407) and self.undecided and st in _LIVE \
                and branch in self._credentials:
            self._credentials.discard(branch)  # one challenge, not a loop
            self.branches[branch] = BranchState.CALLING
            return [Authenticate(branch)]
        return self._failed(branch, status, now)

    def handle_unusable_answer(self, branch: int, now: float) -> list[ForkCommand]:
        """A 2xx without a usable SDP answer (RFC 3264 §6: no common codec): that phone is
        hung up and its branch counts as failed with 488 Not Acceptable Here."""
        if self.branches.get(branch) not in _LIVE:
            return []
        self.branches[branch] = BranchState.ANSWERED
        return [ByeBranch(branch), *self._count_failure(branch, 488, now)]

    def handle_cancel(self, now: float) -> list[ForkCommand]:
        """The caller gave up (CANCEL, BYE on the early dialog, the ACD stopped ringing, the
        switch stops): CANCEL every live branch. No `ForkFailed`: the owner answers."""
        if self.state is not ForkState.CALLING:
            return []
        self._set_state(ForkState.CANCELLED, "caller gave up")
        return self._cancel_live()

    def handle_timer(self, now: float) -> list[ForkCommand]:
        if self.state is not ForkState.CALLING or self._deadline is None \
                or now < self._deadline:
            return []
        self.final = NO_RESPONSE
        self._set_state(ForkState.FAILED, "no answer in time")
        return [*self._cancel_live(), ForkFailed(NO_RESPONSE)]

    # -- the rules

    def _cancel_live(self) -> list[ForkCommand]:
        out: list[ForkCommand] = []
        for b, st in self.branches.items():
            if st in _LIVE:
                self.branches[b] = BranchState.CANCELLING
                out.append(CancelBranch(b))
        return out

    def _answered(self, branch: int, now: float) -> list[ForkCommand]:
        st = self.branches[branch]
        if st is BranchState.ANSWERED:
            return []  # a 2xx retransmission
        self.branches[branch] = BranchState.ANSWERED
        if not self.undecided:
            return [ByeBranch(branch)]  # too late: another won, or the fork is over
        self.winner = branch
        self.final = 200
        self._set_state(ForkState.ANSWERED, f"answered on branch {branch}")
        return [AnswerWith(branch), *self._cancel_live()]

    def _failed(self, branch: int, status: int, now: float) -> list[ForkCommand]:
        st = self.branches[branch]
        if st in (BranchState.FAILED, BranchState.ANSWERED):
            return []  # a retransmission, or a final after an answer
        if st is BranchState.CANCELLING:
            self.branches[branch] = BranchState.FAILED
            return []  # the 487 (or a crossing final) of our own CANCEL: not counted
        self.branches[branch] = BranchState.FAILED
        return self._count_failure(branch, status, now)

    def _count_failure(self, branch: int, status: int, now: float) -> list[ForkCommand]:
        if not self.undecided:
            return []
        self.responses[branch] = status
        if status >= 600:
            return self._fail(status, branch, f"{status} on branch {branch}")
        if any(st in _LIVE for st in self.branches.values()):
            return []
        code = best_response(list(self.responses.values()))
        chosen = next((b for b, s in self.responses.items() if s == code), None)
        return self._fail(code, chosen, "every branch failed")

    def _fail(self, status: int, branch: int | None, why: str) -> list[ForkCommand]:
        self.final = status
        self._set_state(ForkState.FAILED, why)
        return [*self._cancel_live(), ForkFailed(status, branch)]
