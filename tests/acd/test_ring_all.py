"""Ring All (queue-admin.md §2.2, §15.3, §15.4)."""

from acd_helpers import make, queue, rung

from acd.events import AgentPaused


def test_ring_all_rings_every_idle_agent_at_once() -> None:
    acd = make(queue(strategy="ring_all", static_agents=["1001", "1002", "1003"]))
    out = acd.handle_task_arrived("c1", "6400", 0.0)
    assert rung(out) == [("1001", "1002", "1003")]


def test_ring_all_skips_busy_agents_and_answer_stops_the_others() -> None:
    acd = make(queue(strategy="ring_all", static_agents=["1001", "1002", "1003"]))
    acd.handle_device_busy("1002", 0.0)
    out = acd.handle_task_arrived("c1", "6400", 1.0)
    assert rung(out) == [("1001", "1003")]
    out = acd.handle_offer_answered("c1", "1003", 4.0)
    stops = [c for c in out.commands if type(c).__name__ == "StopRinging"]
    assert [s.agents for s in stops] == [("1001",)]


def test_ring_all_rings_everyone_again_after_the_retry_interval() -> None:
    acd = make(queue(strategy="ring_all", static_agents=["1001", "1002"], ring_timeout=15,
                     retry_interval=5))
    acd.handle_task_arrived("c1", "6400", 0.0)
    out = acd.tick(15.0)  # ring timeout: both missed
    assert rung(out) == []
    assert acd.next_deadline() == 20.0
    assert rung(acd.tick(20.0)) == [("1001", "1002")]


def test_auto_pause_has_no_effect_under_ring_all() -> None:
    """§15.4: Ring All + threshold 2, two consecutive misses -> not paused."""
    acd = make(queue(strategy="ring_all", static_agents=["1001"], ring_timeout=10,
                     agent_auto_pause={"missed_calls": 2}))
    acd.handle_task_arrived("c1", "6400", 0.0)
    events = acd.tick(10.0).events + acd.tick(20.0).events
    assert not [e for e in events if isinstance(e, AgentPaused)]
    assert acd.pause_state("1001", "6400") == (False, "")
