"""Fewest Calls (§2.2, §15.6)."""

from acd_helpers import make, queue, rung


def test_agent_with_fewest_answered_calls_rings_first() -> None:
    """A answered 5, B answered 2 -> B rings first."""
    acd = make(queue(strategy="fewest_calls", static_agents=["1001", "1002"]))
    t = 0.0
    for i in range(7):
        agent = "1001" if i < 5 else "1002"
        other = "1002" if agent == "1001" else "1001"
        acd.handle_device_busy(other, t)
        acd.handle_task_arrived(f"c{i}", "6400", t)
        acd.handle_offer_answered(f"c{i}", agent, t + 1)
        acd.handle_call_ended(f"c{i}", t + 30)
        acd.handle_device_idle(other, t + 30)
        t += 60
    out = acd.handle_task_arrived("next", "6400", t)
    assert rung(out) == [("1002",)]


def test_missed_rings_do_not_count_as_answered_calls() -> None:
    acd = make(queue(strategy="fewest_calls", static_agents=["1001", "1002"], ring_timeout=10))
    acd.handle_task_arrived("c1", "6400", 0.0)  # rings 1001 (tie -> order)
    acd.tick(10.0)  # 1001 misses; next try goes to 1002 (untried)
    acd.handle_offer_answered("c1", "1002", 12.0)
    acd.handle_call_ended("c1", 20.0)
    out = acd.handle_task_arrived("c2", "6400", 30.0)
    assert rung(out) == [("1001",)]
