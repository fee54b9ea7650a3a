"""Least Recent (§2.2, §15.5)."""

from acd_helpers import make, queue, rung


def _call(acd, task: str, agent: str, start: float, end: float) -> None:  # type: ignore[no-untyped-def]
    acd.handle_task_arrived(task, "6400", start)
    acd.handle_offer_answered(task, agent, start + 1)
    acd.handle_call_ended(task, end)


def test_agent_whose_last_call_was_longest_ago_rings_first() -> None:
    """A's last call ended at 10:00, B's at 09:00 -> B rings first."""
    acd = make(queue(strategy="least_recent", static_agents=["1001", "1002"]))
    # 09:00 = 32400 s, 10:00 = 36000 s; each call goes to whoever is first at that time
    acd.handle_device_busy("1001", 0.0)
    _call(acd, "b", "1002", 32000.0, 32400.0)  # B ends 09:00
    acd.handle_device_idle("1001", 32400.0)
    acd.handle_device_busy("1002", 32400.0)
    _call(acd, "a", "1001", 35000.0, 36000.0)  # A ends 10:00
    acd.handle_device_idle("1002", 36000.0)
    out = acd.handle_task_arrived("c", "6400", 37000.0)
    assert rung(out) == [("1002",)]


def test_never_called_agents_come_first_then_configured_order() -> None:
    acd = make(queue(strategy="least_recent", static_agents=["1001", "1002", "1003"]))
    _call(acd, "x", "1001", 0.0, 10.0)
    out = acd.handle_task_arrived("c", "6400", 20.0)
    assert rung(out) == [("1002",)]
