"""Linear (§2.2, §15.11, §15.12)."""

from acd_helpers import make, queue, rung


def test_first_idle_agent_from_the_top_rings_without_memory() -> None:
    """§15.11: [A,B,C], A busy -> B; next caller with all idle -> A again."""
    acd = make(queue(strategy="linear", static_agents=["1001", "1002", "1003"]))
    acd.handle_device_busy("1001", 0.0)
    assert rung(acd.handle_task_arrived("c1", "6400", 1.0)) == [("1002",)]
    acd.handle_offer_answered("c1", "1002", 2.0)
    acd.handle_call_ended("c1", 3.0)
    acd.handle_device_idle("1001", 3.0)
    assert rung(acd.handle_task_arrived("c2", "6400", 4.0)) == [("1001",)]


def test_mixed_agents_ring_in_sign_in_order() -> None:
    """§15.12: dynamics by sign-in order after the statics (signed in at load)."""
    acd = make(queue(strategy="linear", static_agents=["1001"],
                     dynamic_agents=["2001", "2002"]))
    acd.handle_agent_signed_in("2002", "6400", 0.0)
    acd.handle_agent_signed_in("2001", "6400", 1.0)
    acd.handle_device_busy("1001", 1.0)
    assert rung(acd.handle_task_arrived("c1", "6400", 2.0)) == [("2002",)]


def test_a_callers_retries_go_down_the_list_and_restart_per_caller() -> None:
    acd = make(queue(strategy="linear", static_agents=["1001", "1002", "1003"], ring_timeout=10))
    assert rung(acd.handle_task_arrived("c1", "6400", 0.0)) == [("1001",)]
    assert rung(acd.tick(10.0)) == [("1002",)]  # 1001 did not answer
    acd.handle_offer_answered("c1", "1002", 12.0)
    assert rung(acd.handle_task_arrived("c2", "6400", 13.0)) == [("1001",)]  # from the top
