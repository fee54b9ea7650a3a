"""Round Robin with memory (§2.2, §15.7-§15.10)."""

from acd_helpers import make, queue, rung


def _serve(acd, task: str, t: float) -> str:  # type: ignore[no-untyped-def]
    (agents,) = rung(acd.handle_task_arrived(task, "6400", t))
    acd.handle_offer_answered(task, agents[0], t + 1)
    acd.handle_call_ended(task, t + 2)
    return agents[0]


def test_static_list_order_continues_after_last_rung_and_wraps() -> None:
    """§15.7: statics [A,B,C], last rung B -> C; last rung C -> A."""
    acd = make(queue(strategy="round_robin", static_agents=["1001", "1002", "1003"]))
    assert _serve(acd, "c1", 0) == "1001"
    assert _serve(acd, "c2", 10) == "1002"
    assert _serve(acd, "c3", 20) == "1003"  # last rung B -> C
    assert _serve(acd, "c4", 30) == "1001"  # last rung C -> A (wraps)


def test_dynamic_only_uses_sign_in_order() -> None:
    """§15.8: sign-in order [D2, D1, D3], last rung D1 -> D3."""
    acd = make(queue(strategy="round_robin", dynamic_agents=["2001", "2002", "2003"]))
    for agent in ("2002", "2001", "2003"):
        acd.handle_agent_signed_in(agent, "6400", 0.0)
    assert _serve(acd, "c1", 1) == "2002"
    assert _serve(acd, "c2", 10) == "2001"
    assert _serve(acd, "c3", 20) == "2003"  # after D1 comes D3 in sign-in order


def test_mixed_uses_dynamics_only_when_no_static_is_idle() -> None:
    """§15.9: statics [S1,S2] busy, dynamics [D1,D2], last rung D1 -> D2."""
    acd = make(queue(strategy="round_robin", static_agents=["1001", "1002"],
                     dynamic_agents=["2001", "2002"]))
    acd.handle_agent_signed_in("2001", "6400", 0.0)
    acd.handle_agent_signed_in("2002", "6400", 0.0)
    acd.handle_device_busy("1001", 0.0)
    acd.handle_device_busy("1002", 0.0)
    assert _serve(acd, "c1", 1) == "2001"
    assert _serve(acd, "c2", 10) == "2002"


def test_mixed_prefers_an_idle_static_agent() -> None:
    """§15.10: any static idle -> the next static after the last rung one rings first."""
    acd = make(queue(strategy="round_robin", static_agents=["1001", "1002"],
                     dynamic_agents=["2001"]))
    acd.handle_agent_signed_in("2001", "6400", 0.0)
    assert _serve(acd, "c1", 1) == "1001"
    assert _serve(acd, "c2", 10) == "1002"
    assert _serve(acd, "c3", 20) == "1001"  # wraps within statics; the dynamic never rings


def test_memory_is_per_queue() -> None:
    acd = make(queue("6400", strategy="round_robin", static_agents=["1001", "1002"]),
               queue("6401", strategy="round_robin", static_agents=["1001", "1002"]))
    assert _serve(acd, "c1", 0) == "1001"
    (agents,) = rung(acd.handle_task_arrived("d1", "6401", 10.0))
    assert agents == ("1001",)  # 6401 has its own place
