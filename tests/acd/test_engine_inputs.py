"""Ring timeout, retry interval, rejections, and inputs that do not fit (queue-admin.md §2.4;
DESIGN.md principle 6: bad input gets a clear error and loses nothing)."""

import pytest
from acd_helpers import make, of_type, queue, rung

from acd import AcdInputError
from acd.commands import StopRinging
from acd.events import AgentMissedCall, InputRejected, OfferEnded, OfferResult


def test_ring_timeout_then_retry_interval_then_next_agent() -> None:
    acd = make(queue(strategy="linear", static_agents=["1001", "1002"], ring_timeout=20,
                     retry_interval=5))
    assert rung(acd.handle_task_arrived("c1", "6400", 0.0)) == [("1001",)]
    assert acd.next_deadline() == 20.0
    out = acd.tick(20.0)
    assert of_type(out, StopRinging) == [StopRinging("c1", ("1001",))]
    (ended,) = of_type(out, OfferEnded)
    assert (ended.result, ended.rang) == (OfferResult.TIMED_OUT, 20.0)
    assert of_type(out, AgentMissedCall)[0].consecutive == 1
    assert rung(out) == []  # the retry interval first
    assert rung(acd.tick(24.9)) == []
    assert rung(acd.tick(25.0)) == [("1002",)]


def test_rejection_ends_the_ring_round_early() -> None:
    acd = make(queue(strategy="linear", static_agents=["1001", "1002"], retry_interval=3))
    acd.handle_task_arrived("c1", "6400", 0.0)
    out = acd.handle_offer_rejected("c1", "1001", 2.0)
    assert of_type(out, OfferEnded)[0].result is OfferResult.REJECTED
    assert rung(acd.tick(5.0)) == [("1002",)]


def test_ring_all_round_ends_only_when_every_agent_declined() -> None:
    acd = make(queue(strategy="ring_all", static_agents=["1001", "1002"], retry_interval=3))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_offer_rejected("c1", "1001", 1.0)
    assert acd.member_state("1001", "6400").value == "idle"
    out = acd.handle_offer_answered("c1", "1002", 2.0)
    assert not of_type(out, InputRejected)


def test_answer_after_the_caller_left_is_rejected_without_change() -> None:
    acd = make(queue(static_agents=["1001"]))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_task_left("c1", 1.0)
    out = acd.handle_offer_answered("c1", "1001", 1.5)
    (rej,) = of_type(out, InputRejected)
    assert (rej.input, rej.task, rej.agent) == ("offer_answered", "c1", "1001")
    assert acd.member_state("1001", "6400").value == "idle"


def test_unknown_queue_agent_and_duplicate_task_raise() -> None:
    acd = make(queue(static_agents=["1001"]))
    with pytest.raises(AcdInputError, match="unknown queue"):
        acd.handle_task_arrived("c1", "6499", 0.0)
    with pytest.raises(AcdInputError, match="not an agent"):
        acd.handle_device_busy("1999", 0.0)
    with pytest.raises(AcdInputError, match="not a member"):
        make(queue(static_agents=["1001"]), queue("6401", static_agents=["1002"])) \
            .handle_agent_paused("1002", "6400", 0.0)
    acd.handle_task_arrived("c1", "6400", 0.0)
    with pytest.raises(AcdInputError, match="already"):
        acd.handle_task_arrived("c1", "6400", 1.0)


def test_time_cannot_go_backwards() -> None:
    acd = make(queue(static_agents=["1001"]))
    acd.handle_task_arrived("c1", "6400", 10.0)
    with pytest.raises(AcdInputError, match="backwards"):
        acd.tick(5.0)


def test_task_id_can_be_reused_after_it_left() -> None:
    acd = make(queue(static_agents=["1001"]))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_task_left("c1", 1.0)
    assert rung(acd.handle_task_arrived("c1", "6400", 2.0)) == [("1001",)]


def test_an_idle_engine_only_waits_for_the_sla_evaluation() -> None:
    acd = make(queue(static_agents=["1001"], sla={"evaluation_interval": 1}))
    assert acd.next_deadline() == 60.0  # only the SLA evaluation


def test_task_state_follows_the_task_until_it_leaves() -> None:
    """`Acd.task_state`: the queue shell reads where a call is from the engine instead of
    keeping its own copy (softswitch.queue.controller.QueueCalls.state)."""
    from acd.model import TaskState

    acd = make(queue(strategy="linear", static_agents=["1001"]))
    assert acd.task_state("c1") is None  # never known
    acd.handle_task_arrived("c1", "6400", 0.0)
    assert acd.task_state("c1") is TaskState.RINGING
    acd.handle_offer_answered("c1", "1001", 3.0)
    assert acd.task_state("c1") is TaskState.CONNECTED
    acd.handle_call_ended("c1", 60.0)
    assert acd.task_state("c1") is None  # left: wrap-up is the agent's, not the task's
