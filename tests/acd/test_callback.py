"""Callbacks (queue-admin.md §4, §9.3; behaviours §15.37-§15.44)."""

import pytest
from acd_helpers import make, of_type, queue, rung

from acd import AcdConfigError
from acd.commands import CollectCallbackNumber, DialCustomer, HangUp, RingAgents
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
    """§15.43: default callback timeout = max wait, counted from the request."""
    acd = _busy_queue(PRESS_1, max_wait=300)
    _requested(acd)
    out = acd.tick(309.0)
    (failed,) = of_type(out, CallbackFailed)
    assert failed.reason is CallbackFailureReason.NO_IDLE_AGENT
    assert of_type(out, TaskLeft)[0].status is CallStatus.MISSED


def test_custom_callback_timeout() -> None:
    acd = _busy_queue({**PRESS_1, "callback_timeout": 120}, max_wait=300)
    _requested(acd)
    assert of_type(acd.tick(129.0), CallbackFailed)


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
