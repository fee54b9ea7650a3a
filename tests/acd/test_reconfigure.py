"""`Acd.handle_reconfigure`: a changed configuration applied to a running engine
(`softswitch reload`) keeps callers, agent state and statistics; removed queues send their
callers to failover, removed members are signed out of the queue. Virtual time throughout."""

from typing import Any

from acd_helpers import make, of_type, queue, ring_of, rung

from acd import Acd, parse_acd_config
from acd.commands import RouteTask, StopRinging
from acd.config import DestinationType
from acd.events import (
    AgentMissedCall,
    AgentResumed,
    AgentSignedIn,
    AgentSignedOut,
    CallbackFailed,
    CallStatus,
    LeaveReason,
    MemberState,
    MemberStateChanged,
    TaskLeft,
)

VM = {"type": "voicemail", "target": "1001"}


def config(*queues: dict[str, Any], **sections: Any) -> Any:
    return parse_acd_config({"queues": list(queues), **sections})


def test_strategy_change_keeps_sign_ins_pauses_and_the_waiting_caller() -> None:
    acd = make(queue(strategy="ring_all", static_agents=["1001"],
                     dynamic_agents=["1002", "1003"]),
               pause_reasons=[{"code": "*01", "reason": "Lunch"}])
    acd.handle_agent_signed_in("1002", "6400", 0.0)
    acd.handle_agent_signed_in("1003", "6400", 0.0)
    acd.handle_agent_paused("1003", "6400", 1.0, reason="*01")
    assert ring_of(acd.handle_task_arrived("c1", "6400", 2.0), "c1") == ("1001", "1002")
    out = acd.handle_reconfigure(config(
        queue(strategy="linear", static_agents=["1001"], dynamic_agents=["1002", "1003"]),
        pause_reasons=[{"code": "*01", "reason": "Lunch"}]), 3.0)
    assert out.commands == []  # the ring goes on
    assert not of_type(out, TaskLeft) and not of_type(out, AgentSignedOut)
    assert acd.is_signed_in("1002", "6400")
    assert acd.pause_state("1003", "6400") == (True, "Lunch")
    acd.handle_offer_answered("c1", "1002", 4.0)
    # linear now: one agent at a time, first in the list (ring all would ring 1001 and 1003)
    acd.handle_agent_resumed("1003", "6400", 5.0)
    assert ring_of(acd.handle_task_arrived("c2", "6400", 6.0), "c2") == ("1001",)


def test_added_static_agent_rings_the_waiting_caller_at_once() -> None:
    acd = make(queue(static_agents=["1001"]))
    acd.handle_device_busy("1001", 0.0)
    acd.handle_task_arrived("c1", "6400", 1.0)
    out = acd.handle_reconfigure(config(queue(static_agents=["1001", "1002"])), 5.0)
    assert ring_of(out, "c1") == ("1002",)
    assert acd.is_static("1002", "6400") and acd.is_signed_in("1002", "6400")
    assert acd.statistics("6400", 5.0).agents[MemberState.RINGING] == 1


def test_removed_member_loses_the_ringing_offer_without_a_missed_call() -> None:
    acd = make(queue(strategy="linear", static_agents=["1001", "1002"]))
    acd.handle_task_arrived("c1", "6400", 0.0)
    out = acd.handle_reconfigure(config(queue(strategy="linear", static_agents=["1002"])), 2.0)
    assert of_type(out, StopRinging) == [StopRinging("c1", ("1001",))]
    assert not of_type(out, AgentMissedCall)
    assert ring_of(out, "c1") == ("1002",)  # offered again at once
    assert acd.agent_queues("1002") == ["6400"]
    assert [a for a, _ in acd.queue_members("6400")] == ["1002"]
    assert acd.statistics("6400", 2.0).agents[MemberState.IDLE] == 0


def test_removed_member_keeps_a_connected_call_and_gets_no_wrapup_of_that_queue() -> None:
    acd = make(queue(static_agents=["1001"], wrapup=30), queue("6401", static_agents=["1001"]))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_offer_answered("c1", "1001", 1.0)
    acd.handle_reconfigure(config(queue(static_agents=[], wrapup=30),
                                  queue("6401", static_agents=["1001"])), 2.0)
    assert acd.agent_queues("1001") == ["6401"]
    assert acd.member_state("1001", "6401") is MemberState.IN_USE
    acd.handle_call_ended("c1", 60.0)
    assert acd.member_state("1001", "6401") is MemberState.IDLE
    assert acd.statistics("6400", 60.0).answered == 1


def test_removed_dynamic_member_is_resumed_and_signed_out() -> None:
    acd = make(queue(dynamic_agents=["1002"]), queue("6401", dynamic_agents=["1002"]))
    acd.handle_agent_signed_in("1002", "6400", 0.0)
    acd.handle_agent_signed_in("1002", "6401", 0.0)
    acd.handle_agent_paused("1002", "6400", 1.0)
    out = acd.handle_reconfigure(config(queue(dynamic_agents=[]),
                                        queue("6401", dynamic_agents=["1002"])), 2.0)
    assert [type(e) for e in out.events if isinstance(e, (AgentResumed, AgentSignedOut))] == [
        AgentResumed, AgentSignedOut]
    changed = of_type(out, MemberStateChanged)
    assert [(e.queue, e.previous, e.state) for e in changed] == [
        ("6400", MemberState.PAUSED, MemberState.LOGGED_OUT)]
    assert acd.is_signed_in("1002", "6401")
    snapshot = acd.statistics("6400", 2.0)
    assert sum(snapshot.agents.values()) == 0


