"""The one fork of the switch (softswitch.calls.fork), in explicit time: which final answer
the caller gets for which branch results (RFC 3261 §16.7 step 6), who is CANCELled and who
is BYEd, and the one trunk challenge."""

from __future__ import annotations

import pytest
from sip_doubles import Endpoint, Leg

from softswitch.calls.control import CallControl, RejectCaller
from softswitch.calls.fork import (
    FINAL_RESPONSE_RULES,
    AnswerWith,
    Authenticate,
    ByeBranch,
    CancelBranch,
    Fork,
    ForkFailed,
    ForkState,
    ForkTarget,
    Progress,
    SendInvite,
    best_response,
)
from softswitch.clock import VirtualClock
from softswitch.queue.dialer import Dialer, OutboundCall
from softswitch.registrar import Binding
from softswitch.sip import new_call_id

# branch results -> the caller's final response; the rows the team's issue named first
TABLE = [
    ((480, 408), 480),
    ((408, 480), 480),
    ((603,), 603),
    ((486, 603), 603),
    ((503,), 500),
    ((404, 480), 480),
    ((486, 480), 486),
    ((404, 500), 404),
    ((302, 486), 302),
    ((407,), 403),
]


@pytest.mark.parametrize(("results", "final"), TABLE + [
    (results, final) for results, final, _ in FINAL_RESPONSE_RULES if results])
def test_branch_results_give_one_final_response(results: tuple[int, ...], final: int) -> None:
    assert best_response(results) == final
    # the same through a fork, one branch at a time (a 6xx ends it early)
    fork = Fork()
    assert fork.start([ForkTarget()] * len(results), 0.0) == [
        SendInvite(i) for i in range(len(results))]
    out = []
    for i, status in enumerate(results):
        out += fork.handle_response(i, status, 1.0 + i)
    failed = [c for c in out if isinstance(c, ForkFailed)]
    assert [f.status for f in failed] == [final]
    assert fork.state is ForkState.FAILED and fork.final == final


def test_the_table_rules_are_the_function() -> None:
    for results, final, why in FINAL_RESPONSE_RULES:
        assert best_response(results) == final, why


def test_no_response_before_the_timeout_is_408_and_every_branch_is_cancelled() -> None:
    fork = Fork(timeout=30.0)
    fork.start([ForkTarget(), ForkTarget()], 10.0)
    assert fork.handle_response(0, 180, 11.0) == [Progress(0, 180)]
    assert fork.next_deadline() == 40.0
    assert fork.handle_timer(39.9) == []
    assert fork.handle_timer(40.0) == [CancelBranch(0), CancelBranch(1), ForkFailed(408)]
    assert fork.next_deadline() is None
    # the 487s of our CANCELs change nothing
    assert fork.handle_response(0, 487, 40.1) == [] and fork.final == 408
    assert best_response([]) == 408


def test_nothing_to_ring_is_480() -> None:
    fork = Fork()
    assert fork.start([], 0.0) == [ForkFailed(480)]


def test_first_2xx_wins_the_others_are_cancelled_a_second_2xx_is_hung_up() -> None:
    fork = Fork()
    fork.start([ForkTarget()] * 3, 0.0)
    fork.handle_response(1, 180, 0.5)
    assert fork.handle_response(2, 200, 1.0) == [AnswerWith(2), CancelBranch(0),
                                                  CancelBranch(1)]
    assert fork.winner == 2
    # two 2xx: branch 0 answered as our CANCEL crossed it
    assert fork.handle_response(0, 200, 1.1) == [ByeBranch(0)]
    assert fork.handle_response(0, 200, 1.2) == []  # its retransmission
    assert fork.handle_response(1, 487, 1.3) == []
    assert fork.handle_response(2, 200, 1.4) == []  # the winner's retransmission
    assert fork.state is ForkState.ANSWERED


def test_a_2xx_after_a_6xx_is_hung_up_and_the_caller_keeps_the_decline() -> None:
    fork = Fork()
    fork.start([ForkTarget()] * 2, 0.0)
    assert fork.handle_response(0, 603, 1.0) == [CancelBranch(1), ForkFailed(603, 0)]
    assert fork.handle_response(1, 200, 1.1) == [ByeBranch(1)]
    assert fork.final == 603 and fork.winner is None


