"""Queue priority (queue-admin.md §5, §15.33-§15.36)."""

import pytest
from acd_helpers import make, queue, rung

from acd import AcdConfigError
from acd.config import PriorityConfig
from acd.priority import overall_weight


@pytest.mark.parametrize(("waited", "weight"), [(0, 1), (59, 2), (90, 3), (80, 2), (120, 3),
                                                (29, 1), (30, 2)])
def test_overall_weight_rounds_half_up(waited: float, weight: int) -> None:
    """§15.35: weight 1, acceleration 60: 90 s -> 2.5 -> 3; 80 s -> 2.33 -> 2."""
    assert overall_weight(PriorityConfig(1, 60), waited) == weight


def test_without_acceleration_weight_is_constant() -> None:
    assert overall_weight(PriorityConfig(2, None), 10_000) == 2


@pytest.fixture
def leo_ball():  # type: ignore[no-untyped-def]
    """The manual's example: Leo Ball in Support - VIP (weight 2) and Support (weight 1,
    acceleration 60 s)."""
    return make(
        queue("6402", name="Support - VIP", static_agents=["2000"], priority={"weight": 2}),
        queue("6401", name="Support", static_agents=["2000"],
              priority={"weight": 1, "acceleration": 60}))


def test_simultaneous_calls_vip_first(leo_ball) -> None:  # type: ignore[no-untyped-def]
    """§15.33: Call 1 (VIP) and Call 2 (Support) arrive together -> Call 1 answered first."""
    acd = leo_ball
    acd.handle_device_busy("2000", 0.0)
    acd.handle_task_arrived("call2", "6401", 0.0)
    acd.handle_task_arrived("call1", "6402", 0.0)
    out = acd.handle_device_idle("2000", 0.0)
    assert rung(out) == [("2000",)]
    assert out.commands[0].task == "call1"


def test_support_caller_waited_120s_beats_new_vip_caller(leo_ball) -> None:  # type: ignore[no-untyped-def]
    """§15.34: Call 2 waited 120 s: Support weight 1 + 120/60 = 3 > 2 -> Call 2 first after
    the agent's current call."""
    acd = leo_ball
    acd.handle_task_arrived("call1", "6402", 0.0)
    acd.handle_task_arrived("call2", "6401", 0.0)
    acd.handle_offer_answered("call1", "2000", 1.0)
    acd.handle_task_arrived("call3", "6402", 120.0)
    out = acd.handle_call_ended("call1", 125.0)
    ring = [c for c in out.commands if type(c).__name__ == "RingAgents"]
    assert [c.task for c in ring] == ["call2"]


def test_equal_weights_serve_the_longest_waiting_caller() -> None:
    acd = make(queue("6401", static_agents=["2000"]), queue("6402", static_agents=["2000"]))
    acd.handle_device_busy("2000", 0.0)
    acd.handle_task_arrived("early", "6402", 1.0)
    acd.handle_task_arrived("late", "6401", 5.0)
    out = acd.handle_device_idle("2000", 6.0)
    assert [c.task for c in out.commands] == ["early"]


@pytest.mark.parametrize(("prio", "key"), [({"weight": 0}, "weight"),
                                           ({"weight": 1000}, "weight"),
                                           ({"weight": 1, "acceleration": 9}, "acceleration"),
                                           ({"weight": 1, "acceleration": 1801}, "acceleration")])
def test_weight_and_acceleration_ranges(prio: dict[str, int], key: str) -> None:
    """§15.36."""
    with pytest.raises(AcdConfigError) as exc:
        make(queue(static_agents=["1001"], priority=prio))
    assert exc.value.path == ("queues", 0, "priority", key)


def test_range_ends_accepted() -> None:
    make(queue(static_agents=["1001"], priority={"weight": 999, "acceleration": 10}))
    make(queue(static_agents=["1001"], priority={"weight": 1, "acceleration": 1800}))