def test_removed_queue_sends_waiting_callers_to_its_failover() -> None:
    acd = make(queue(static_agents=["1001"], failover=VM), queue("6401", static_agents=["1002"]))
    acd.handle_device_busy("1001", 0.0)
    acd.handle_task_arrived("c1", "6400", 1.0)
    out = acd.handle_reconfigure(config(queue("6401", static_agents=["1002"])), 4.0)
    (route,) = of_type(out, RouteTask)
    assert (route.task, route.destination.type, route.destination.target) == (
        "c1", DestinationType.VOICEMAIL, "1001")
    (left,) = of_type(out, TaskLeft)
    assert (left.status, left.reason, left.waited) == (CallStatus.MISSED,
                                                       LeaveReason.QUEUE_REMOVED, 3.0)
    assert acd.queues() == ["6401"]
    assert acd.position("c1") is None
    assert acd.next_deadline() is not None  # 6401's SLA evaluation only
    acd.tick(10_000.0)


def test_removed_queue_lets_an_answered_call_finish() -> None:
    acd = make(queue(static_agents=["1001"], wrapup=10))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_offer_answered("c1", "1001", 1.0)
    acd.handle_reconfigure(config(queue("6401", static_agents=["1001"])), 2.0)
    assert acd.member_state("1001", "6401") is MemberState.IN_USE
    out = acd.handle_call_ended("c1", 30.0)
    assert not of_type(out, AgentMissedCall)
    assert acd.member_state("1001", "6401") is MemberState.IDLE
    out = acd.handle_task_arrived("c2", "6401", 31.0)
    assert ring_of(out, "c2") == ("1001",)


def test_removed_queue_fails_its_callback_requests() -> None:
    acd = make(queue(static_agents=["1001"], callback={"method": "press_key", "key": "2"}))
    acd.handle_device_busy("1001", 0.0)
    acd.handle_task_arrived("c1", "6400", 0.0, caller="5550001")
    acd.handle_key_pressed("c1", "2", 1.0)
    acd.handle_callback_number("c1", "", 2.0)
    out = acd.handle_reconfigure(config(), 3.0)
    assert [e.task for e in of_type(out, CallbackFailed)] == ["c1"]
    assert not of_type(out, RouteTask)


def test_shorter_max_wait_applies_to_callers_already_waiting() -> None:
    acd = make(queue(static_agents=["1001"], max_wait=600, failover=VM))
    acd.handle_device_busy("1001", 0.0)
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_task_arrived("c2", "6400", 100.0)
    out = acd.handle_reconfigure(config(queue(static_agents=["1001"], max_wait=120,
                                              failover=VM)), 150.0)
    assert [r.task for r in of_type(out, RouteTask)] == ["c1"]  # waited 150 > 120
    out = acd.tick(220.0)
    assert [r.task for r in of_type(out, RouteTask)] == ["c2"]


def test_added_queue_takes_callers_and_statistics_of_others_are_kept() -> None:
    acd = make(queue(static_agents=["1001"]))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_offer_answered("c1", "1001", 1.0)
    acd.handle_call_ended("c1", 5.0)
    acd.handle_reconfigure(config(queue(static_agents=["1001"], ring_timeout=15),
                                  queue("6402", dynamic_agents=["1003"],
                                        dynamic_agent_default_status="logged_in")), 6.0)
    assert acd.statistics("6400", 6.0).answered == 1
    assert acd.is_signed_in("1003", "6402")
    out = acd.handle_task_arrived("c2", "6402", 7.0)
    assert rung(out) == [("1003",)]


def test_member_made_static_is_signed_in() -> None:
    acd = make(queue(dynamic_agents=["1002"]))
    out = acd.handle_reconfigure(config(queue(static_agents=["1002"])), 1.0)
    assert of_type(out, AgentSignedIn)[0].agent == "1002"
    assert acd.is_static("1002", "6400") and acd.is_signed_in("1002", "6400")


def test_new_pause_reason_is_usable_after_reconfigure() -> None:
    acd = make(queue(dynamic_agents=["1002"]))
    acd.handle_agent_signed_in("1002", "6400", 0.0)
    acd.handle_reconfigure(config(queue(dynamic_agents=["1002"]),
                                  pause_reasons=[{"code": "*07", "reason": "Training"}]), 1.0)
    acd.handle_agent_paused("1002", "6400", 2.0, reason="*07")
    assert acd.pause_state("1002", "6400") == (True, "Training")


def test_reconfigure_with_the_same_config_changes_nothing() -> None:
    acd: Acd = make(queue(static_agents=["1001"]))
    acd.handle_task_arrived("c1", "6400", 0.0)
    out = acd.handle_reconfigure(acd.config, 1.0)
    assert out.commands == [] and out.events == []


def test_message_queue_changes_follow_open_sessions() -> None:
    def mq(agents: list[str], mode: str) -> dict[str, Any]:
        return {"name": "web", "chat_assignment_mode": mode, "agents": agents}

    acd = make(message_queues=[mq(["1001"], "manual_take_over")])
    acd.handle_task_arrived("s1", "web", 0.0)
    acd.handle_reconfigure(config(message_queues=[mq(["1001", "1002"], "auto_take_over")]), 1.0)
    acd.handle_message_reply("s1", "1002", 2.0)  # auto take-over, new agent
    assert acd.messages.owner("s1") == "1002"
    acd.handle_reconfigure(config(), 3.0)
    out = acd.handle_task_left("s1", 4.0)
    assert not of_type(out, TaskLeft)  # already left the queue when taken over
