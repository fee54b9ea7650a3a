"""acd.config: typed config from the YAML's plain mappings, errors naming the key path."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from acd_helpers import queue

from acd import Acd, AcdConfigError, parse_acd_config
from acd.config import (
    DEFAULT_PAUSE_REASONS,
    DestinationType,
    EmptyScenario,
    RingStrategy,
    TakeOverMode,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def _error(sections: dict[str, Any], **kw: Any) -> AcdConfigError:
    with pytest.raises(AcdConfigError) as exc:
        parse_acd_config(sections, **kw)
    return exc.value


def test_example_config_loads_and_runs() -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    extensions = [e["number"] for e in raw["extensions"]]
    config = parse_acd_config(raw, extensions=extensions)
    sales, support = config.queues
    assert (sales.number, sales.strategy) == ("6400", RingStrategy.ROUND_ROBIN)
    assert [m.extension for m in sales.static_agents] == ["1001"]
    assert [m.extension for m in sales.dynamic_agents] == ["1002"]
    assert sales.leave_when_empty == {EmptyScenario.UNREGISTERED, EmptyScenario.PAUSED}
    assert support.skill_based_routing
    assert [(m.extension, m.skill) for m in support.dynamic_agents] == [("1002", 1), ("1001", 2)]
    assert config.message_queues[0].chat_assignment_mode is TakeOverMode.MANUAL
    assert len(config.pause_reasons) == 3
    acd = Acd(config)
    assert acd.is_signed_in("1002", "6401") and not acd.is_signed_in("1002", "6400")


def test_defaults() -> None:
    config = parse_acd_config({"queues": [{"number": "6400", "name": "Q"}]})
    q = config.queues[0]
    assert q.strategy is RingStrategy.RING_ALL
    assert (q.max_wait, q.ring_timeout, q.retry_interval, q.wrapup) == (1800, 30, 5, 0)
    assert q.failover.type is DestinationType.HANGUP
    assert (q.sla.time, q.sla.alert_threshold) == (60, 80)  # §15.56
    assert q.max_callers == 0 and q.priority.weight == 1
    assert config.pause_reasons == DEFAULT_PAUSE_REASONS  # *01 Lunch, *02 Break, *03 Wrap up


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"strategy": "round_robbin"}, ("queues", 0, "strategy"), "round_robin"),
    ({"number": "64a0"}, ("queues", 0, "number"), "digits"),
    ({"max_wait": "long"}, ("queues", 0, "max_wait"), "number"),
    ({"ring_timeout": 0}, ("queues", 0, "ring_timeout"), ">= 1"),
    ({"failover": {"type": "voicemail"}}, ("queues", 0, "failover", "target"), "required"),
    ({"failover": {"type": "fax", "target": "1"}}, ("queues", 0, "failover", "type"),
     "hangup"),
    ({"static_agents": ["1001", "1001"]}, ("queues", 0, "static_agents", 1), "twice"),
    ({"dynamic_agents": ["1001"]}, ("queues", 0, "dynamic_agents"), "static"),
    ({"colour": "red"}, ("queues", 0, "colour"), "unknown key"),
    ({"leave_when_empty": ["asleep"]}, ("queues", 0, "leave_when_empty", 0), "paused"),
    ({"callback": {"method": "press_key"}}, ("queues", 0, "callback", "key"), "required"),
    ({"callback": {"method": "press_key", "key": "1", "callback_timeout": 1800}},
     ("queues", 0, "callback", "callback_timeout"), "less than"),
])
def test_errors_name_the_key(change: dict[str, Any], path: tuple[Any, ...], words: str) -> None:
    err = _error({"queues": [queue(**{"static_agents": ["1001"], **change})]})
    assert err.path == path
    assert words in err.message


def test_path_renders_for_the_file_line_mapper() -> None:
    err = _error({"queues": [queue(), queue(strategy="x")]})
    assert str(err.path) == "queues[1].strategy"


def test_unknown_extension_is_rejected_when_extensions_are_given() -> None:
    err = _error({"queues": [queue(static_agents=["1001", "1999"])]}, extensions=["1001"])
    assert err.path == ("queues", 0, "static_agents", 1)
    assert "1999" in err.message


def test_duplicate_queue_number() -> None:
    err = _error({"queues": [queue("6400"), queue("6400")]})
    assert err.path == ("queues", 1, "number")


def test_at_most_20_pause_reasons() -> None:
    """§15.18: a 21st pause reason is rejected."""
    reasons = [{"code": f"*{i:02d}", "reason": f"R{i}"} for i in range(1, 22)]
    err = _error({"pause_reasons": reasons})
    assert err.path == ("pause_reasons", 20)
    parse_acd_config({"pause_reasons": reasons[:20]})


def test_business_hours_format() -> None:
    err = _error({"business_hours": [{"time_zone": "Europe/Berlin",
                                      "periods": [{"days": ["mon"], "time": "9-17"}]}]})
    assert err.path == ("business_hours", 0, "periods", 0, "time")
    err = _error({"business_hours": [{"time_zone": "Mars/Olympus", "periods": []}]})
    assert err.path == ("business_hours", 0, "time_zone")


def test_message_queue_mode() -> None:
    err = _error({"message_queues": [{"name": "Chat", "agents": ["1001"],
                                      "chat_assignment_mode": "grab"}]})
    assert err.path == ("message_queues", 0, "chat_assignment_mode")


def test_satisfaction_survey() -> None:
    """§9.6: key -> score map (negative scores allowed, as in the manual's fixture)."""
    config = parse_acd_config({"queues": [queue(satisfaction_survey={
        "prompt": "survey", "scores": {0: -3, 1: -2, 3: 0, 5: 2}})]})
    survey = config.queues[0].satisfaction_survey
    assert survey is not None and survey.scores == {"0": -3, "1": -2, "3": 0, "5": 2}
    err = _error({"queues": [queue(satisfaction_survey={"prompt": "s", "scores": {"x": 1}})]})
    assert err.path == ("queues", 0, "satisfaction_survey", "scores", "x")
