"""Callbacks (queue-admin.md §4, §9.3; behaviours §15.37-§15.44)."""

import pytest
from acd_helpers import make, of_type, queue, ring_of, rung

from acd import AcdConfigError
from acd.commands import (
    CollectCallbackNumber,
    DialCustomer,
    EndCallbackDialogue,
    HangUp,
    RingAgents,
    RouteTask,
)
from acd.events import (
    CallbackFailed,
    CallbackFailureReason,
    CallbackRequested,
    CallbackSucceeded,
    CallStatus,
    LeaveReason,
    TaskLeft,
)

PRESS_1 = {"method": "press_key", "key": "1", "outbound_prefix": "9"}


def _busy_queue(callback: dict[str, object], **kw: object):  # type: ignore[no-untyped-def]
    acd = make(queue(static_agents=["1001"], callback=callback, **kw))
    acd.handle_device_busy("1001", 0.0)
    return acd


def test_callback_key_conflicting_with_key_press_event_is_rejected() -> None:
    """§15.37."""
    with pytest.raises(AcdConfigError) as exc:
        make(queue(static_agents=["1001"], callback=PRESS_1,
                   key_press_events=[{"key": "1", "destination": {"type": "hangup"}}]))
    assert exc.value.path == ("queues", 0, "callback", "key")


def test_auto_timeout_must_not_exceed_max_wait() -> None:
    """§15.38: timeout 120 with max wait 60 rejected; 60 accepted."""
    with pytest.raises(AcdConfigError) as exc:
        make(queue(static_agents=["1001"], max_wait=60,
                   callback={"method": "timeout", "timeout": 120}))
    assert exc.value.path == ("queues", 0, "callback", "timeout")
    make(queue(static_agents=["1001"], max_wait=60, callback={"method": "timeout",
                                                              "timeout": 60}))


def test_auto_mode_offers_the_callback_counted_from_queue_entry() -> None:
    """§15.38: the timer counts from entering the queue."""
    acd = _busy_queue({"method": "timeout", "timeout": 45})
    acd.handle_task_arrived("c1", "6400", 10.0, caller="5550100")
    assert acd.next_deadline() == 55.0
    out = acd.tick(55.0)
    assert of_type(out, CollectCallbackNumber) == [CollectCallbackNumber("c1", "5550100")]


def test_request_without_number_uses_the_callers_number_and_hangs_up() -> None:
    """§15.39, §15.41: default number, call hung up, position kept."""
    acd = _busy_queue(PRESS_1)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550100")
    acd.handle_task_arrived("c2", "6400", 1.0, caller="5550200")
    out = acd.handle_key_pressed("c1", "1", 5.0)
    assert of_type(out, CollectCallbackNumber)
    out = acd.handle_callback_number("c1", "", 9.0)
    assert of_type(out, HangUp) == [HangUp("c1")]
    assert of_type(out, CallbackRequested)[0].number == "5550100"
    assert acd.position("c1") == 1 and acd.position("c2") == 2


def test_four_digit_number_is_invalid_five_digits_accepted() -> None:
    """§15.40."""
    acd = _busy_queue(PRESS_1)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550100")
    acd.handle_key_pressed("c1", "1", 5.0)
    out = acd.handle_callback_number("c1", "1234#", 9.0)
    (failed,) = of_type(out, CallbackFailed)
    assert failed.reason is CallbackFailureReason.INVALID_NUMBER
    assert not of_type(out, HangUp)  # the caller keeps waiting on the line
    acd.handle_key_pressed("c1", "1", 12.0)
    out = acd.handle_callback_number("c1", "99999#", 15.0)
    assert of_type(out, CallbackRequested)[0].number == "99999"


def _requested(acd, task: str = "c1") -> None:  # type: ignore[no-untyped-def]
    acd.handle_task_arrived(task, "6400", 0.0, caller="5550100")
    acd.handle_key_pressed(task, "1", 5.0)
    acd.handle_callback_number(task, "", 9.0)


def test_agent_is_called_first_then_the_customer() -> None:
    """§15.42: agent idle -> agent rung; answers -> customer dialled; both -> Success."""
    acd = _busy_queue(PRESS_1)
    _requested(acd)
    out = acd.handle_device_idle("1001", 30.0)
    (ring,) = of_type(out, RingAgents)
    assert ring.agents == ("1001",) and ring.callback
    out = acd.handle_offer_answered("c1", "1001", 33.0)
    assert of_type(out, DialCustomer) == [DialCustomer("c1", "6400", "1001", "5550100", "9")]
    out = acd.handle_callback_connected("c1", 40.0)
    assert of_type(out, CallbackSucceeded)
    (left,) = of_type(out, TaskLeft)
    assert (left.status, left.reason, left.waited) == (CallStatus.ANSWERED,
                                                       LeaveReason.CALLBACK_SUCCEEDED, 40.0)
    acd.handle_call_ended("c1", 100.0)
    assert acd.member_state("1001", "6400").value == "idle"


