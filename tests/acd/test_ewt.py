"""Position-aware estimated wait time (acd/ewt.py)."""

from acd_helpers import make, of_type, queue

from acd.commands import AnnouncePosition
from acd.ewt import estimated_wait, update_handle_time


def test_formula() -> None:
    # 3 agents all busy, handle time 180 s: 1st in line ~60 s, 3rd ~180 s
    assert estimated_wait(1, 3, 0, 180.0) == 60.0
    assert estimated_wait(3, 3, 0, 180.0) == 180.0
    # an idle agent takes the first caller at once
    assert estimated_wait(1, 3, 1, 180.0) == 0.0
    assert estimated_wait(2, 3, 1, 180.0) == 60.0
    assert estimated_wait(1, 0, 0, 180.0) is None  # nobody serves the queue


def test_handle_time_average_moves_toward_samples() -> None:
    assert update_handle_time(100.0, 200.0) == 120.0


def test_engine_estimate_grows_with_position_and_is_announced() -> None:
    acd = make(queue(static_agents=["1001", "1002"], estimated_handle_time=120, prompts={
        "announce_position": True, "announce_estimated_wait_time": True,
        "position_announcement_frequency": 30}))
    acd.handle_device_busy("1001", 0.0)
    acd.handle_device_busy("1002", 0.0)
    for i in range(4):
        acd.handle_task_arrived(f"c{i}", "6400", float(i))
    assert [acd.estimated_wait(f"c{i}") for i in range(4)] == [60.0, 120.0, 180.0, 240.0]
    out = acd.tick(32.0)
    ann = [c for c in of_type(out, AnnouncePosition) if c.task == "c2"]
    assert ann == [AnnouncePosition("c2", 3, 180.0, False, "en")]
    acd.handle_task_left("c0", 40.0)
    assert acd.estimated_wait("c2") == 120.0  # moved up one place
