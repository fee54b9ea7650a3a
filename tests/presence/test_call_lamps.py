"""Extension BLF lamps from the event stream (softswitch.presence.call_lamps), sans-IO."""

from __future__ import annotations

from acd.events import (
    CallbackRequested,
    CallStatus,
    LeaveReason,
    OfferEnded,
    OfferResult,
    OfferStarted,
    TaskJoined,
    TaskLeft,
)
from acd.events import CallEnded as QueueCallEnded
from softswitch.calls.events import CallAnswered, CallHoldChanged, CallRinging, CallStarted
from softswitch.calls.events import CallEnded as ExtensionCallEnded
from softswitch.presence.call_lamps import CallLamps


def lamps() -> CallLamps:
    return CallLamps(["1001", "1002", "1003"], "pbx.test", call_queues=["6400"])


def seen(changes: list) -> list[tuple[str, str | None, str | None, str | None]]:
    """(extension, state, direction, remote) per change; None state: the dialog is gone."""
    return [(c.extension, c.call.state.value if c.call else None,
             c.call.direction if c.call else None, c.call.remote_uri if c.call else None)
            for c in changes]


def ended(at: float, call_id: str, caller: str, callee: str) -> ExtensionCallEnded:
    return ExtensionCallEnded(at, call_id, caller, callee, "answered", "caller", "bye", 200,
                              10.0, 8.0)


def test_extension_call_dialling_ringing_talking_and_gone() -> None:
    lp = lamps()
    assert seen(lp.handle(CallStarted(0.0, "c1", "1001", "1002", "extension"))) == [
        ("1001", "trying", "initiator", "sip:1002@pbx.test")]
    assert seen(lp.handle(CallRinging(0.1, "c1", "1001", "1002", "extension"))) == [
        ("1001", "early", "initiator", "sip:1002@pbx.test"),
        ("1002", "early", "recipient", "sip:1001@pbx.test")]
    assert seen(lp.handle(CallAnswered(2.0, "c1", "1001", "1002"))) == [
        ("1001", "confirmed", "initiator", "sip:1002@pbx.test"),
        ("1002", "confirmed", "recipient", "sip:1001@pbx.test")]
    assert seen(lp.handle(ended(10.0, "c1", "1001", "1002"))) == [
        ("1001", None, None, None), ("1002", None, None, None)]
    assert lp.handle(ended(10.0, "c1", "1001", "1002")) == []  # once only


def test_hold_by_either_side_shows_held_on_both_keys() -> None:
    lp = lamps()
    lp.handle(CallStarted(0.0, "c1", "1001", "1002", "extension"))
    lp.handle(CallAnswered(1.0, "c1", "1001", "1002"))
    assert seen(lp.handle(CallHoldChanged(2.0, "c1", "1001", "1002", "caller", True))) == [
        ("1001", "held", "initiator", "sip:1002@pbx.test"),
        ("1002", "held", "recipient", "sip:1001@pbx.test")]
    lp.handle(CallHoldChanged(3.0, "c1", "1001", "1002", "callee", True))
    # the caller resumes, the callee still holds: still held
    assert [s for _, s, _, _ in seen(lp.handle(
        CallHoldChanged(4.0, "c1", "1001", "1002", "caller", False)))] == ["held", "held"]
    assert [s for _, s, _, _ in seen(lp.handle(
        CallHoldChanged(5.0, "c1", "1001", "1002", "callee", False)))] == ["confirmed", "confirmed"]


def test_answered_without_ringing_and_parties_that_are_not_extensions() -> None:
    lp = lamps()
    # an outside caller (trunk) to 1003, answered at once: only 1003 lights, confirmed
    assert lp.handle(CallStarted(0.0, "t1", "5551234", "1003", "extension")) == []
    assert seen(lp.handle(CallAnswered(0.5, "t1", "5551234", "1003"))) == [
        ("1003", "confirmed", "recipient", "sip:5551234@pbx.test")]
    # 1001 calls out through a trunk: the number rung is not an extension
    lp.handle(CallStarted(1.0, "o1", "1001", "900441234", "external"))
    assert seen(lp.handle(CallRinging(1.2, "o1", "1001", "441234", "external"))) == [
        ("1001", "early", "initiator", "sip:900441234@pbx.test")]
    # a call that fails before ringing (404, 480): the caller's dialog goes
    lp.handle(CallStarted(2.0, "f1", "1002", "1999", "not_found"))
    assert seen(lp.handle(ended(2.0, "f1", "1002", "1999"))) == [("1002", None, None, None)]