def test_callback_timeout_without_idle_agent_terminates_the_request() -> None:
    """§15.43: default callback timeout = max wait, counted from joining the queue (the
    §8.7 fixture's requests end exactly 30 s / 3 min / 5 min after the call's time)."""
    acd = _busy_queue(PRESS_1, max_wait=300)
    _requested(acd)  # joined at 0, requested at 9
    assert not of_type(acd.tick(299.9), CallbackFailed)
    out = acd.tick(300.0)
    (failed,) = of_type(out, CallbackFailed)
    assert failed.reason is CallbackFailureReason.NO_IDLE_AGENT
    assert of_type(out, TaskLeft)[0].status is CallStatus.MISSED


def test_custom_callback_timeout() -> None:
    acd = _busy_queue({**PRESS_1, "callback_timeout": 120}, max_wait=300)
    _requested(acd)
    assert not of_type(acd.tick(119.0), CallbackFailed)
    assert of_type(acd.tick(120.0), CallbackFailed)


def test_request_after_the_callback_timeout_passed_is_kept_that_long_from_the_request() -> None:
    """The manual's screenshot: auto mode after 60 s, callback timeout = max wait = 60."""
    acd = _busy_queue({"method": "timeout", "timeout": 60}, max_wait=60)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550100")
    acd.tick(60.0)  # the callback is offered
    out = acd.handle_callback_number("c1", "", 64.0)
    assert of_type(out, CallbackRequested)[0].expires == 124.0
    assert not of_type(acd.tick(123.0), CallbackFailed)
    assert of_type(acd.tick(124.0), CallbackFailed)


def test_customer_does_not_answer() -> None:
    """§15.44."""
    acd = _busy_queue(PRESS_1)
    _requested(acd)
    acd.handle_device_idle("1001", 30.0)
    acd.handle_offer_answered("c1", "1001", 33.0)
    out = acd.handle_callback_failed("c1", CallbackFailureReason.CUSTOMER_NO_ANSWER, 60.0)
    assert of_type(out, CallbackFailed)[0].reason is CallbackFailureReason.CUSTOMER_NO_ANSWER
    assert acd.member_state("1001", "6400").value == "idle"


def test_agent_not_answering_a_callback_offer_is_a_missed_call_and_request_stays() -> None:
    acd = _busy_queue(PRESS_1, ring_timeout=15)
    _requested(acd)
    acd.handle_device_idle("1001", 30.0)
    out = acd.tick(45.0)
    assert not of_type(out, CallbackFailed)
    assert acd.position("c1") == 1
    assert rung(out) == [("1001",)]  # retry interval 0: rings again


def test_end_of_the_hung_up_caller_leg_keeps_the_request() -> None:
    acd = _busy_queue(PRESS_1)
    _requested(acd)
    assert not of_type(acd.handle_task_left("c1", 10.0), TaskLeft)
    assert acd.position("c1") == 1
    out = acd.handle_task_removed("c1", 11.0)
    assert of_type(out, TaskLeft)[0].reason is LeaveReason.REMOVED


# --- the callback dialogue never strands a caller ---------------------------------------


def test_silent_caller_hears_the_prompt_again_once_then_waits_with_their_place() -> None:
    acd = _busy_queue(PRESS_1)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550100")
    acd.handle_task_arrived("c2", "6400", 1.0, caller="5550200")
    acd.handle_key_pressed("c1", "1", 5.0)
    assert acd.next_deadline() == 20.0
    out = acd.tick(20.0)
    assert of_type(out, CollectCallbackNumber) == [CollectCallbackNumber("c1", "5550100")]
    out = acd.tick(35.0)
    assert of_type(out, EndCallbackDialogue) == [EndCallbackDialogue("c1")]
    assert not of_type(out, CollectCallbackNumber)
    assert acd.position("c1") == 1 and acd.position("c2") == 2
    # the agent frees: the caller who was in the dialogue is rung first
    out = acd.handle_device_idle("1001", 40.0)
    assert ring_of(out, "c1") == ("1001",)
    # and may press the callback key again
    acd.handle_offer_rejected("c1", "1001", 41.0)
    assert of_type(acd.handle_key_pressed("c1", "1", 42.0), CollectCallbackNumber)


