"""SLA (queue-admin.md §7.3, §9.5; behaviours §15.55-§15.57)."""

from acd_helpers import make, of_type, queue

from acd.events import SlaEvaluated
from acd.sla import meets_sla, service_level


def test_manual_example_80_percent() -> None:
    """§15.55: 10 calls, 8 answered within SLA time, 1 later, 1 abandoned -> 80 %."""
    assert service_level(8, 10) == 80.0


def test_no_calls_no_sla() -> None:
    assert service_level(0, 0) is None


def test_boundary_counts_as_within() -> None:
    assert meets_sla(20.0, 20.0) and not meets_sla(20.5, 20.0)


def test_engine_sla_over_the_evaluation_interval_and_alert() -> None:
    """10 calls in one 15-minute interval: 8 answered within 20 s, 1 after 40 s, 1 abandoned
    -> SlaEvaluated 80 % (not below an 80 % threshold); the next interval has 1 of 2 -> 50 %,
    below the threshold (managers are e-mailed)."""
    acd = make(queue(static_agents=["1001"], sla={"time": 20, "evaluation_interval": 15,
                                                  "alert_threshold": 80}))
    t = 0.0
    for i in range(10):
        acd.handle_task_arrived(f"c{i}", "6400", t)
        if i == 9:
            acd.handle_task_left(f"c{i}", t + 5)
        else:
            wait = 40.0 if i == 8 else 10.0
            acd.handle_offer_answered(f"c{i}", "1001", t + wait)
            acd.handle_call_ended(f"c{i}", t + wait + 5)
        t += 60
    assert acd.statistics("6400", t).sla == 80.0
    (ev,) = of_type(acd.tick(900.0), SlaEvaluated)
    assert (ev.sla, ev.below_threshold) == (80.0, False)
    acd.handle_task_arrived("d1", "6400", 1000.0)
    acd.handle_offer_answered("d1", "1001", 1001.0)
    acd.handle_task_arrived("d2", "6400", 1010.0)
    acd.handle_task_left("d2", 1020.0)
    (ev,) = of_type(acd.tick(1800.0), SlaEvaluated)
    assert (ev.sla, ev.below_threshold) == (50.0, True)
