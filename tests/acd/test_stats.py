"""Wallboard statistics (acd/stats.py)."""

from acd_helpers import make, queue

from acd.events import MemberState


def test_wallboard_figures() -> None:
    acd = make(queue(static_agents=["1001", "1002"], dynamic_agents=["2001"], wrapup=10))
    acd.handle_device_busy("1002", 0.0)
    acd.handle_task_arrived("a", "6400", 0.0)  # rings 1001
    acd.handle_task_arrived("b", "6400", 1.0)  # waits
    acd.handle_task_arrived("c", "6400", 2.0)
    s = acd.statistics("6400", 5.0)
    assert (s.waiting, s.longest_wait) == (3, 5.0)
    assert s.agents[MemberState.RINGING] == 1 and s.agents[MemberState.IN_USE] == 1
    assert s.agents[MemberState.LOGGED_OUT] == 1
    acd.handle_offer_answered("a", "1001", 6.0)
    acd.handle_task_left("c", 8.0)
    acd.handle_call_ended("a", 66.0)
    s = acd.statistics("6400", 70.0)
    assert (s.waiting, s.longest_wait) == (1, 69.0)
    assert (s.total, s.answered, s.abandoned, s.missed) == (2, 1, 1, 0)
    assert (s.avg_wait_answered, s.avg_talk, s.avg_handle) == (6.0, 60.0, 66.0)
    assert s.sla == 50.0
    assert s.agents[MemberState.WRAP_UP] == 1