def test_keys_in_the_dialogue_restart_the_silence_timer() -> None:
    acd = _busy_queue(PRESS_1)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550100")
    acd.handle_key_pressed("c1", "1", 5.0)
    acd.handle_key_pressed("c1", "2", 12.0)  # "enter another number": typing
    acd.handle_key_pressed("c1", "5", 25.0)
    assert acd.next_deadline() == 40.0
    out = acd.handle_callback_number("c1", "55555", 30.0)
    assert of_type(out, CallbackRequested)
    assert not of_type(acd.tick(60.0), CollectCallbackNumber)


def test_silent_caller_in_the_dialogue_is_rung_when_an_agent_frees_meanwhile() -> None:
    acd = _busy_queue(PRESS_1)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550100")
    acd.handle_key_pressed("c1", "1", 5.0)
    assert rung(acd.handle_device_idle("1001", 10.0)) == []  # not over the dialogue
    out = acd.tick(35.0)
    assert of_type(out, EndCallbackDialogue) and ring_of(out, "c1") == ("1001",)


def test_silent_caller_fails_over_at_max_wait() -> None:
    """Engine probe of the bug: max wait 60, a silent caller was still waiting at 6,000 s."""
    acd = _busy_queue(PRESS_1, max_wait=60)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550100")
    acd.handle_key_pressed("c1", "1", 5.0)
    out = acd.tick(35.0)
    assert of_type(out, EndCallbackDialogue)
    out = acd.tick(60.0)
    (left,) = of_type(out, TaskLeft)
    assert (left.reason, left.waited) == (LeaveReason.MAX_WAIT, 60.0)
    assert of_type(out, RouteTask)


def test_max_wait_passing_during_the_dialogue_fails_over_when_it_ends() -> None:
    acd = _busy_queue({"method": "timeout", "timeout": 50}, max_wait=60)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550100")
    assert of_type(acd.tick(50.0), CollectCallbackNumber)  # auto mode offers at 50
    assert not of_type(acd.tick(60.0), TaskLeft)  # mid-dialogue: not cut off
    out = acd.tick(80.0)
    assert [left.reason for left in of_type(out, TaskLeft)] == [LeaveReason.MAX_WAIT]
    assert acd.position("c1") is None


# --- restore after a restart -------------------------------------------------------------


def test_restored_callbacks_keep_their_order_ahead_of_new_callers_and_are_served() -> None:
    acd = make(queue(static_agents=["1001"], callback=PRESS_1))
    acd.handle_device_busy("1001", 100.0)
    out = acd.restore_callback("old2", "6400", 100.0, caller="5550200", number="55502",
                               joined=40.0, expires=400.0)
    assert not out.events  # agent busy: nothing happens, and nothing is "new"
    acd.restore_callback("old1", "6400", 100.0, caller="5550100", number="55501",
                         joined=30.0, expires=400.0)
    acd.handle_task_arrived("new", "6400", 101.0, caller="5550300")
    assert [acd.position(t) for t in ("old2", "old1", "new")] == [1, 2, 3]
    assert acd.statistics("6400", 101.0).waiting == 3
    out = acd.handle_device_idle("1001", 110.0)
    (ring,) = of_type(out, RingAgents)
    assert (ring.task, ring.callback) == ("old2", True)
    out = acd.handle_offer_answered("old2", "1001", 112.0)
    assert of_type(out, DialCustomer) == [DialCustomer("old2", "6400", "1001", "55502", "9")]
    out = acd.handle_callback_connected("old2", 120.0)
    (left,) = of_type(out, TaskLeft)
    assert (left.status, left.waited) == (CallStatus.ANSWERED, 80.0)  # from joining


def test_restored_callback_expires_at_its_time_or_at_once_if_that_passed() -> None:
    acd = make(queue(static_agents=["1001"], callback=PRESS_1))
    acd.handle_device_busy("1001", 100.0)
    out = acd.restore_callback("gone", "6400", 100.0, caller="5550100", number="55501",
                               joined=0.0, expires=90.0)
    assert [e.reason for e in of_type(out, CallbackFailed)] == [
        CallbackFailureReason.NO_IDLE_AGENT]
    acd.restore_callback("kept", "6400", 100.0, caller="5550100", number="55501",
                         joined=0.0, expires=150.0)
    assert not of_type(acd.tick(149.0), CallbackFailed)
    assert of_type(acd.tick(150.0), CallbackFailed)
