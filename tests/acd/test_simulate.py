"""`softswitch simulate` (softswitch/simulate.py): Erlang C and the virtual-time simulation."""

import json
from pathlib import Path

import pytest

from acd import parse_acd_config
from softswitch.cli import main
from softswitch.simulate import erlang_c, predict, simulate

MMC = """
queues:
  - number: "6400"
    name: MMC
    strategy: least_recent
    static_agents: ["1001", "1002", "1003"]
    ring_timeout: 60
    retry_interval: 0
    max_wait: 100000
    sla: {time: 20}
    simulation: {arrivals_per_hour: 40, mean_handle_time: 180}
"""


def test_erlang_c_textbook_values() -> None:
    # 2 Erlangs on 3 agents: P(wait) = 4/9 (e.g. Kleinrock, Queueing Systems I, M/M/c)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = utilisation
    assert erlang_c(2, 2.5) == 1.0  # overloaded


def test_prediction_asa_and_service_level() -> None:
    p = predict(40, 180, 3, 20)
    assert p.traffic == pytest.approx(2.0)
    assert p.average_wait == pytest.approx(4 / 9 * 180 / 1)  # C * h / (N - A) = 80 s
    assert p.service_level == pytest.approx(100 * (1 - 4 / 9 * 2.718281828 ** (-20 / 180)),
                                            rel=1e-6)
    assert predict(100, 180, 3, 20).average_wait is None


def test_simulated_mmc_queue_lands_near_erlang_c(tmp_path: Path) -> None:
    import yaml

    config = parse_acd_config(yaml.safe_load(MMC))
    (s,) = simulate(config, hours=600, seed=11)
    ec = s["erlang_c"]
    assert s["calls"] > 20_000 and s["abandoned"] == 0 and s["missed"] == 0
    assert s["probability_wait"] == pytest.approx(ec["probability_wait"], abs=0.04)
    assert s["average_wait"] == pytest.approx(ec["average_wait"], rel=0.15)
    assert s["service_level"] == pytest.approx(ec["service_level"], abs=4.0)


def test_impatient_callers_abandon_and_the_table_prints(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(MMC.replace("{arrivals_per_hour: 40, mean_handle_time: 180}",
                                "{arrivals_per_hour: 70, mean_handle_time: 180, "
                                "mean_patience: 60}"))
    assert main(["simulate", "--config", str(path), "--hours", "20"]) == 0
    out = capsys.readouterr().out
    assert "6400 MMC" in out and "Erlang C" in out
    assert main(["simulate", "--config", str(path), "--hours", "20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (q,) = data["queues"]
    assert q["abandoned"] > 0 and q["abandon_rate"] > 5
    assert q["erlang_c"]["average_wait"] is None  # 3.5 Erlangs on 3 agents


def test_example_config_simulates() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    assert main(["simulate", "--config", str(example), "--hours", "2", "--json"]) == 0


def test_bad_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MMC.replace("least_recent", "most_recent"))
    assert main(["simulate", "--config", str(path)]) == 2
    assert "queues[0].strategy" in capsys.readouterr().err
    path.write_text("queues: []\n")
    assert main(["simulate", "--config", str(path)]) == 2
    assert "nothing to simulate" in capsys.readouterr().err


def test_agents_key_staffs_only_that_many_agents_of_the_queue() -> None:
    import yaml

    text = MMC.replace("{arrivals_per_hour: 40, mean_handle_time: 180}",
                       "{arrivals_per_hour: 20, mean_handle_time: 180, agents: 1}")
    (s,) = simulate(parse_acd_config(yaml.safe_load(text)), hours=300, seed=5)
    assert s["agents"] == 1
    # M/M/1 with 1 Erlang offered... 20/h * 180 s = 1.0: overloaded, Erlang C has no answer
    assert s["erlang_c"]["average_wait"] is None
    text = text.replace("arrivals_per_hour: 20", "arrivals_per_hour: 10")
    (s,) = simulate(parse_acd_config(yaml.safe_load(text)), hours=1000, seed=5)
    assert s["probability_wait"] == pytest.approx(0.5, abs=0.05)  # M/M/1: P(wait) = rho
