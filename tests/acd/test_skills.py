"""Skill-based routing (queue-admin.md §3, §15.29-§15.32)."""

import pytest
from acd_helpers import make, queue, rung

from acd import AcdConfigError


def _skills(strategy: str, levels: dict[str, int], number: str = "6401") -> dict[str, object]:
    return queue(number, strategy=strategy, skill_based_routing=True, ring_timeout=10,
                 static_agents=[{"extension": a, "skill": s} for a, s in levels.items()])


def test_distinct_levels_ring_strictly_by_level() -> None:
    """§15.29: A=1, B=2, C=3, A unavailable -> B rings, then C; strategy ignored."""
    acd = make(_skills("ring_all", {"1001": 1, "1002": 2, "1003": 3}))
    acd.handle_device_busy("1001", 0.0)
    assert rung(acd.handle_task_arrived("c1", "6401", 1.0)) == [("1002",)]
    assert rung(acd.tick(11.0)) == [("1003",)]  # B did not answer: next level


def test_shared_level_uses_same_level_strategy() -> None:
    """§15.30: A=1, B=1, C=2, Ring All -> A and B together; both unavailable -> C."""
    acd = make(_skills("ring_all", {"1001": 1, "1002": 1, "1003": 2}))
    assert rung(acd.handle_task_arrived("c1", "6401", 0.0)) == [("1001", "1002")]
    acd.handle_offer_answered("c1", "1001", 1.0)
    acd.handle_device_busy("1002", 1.0)
    assert rung(acd.handle_task_arrived("c2", "6401", 2.0)) == [("1003",)]


def test_same_level_linear_within_level() -> None:
    acd = make(_skills("linear", {"1003": 2, "1001": 1, "1002": 1}))
    assert rung(acd.handle_task_arrived("c1", "6401", 0.0)) == [("1001",)]
    assert rung(acd.tick(10.0)) == [("1002",)]  # same level first
    assert rung(acd.tick(20.0)) == [("1003",)]  # then the next level


@pytest.mark.parametrize("level", [0, 100])
def test_skill_level_out_of_range_is_rejected(level: int) -> None:
    """§15.31: 0 or 100 rejected."""
    with pytest.raises(AcdConfigError) as exc:
        make(_skills("ring_all", {"1001": level}))
    assert exc.value.path == ("queues", 0, "static_agents", 0, "skill")
    assert "1 to 99" in exc.value.message


def test_skill_levels_1_and_99_accepted_and_default_is_1() -> None:
    acd = make(queue("6401", strategy="linear", skill_based_routing=True,
                     static_agents=[{"extension": "1001", "skill": 99}, "1002",
                                    {"extension": "1003", "skill": 1}]))
    assert rung(acd.handle_task_arrived("c1", "6401", 0.0)) == [("1002",)]


def test_skill_is_per_queue() -> None:
    """§15.32: a level set in queue X does not affect queue Y."""
    acd = make(_skills("linear", {"1001": 5, "1002": 1}, "6401"),
               _skills("linear", {"1001": 1, "1002": 5}, "6402"))
    assert rung(acd.handle_task_arrived("c1", "6401", 0.0)) == [("1002",)]
    assert rung(acd.handle_task_arrived("c2", "6402", 0.0)) == [("1001",)]
