"""Max wait, capacity, empty-queue rules, failover and key-press exits (queue-admin.md §2.1,
§9.2, §9.7; behaviours §15.47-§15.52)."""

from acd_helpers import make, of_type, queue, rung

from acd.commands import RouteTask, StopRinging
from acd.config import Destination, DestinationType
from acd.events import CallStatus, LeaveReason, TaskLeft

VM = {"type": "voicemail", "target": "1001"}


def _left(out) -> TaskLeft:  # type: ignore[no-untyped-def]
    (left,) = of_type(out, TaskLeft)
    return left


def test_max_callers_zero_is_unlimited() -> None:
    acd = make(queue(static_agents=["1001"], max_callers=0))
    acd.handle_device_busy("1001", 0.0)
    for i in range(50):
        assert not of_type(acd.handle_task_arrived(f"c{i}", "6400", float(i)), TaskLeft)


def test_third_caller_goes_to_failover_when_max_callers_is_2() -> None:
    """§15.47: counted as Missed."""
    acd = make(queue(static_agents=["1001"], max_callers=2, failover=VM))
    acd.handle_device_busy("1001", 0.0)
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_task_arrived("c2", "6400", 1.0)
    out = acd.handle_task_arrived("c3", "6400", 2.0)
    assert of_type(out, RouteTask) == [RouteTask("c3", Destination(DestinationType.VOICEMAIL,
                                                                   "1001"))]
    left = _left(out)
    assert (left.status, left.reason) == (CallStatus.MISSED, LeaveReason.CAPACITY)
    assert acd.statistics("6400", 2.0).missed == 1


def test_caller_waiting_beyond_max_wait_goes_to_failover() -> None:
    """§15.48."""
    acd = make(queue(static_agents=["1001"], max_wait=60, failover=VM, ring_timeout=20))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.tick(20.0)  # rang once, not answered
    out = acd.tick(60.0)
    assert of_type(out, RouteTask)[0].destination.type is DestinationType.VOICEMAIL
    left = _left(out)
    assert (left.status, left.reason, left.waited) == (CallStatus.MISSED, LeaveReason.MAX_WAIT,
                                                       60.0)


def test_max_wait_stops_a_ringing_offer() -> None:
    acd = make(queue(static_agents=["1001"], max_wait=10, ring_timeout=30))
    acd.handle_task_arrived("c1", "6400", 0.0)
    out = acd.tick(10.0)
    assert of_type(out, StopRinging) == [StopRinging("c1", ("1001",))]
    assert acd.member_state("1001", "6400").value == "idle"


def test_leave_when_empty_all_paused() -> None:
    """§15.49: scenario "all agents paused": all paused -> callers to failover."""
    acd = make(queue(static_agents=["1001", "1002"], leave_when_empty=["paused"], failover=VM))
    acd.handle_device_busy("1001", 0.0)
    acd.handle_device_busy("1002", 0.0)
    acd.handle_task_arrived("c1", "6400", 1.0)
    acd.handle_task_arrived("c2", "6400", 2.0)
    acd.handle_agent_paused("1001", "6400", 3.0)
    out = acd.handle_agent_paused("1002", "6400", 4.0)
    assert [e.task for e in of_type(out, TaskLeft)] == ["c1", "c2"]
    assert {e.reason for e in of_type(out, TaskLeft)} == {LeaveReason.EMPTY}


def test_leave_when_empty_all_signed_out_counts_regardless_of_scenarios() -> None:
    """§15.50: scenario list without "offline"; all agents signed out -> still "no agent"."""
    acd = make(queue(dynamic_agents=["2001"], leave_when_empty=["in_use"],
                     dynamic_agent_default_status="logged_in"))
    acd.handle_device_busy("2001", 0.0)
    # 2001 is in use and "in use" is a selected scenario: the queue is empty at arrival
    assert _left(acd.handle_task_arrived("c1", "6400", 0.5)).reason is LeaveReason.EMPTY
    acd2 = make(queue(dynamic_agents=["2001"], leave_when_empty=["paused"],
                      dynamic_agent_default_status="logged_in"))
    acd2.handle_device_busy("2001", 0.0)
    assert not of_type(acd2.handle_task_arrived("c1", "6400", 1.0), TaskLeft)
    out = acd2.handle_agent_signed_out("2001", "6400", 2.0)
    assert _left(out).reason is LeaveReason.EMPTY


def test_leave_when_empty_ignores_unselected_scenario() -> None:
    acd = make(queue(static_agents=["1001"], leave_when_empty=["unregistered"]))
    acd.handle_device_busy("1001", 0.0)
    acd.handle_task_arrived("c1", "6400", 1.0)
    assert not of_type(acd.handle_agent_paused("1001", "6400", 2.0), TaskLeft)
    assert _left(acd.handle_device_unregistered("1001", 3.0)).reason is LeaveReason.EMPTY


def test_join_empty_disallowed_all_in_use() -> None:
    """§15.51: all agents in use, scenario "in use" -> the new caller cannot join."""
    acd = make(queue(static_agents=["1001"], join_empty_disallowed=["in_use"], failover=VM))
    acd.handle_device_busy("1001", 0.0)
    out = acd.handle_task_arrived("c1", "6400", 1.0)
    assert _left(out).reason is LeaveReason.JOIN_EMPTY
    assert of_type(out, RouteTask)
    acd.handle_device_idle("1001", 2.0)
    assert not of_type(acd.handle_task_arrived("c2", "6400", 3.0), TaskLeft)


def test_key_press_event_sends_caller_to_destination_as_missed() -> None:
    """§15.52."""
    acd = make(queue(static_agents=["1001"],
                     key_press_events=[{"key": "0", "destination": {"type": "extension",
                                                                    "target": "1003"}}]))
    acd.handle_task_arrived("c1", "6400", 0.0)
    out = acd.handle_key_pressed("c1", "0", 5.0)
    assert of_type(out, RouteTask)[0].destination == Destination(DestinationType.EXTENSION,
                                                                 "1003")
    assert of_type(out, StopRinging)  # it was ringing 1001
    left = _left(out)
    assert (left.status, left.reason) == (CallStatus.MISSED, LeaveReason.KEY_PRESS)


def test_abandon_while_ringing_stops_the_ring_without_a_missed_call() -> None:
    acd = make(queue(static_agents=["1001"], agent_auto_pause={"missed_calls": 1},
                     strategy="linear"))
    acd.handle_task_arrived("c1", "6400", 0.0)
    out = acd.handle_task_left("c1", 3.0)
    left = _left(out)
    assert (left.status, left.waited) == (CallStatus.ABANDONED, 3.0)
    assert acd.pause_state("1001", "6400") == (False, "")
    assert rung(acd.handle_task_arrived("c2", "6400", 4.0)) == [("1001",)]