def test_queue_call_agents_rung_one_answers_then_call_ends() -> None:
    lp = lamps()
    assert seen(lp.handle(TaskJoined(0.0, "q1", "6400", "1001", 1))) == [
        ("1001", "confirmed", "initiator", "sip:6400@pbx.test")]
    assert seen(lp.handle(OfferStarted(1.0, "q1", "6400", ("1002", "1003")))) == [
        ("1002", "early", "recipient", "sip:1001@pbx.test"),
        ("1003", "early", "recipient", "sip:1001@pbx.test")]
    assert seen(lp.handle(OfferEnded(4.0, "q1", "6400", "1002", OfferResult.ANSWERED, 3.0))) \
        == [("1002", "confirmed", "recipient", "sip:1001@pbx.test")]
    assert seen(lp.handle(OfferEnded(4.0, "q1", "6400", "1003", OfferResult.CANCELLED,
                                     3.0))) == [("1003", None, None, None)]
    assert lp.handle(TaskLeft(4.0, "q1", "6400", CallStatus.ANSWERED, LeaveReason.ANSWERED,
                              4.0, "1002")) == []  # still talking
    assert seen(lp.handle(QueueCallEnded(60.0, "q1", "6400", "1002", 56.0))) == [
        ("1002", None, None, None), ("1001", None, None, None)]


def test_a_held_queue_call_blinks_the_agents_key_as_a_held_extension_call_does() -> None:
    """The one hold event: the agent (callee of the queue call) holds an outside caller,
    then the caller holds; the agent's key shows held exactly like an extension call's."""
    lp = lamps()
    lp.handle(CallStarted(0.0, "c1", "1001", "1002", "extension"))
    lp.handle(CallAnswered(1.0, "c1", "1001", "1002"))
    extension_held = seen(lp.handle(CallHoldChanged(2.0, "c1", "1001", "1002", "callee",
                                                    True)))
    assert ("1002", "held", "recipient", "sip:1001@pbx.test") in extension_held

    lp.handle(TaskJoined(10.0, "q1", "6400", "5550001", 1))  # an outside caller: no lamp
    lp.handle(OfferStarted(11.0, "q1", "6400", ("1003",)))
    lp.handle(OfferEnded(14.0, "q1", "6400", "1003", OfferResult.ANSWERED, 3.0))
    assert seen(lp.handle(CallHoldChanged(20.0, "q1", "5550001", "1003", "callee", True,
                                          queue="6400"))) == [
        ("1003", "held", "recipient", "sip:5550001@pbx.test")]
    lp.handle(CallHoldChanged(21.0, "q1", "5550001", "1003", "caller", True, queue="6400"))
    # the agent resumes while the caller still holds: still held; then talking again
    assert [s for _, s, _, _ in seen(lp.handle(CallHoldChanged(
        22.0, "q1", "5550001", "1003", "callee", False, queue="6400")))] == ["held"]
    assert seen(lp.handle(CallHoldChanged(23.0, "q1", "5550001", "1003", "caller", False,
                                          queue="6400"))) == [
        ("1003", "confirmed", "recipient", "sip:5550001@pbx.test")]
    # held when it ends: the lamp goes, and a later call with the same task id starts clean
    lp.handle(CallHoldChanged(30.0, "q1", "5550001", "1003", "callee", True, queue="6400"))
    assert seen(lp.handle(QueueCallEnded(40.0, "q1", "6400", "1003", 26.0))) == [
        ("1003", None, None, None)]
    assert lp._held.get("q1") is None


def test_queue_caller_leaving_unanswered_or_for_a_callback_and_missed_offers() -> None:
    lp = lamps()
    lp.handle(TaskJoined(0.0, "q1", "6400", "1001", 1))
    lp.handle(OfferStarted(1.0, "q1", "6400", ("1002",)))
    assert seen(lp.handle(OfferEnded(11.0, "q1", "6400", "1002", OfferResult.TIMED_OUT,
                                     10.0))) == [("1002", None, None, None)]
    assert seen(lp.handle(TaskLeft(12.0, "q1", "6400", CallStatus.ABANDONED,
                                   LeaveReason.ABANDONED, 12.0))) == [("1001", None, None,
                                                                       None)]
    # a callback: the caller's lamp goes when the request is taken; the agent's follows
    # the callback's offer and call
    lp.handle(TaskJoined(20.0, "q2", "6400", "1003", 1))
    assert seen(lp.handle(CallbackRequested(25.0, "q2", "6400", "1003"))) == [
        ("1003", None, None, None)]
    assert seen(lp.handle(OfferStarted(30.0, "q2", "6400", ("1002",)))) == [
        ("1002", "early", "recipient", "sip:1003@pbx.test")]


def test_message_queue_sessions_light_nothing() -> None:
    lp = lamps()
    assert lp.handle(TaskJoined(0.0, "chat1", "7000", "1001", 1)) == []
    assert lp.handle(OfferStarted(1.0, "chat1", "7000", ("1002",))) == []
    assert lp.handle(QueueCallEnded(9.0, "chat1", "7000", "1002", 8.0)) == []
