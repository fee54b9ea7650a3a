"""Ring groups in virtual time: ring all, sequential with member and group timeouts,
failover (softswitch.apps.ring_group)."""

from __future__ import annotations

from acd.config import Destination, DestinationType
from softswitch.apps.flow import Answer, Bridge, CallInfo, Hangup, RouteTo
from softswitch.apps.ring_group import RingGroupConfig, RingGroupFlow, RingStrategy

CALL = CallInfo("c1", "1003", "Carol", "8000", "en")
VM = Destination(DestinationType.VOICEMAIL, "1001")


def test_ring_all_answers_and_rings_everyone_once() -> None:
    flow = RingGroupFlow(RingGroupConfig("8000", "Sales", ("1001", "1002", "95551234"),
                                         group_timeout=30, failover=VM))
    answer, bridge = flow.start(CALL, 0.0)
    assert isinstance(answer, Answer)
    assert isinstance(bridge, Bridge)
    assert (list(bridge.targets), bridge.timeout) == (["1001", "1002", "95551234"], 30)
    assert flow.handle_bridge_ended(bridge.bridge_id, 408, 30.0) == [RouteTo(VM)]


def test_sequential_moves_on_after_each_member_and_fails_over() -> None:
    cfg = RingGroupConfig("8000", "Hunt", ("1001", "1002", "1003"),
                          RingStrategy.SEQUENTIAL, member_timeout=15, group_timeout=40,
                          failover=VM)
    flow = RingGroupFlow(cfg)
    _, b1 = flow.start(CALL, 0.0)
    assert isinstance(b1, Bridge) and (list(b1.targets), b1.timeout) == (["1001"], 15)
    (b2,) = flow.handle_bridge_ended(b1.bridge_id, 486, 1.0)  # busy: next at once
    assert isinstance(b2, Bridge) and (list(b2.targets), b2.timeout) == (["1002"], 15)
    (b3,) = flow.handle_bridge_ended(b2.bridge_id, 408, 16.0)
    # 24 s of the group's 40 s are left: the third member gets the 15 s of a member
    assert isinstance(b3, Bridge) and (list(b3.targets), b3.timeout) == (["1003"], 15)
    assert flow.handle_bridge_ended(b3.bridge_id, 480, 31.0) == [RouteTo(VM)]


def test_sequential_last_attempt_is_cut_to_the_group_timeout() -> None:
    cfg = RingGroupConfig("8000", "Hunt", ("1001", "1002", "1003"),
                          RingStrategy.SEQUENTIAL, member_timeout=20, group_timeout=30)
    flow = RingGroupFlow(cfg)
    _, b1 = flow.start(CALL, 0.0)
    assert isinstance(b1, Bridge)
    (b2,) = flow.handle_bridge_ended(b1.bridge_id, 408, 20.0)
    assert isinstance(b2, Bridge) and b2.timeout == 10
    assert flow.handle_bridge_ended(b2.bridge_id, 408, 29.5) == [
        RouteTo(Destination(DestinationType.HANGUP))]  # 0.5 s left: no third attempt


def test_answered_member_hanging_up_ends_the_call() -> None:
    flow = RingGroupFlow(RingGroupConfig("8000", "Sales", ("1001", "1002")))
    _, b = flow.start(CALL, 0.0)
    assert isinstance(b, Bridge)
    assert flow.handle_bridge_ended(b.bridge_id, 200, 90.0) == [Hangup()]


def test_stale_bridge_results_are_ignored() -> None:
    flow = RingGroupFlow(RingGroupConfig("8000", "Sales", ("1001",)))
    _, b = flow.start(CALL, 0.0)
    assert isinstance(b, Bridge)
    assert flow.handle_bridge_ended(b.bridge_id + 5, 486, 1.0) == []
    flow.handle_hangup(2.0)
    assert flow.handle_bridge_ended(b.bridge_id, 487, 2.0) == []
