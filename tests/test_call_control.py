"""B2BUA call control (softswitch.calls.control) in virtual time."""

from __future__ import annotations

from softswitch.calls.control import (
    AnswerCaller,
    ByeBranch,
    CallControl,
    CallFinished,
    CallState,
    CancelBranch,
    RejectCaller,
    SendBye,
    SendInvite,
    SendProvisional,
    Side,
)


def call(timeout: float = 30.0) -> CallControl:
    return CallControl("cid", "1001", "1002", start=10.0, no_answer_timeout=timeout)


def finished(cmds: list) -> CallFinished:
    (f,) = [c for c in cmds if isinstance(c, CallFinished)]
    return f


def test_ring_answer_bye_from_callee() -> None:
    c = call()
    assert c.handle_branches_started([0], 10.0) == [SendInvite(0)]
    assert c.handle_provisional(0, 100, 10.1) == []
    assert c.handle_provisional(0, 180, 10.2) == [SendProvisional(180, 0)]
    assert c.state is CallState.RINGING
    assert c.handle_answer(0, 14.0) == [AnswerCaller(0)]
    assert c.state is CallState.CONNECTED and c.next_deadline() is None
    cmds = c.handle_bye(Side.CALLEE, 74.0)
    assert cmds[0] == SendBye(Side.CALLER)
    f = finished(cmds)
    assert (f.disposition, f.hangup_side, f.answer, f.end) == ("ANSWERED", Side.CALLEE, 14.0,
                                                               74.0)
    assert c.handle_bye(Side.CALLER, 75.0) == []  # a crossing BYE changes nothing


def test_forking_first_answer_wins_others_cancelled_late_answer_hung_up() -> None:
    c = call()
    c.handle_branches_started([0, 1, 2], 10.0)
    c.handle_provisional(2, 180, 10.5)
    cmds = c.handle_answer(0, 12.0)
    assert cmds == [AnswerCaller(0), CancelBranch(1), CancelBranch(2)]
    # branch 1 answered at the same time as the CANCEL crossed it
    assert c.handle_answer(1, 12.1) == [ByeBranch(1)]
    # the 487 of the cancelled branch does not end or change the call
    assert c.handle_failure(2, 487, 12.2) == [] and c.state is CallState.CONNECTED


def test_caller_cancel_while_ringing() -> None:
    c = call()
    c.handle_branches_started([0, 1], 10.0)
    c.handle_provisional(0, 180, 10.5)
    cmds = c.handle_cancel(13.0)
    assert cmds[:3] == [CancelBranch(0), CancelBranch(1), RejectCaller(487,
                                                                       "Request Terminated")]
    f = finished(cmds)
    assert (f.disposition, f.hangup_side, f.sip_code, f.end - f.start) == \
        ("CANCELLED", Side.CALLER, 487, 3.0)
    assert c.handle_failure(0, 487, 13.1) == []


def test_no_answer_timeout_in_virtual_time() -> None:
    c = call(timeout=20.0)
    c.handle_branches_started([0], 10.0)
    c.handle_provisional(0, 180, 11.0)
    assert c.next_deadline() == 30.0
    assert c.handle_timer(29.9) == []
    cmds = c.handle_timer(30.0)
    assert cmds[:2] == [CancelBranch(0), RejectCaller(408, "No Answer")]
    assert finished(cmds).disposition == "NO ANSWER"


def test_busy_and_failures_pick_the_best_response() -> None:
    """The choice itself is the fork's table (tests/calls/test_fork.py)."""
    c = call()
    c.handle_branches_started([0, 1], 10.0)
    assert c.handle_failure(0, 486, 11.0) == []  # another branch still rings
    cmds = c.handle_failure(1, 480, 11.5)
    assert cmds[0] == RejectCaller(486, branch=0)
    assert finished(cmds).disposition == "BUSY"
    c = call()
    c.handle_branches_started([0, 1], 10.0)
    c.handle_failure(0, 480, 11.0)
    assert finished(c.handle_failure(1, 408, 12.0)).sip_code == 480


def test_decline_6xx_ends_the_fork() -> None:
    c = call()
    c.handle_branches_started([0, 1], 10.0)
    cmds = c.handle_failure(0, 603, 11.0)
    assert cmds[:2] == [CancelBranch(1), RejectCaller(603, branch=0)]
    assert finished(cmds).disposition == "BUSY"


def test_route_failure_and_shutdown() -> None:
    c = call()
    cmds = c.handle_route_failed(404, "Not Found", 10.0)
    assert cmds[0] == RejectCaller(404, "Not Found") and finished(cmds).disposition == "FAILED"
    c = call()
    c.handle_branches_started([0], 10.0)
    c.handle_answer(0, 11.0)
    cmds = c.handle_shutdown(20.0)
    assert cmds[:2] == [SendBye(Side.CALLER), SendBye(Side.CALLEE)]
    assert finished(cmds).hangup_side is Side.SWITCH
    c = call()
    c.handle_branches_started([0], 10.0)
    cmds = c.handle_shutdown(12.0)
    assert cmds[:2] == [CancelBranch(0), RejectCaller(503, "Service Unavailable")]


def test_an_adopted_caller_starts_connected_and_answered() -> None:
    """A party another shell answered (a parked queue caller): connected at once, nothing
    to send, its record answered then; a second adoption or a late route changes nothing;
    the caller's BYE ends it ANSWERED."""
    c = call()
    assert c.handle_adopted(12.0) == []
    assert (c.state, c.answer, c.next_deadline()) == (CallState.CONNECTED, 12.0, None)
    assert c.handle_adopted(13.0) == [] and c.answer == 12.0
    assert c.handle_route_failed(404, "Not Found", 13.0) == []
    f = finished(c.handle_bye(Side.CALLER, 20.0))
    assert (f.disposition, f.hangup_side, f.answer, f.end) == ("ANSWERED", Side.CALLER, 12.0,
                                                               20.0)
