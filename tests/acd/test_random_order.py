"""Random (§2.2): idle agents ring in random order; a caller's retries never repeat an agent
until all idle agents were tried."""

from collections import Counter

from acd_helpers import make, queue, rung


def test_first_rung_agent_is_spread_over_all_idle_agents() -> None:
    firsts: Counter[str] = Counter()
    for seed in range(300):
        acd = make(queue(strategy="random", static_agents=["1001", "1002", "1003"]), seed=seed)
        (agents,) = rung(acd.handle_task_arrived("c", "6400", 0.0))
        assert len(agents) == 1
        firsts[agents[0]] += 1
    assert set(firsts) == {"1001", "1002", "1003"}
    assert min(firsts.values()) > 60  # roughly uniform (expected 100 each)


def test_retries_walk_all_agents_before_repeating() -> None:
    acd = make(queue(strategy="random", static_agents=["1001", "1002", "1003"], ring_timeout=10),
               seed=7)
    seen = [rung(acd.handle_task_arrived("c", "6400", 0.0))[0][0]]
    for k in (1, 2):
        seen.append(rung(acd.tick(10.0 * k))[0][0])
    assert sorted(seen) == ["1001", "1002", "1003"]