def test_failures_wait_for_the_branches_still_ringing() -> None:
    fork = Fork()
    fork.start([ForkTarget()] * 2, 0.0)
    assert fork.handle_response(0, 486, 1.0) == []
    assert fork.handle_response(1, 180, 1.5) == [Progress(1, 180)]
    assert fork.handle_response(1, 480, 2.0) == [ForkFailed(486, 0)]
    assert fork.handle_response(1, 480, 2.1) == []  # a retransmission


def test_the_caller_giving_up_cancels_and_a_late_answer_is_hung_up() -> None:
    fork = Fork()
    fork.start([ForkTarget()] * 2, 0.0)
    fork.handle_response(0, 183, 0.5)
    assert fork.handle_cancel(1.0) == [CancelBranch(0), CancelBranch(1)]
    assert fork.state is ForkState.CANCELLED
    assert fork.handle_cancel(1.1) == []
    assert fork.handle_response(1, 200, 1.2) == [ByeBranch(1)]
    assert fork.handle_response(0, 487, 1.3) == []
    assert fork.handle_response(0, 180, 1.3) == []  # no ringing after the end


def test_a_trunk_challenge_is_answered_once() -> None:
    fork = Fork()
    fork.start([ForkTarget(credentials=True)], 0.0)
    assert fork.handle_response(0, 407, 0.1) == [Authenticate(0)]
    # refused again (wrong password): that is the branch's failure, never forwarded
    assert fork.handle_response(0, 401, 0.2) == [ForkFailed(403, None)]


def test_a_challenge_from_a_phone_without_credentials_is_a_failure() -> None:
    fork = Fork()
    fork.start([ForkTarget(), ForkTarget(credentials=True)], 0.0)
    assert fork.handle_response(0, 401, 0.1) == []
    assert fork.handle_response(1, 401, 0.1) == [Authenticate(1)]
    assert fork.handle_response(1, 200, 0.3) == [AnswerWith(1)]


def test_an_unusable_answer_is_hung_up_and_counts_as_488() -> None:
    fork = Fork()
    fork.start([ForkTarget()] * 2, 0.0)
    assert fork.handle_unusable_answer(0, 1.0) == [ByeBranch(0)]
    assert fork.handle_response(1, 486, 1.5) == [ForkFailed(486, 1)]
    fork = Fork()
    fork.start([ForkTarget()], 0.0)
    assert fork.handle_unusable_answer(0, 1.0) == [ByeBranch(0), ForkFailed(488, 0)]


def test_a_fork_starts_once() -> None:
    fork = Fork()
    fork.start([ForkTarget()], 0.0)
    with pytest.raises(RuntimeError):
        fork.start([ForkTarget()], 1.0)


# ------------------------------------------------------------------ the same answer everywhere


def _queue_dialer_final(results: tuple[int, ...]) -> int | None:
    """What the queue's dialer tells its owner (an agent offer, a callback, a transfer)."""
    endpoint = Endpoint()
    dialer = Dialer(endpoint, "pbx.test", "test", {}, VirtualClock())
    got: list[int] = []
    call = OutboundCall("2000", Leg(), on_answered=lambda c: None,
                        on_failed=lambda c, status: got.append(status))
    targets = [Binding("2000", f"sip:2000@127.0.0.1:{7000 + i}", 3600.0, new_call_id(), 1,
                       "127.0.0.1", 7000 + i, "udp") for i in range(len(results))]
    dialer.start(call, targets, from_user="5550001", display="Sales: 5550001")
    for out, status in zip(endpoint.sent, results, strict=True):
        out.reply(status)
    return got[0] if got else None


def _extension_call_final(results: tuple[int, ...]) -> int | None:
    """What an extension caller gets from the B2BUA's call control."""
    control = CallControl("c1", "1001", "1002", start=0.0)
    control.handle_branches_started(list(range(len(results))), 0.0)
    rejects = [c.status for i, status in enumerate(results)
               for c in control.handle_failure(i, status, 1.0) if isinstance(c, RejectCaller)]
    return rejects[0] if rejects else None


@pytest.mark.parametrize(("results", "final"), TABLE)
def test_extension_calls_and_queue_calls_give_the_same_final_answer(
        results: tuple[int, ...], final: int) -> None:
    assert _extension_call_final(results) == _queue_dialer_final(results) == final
