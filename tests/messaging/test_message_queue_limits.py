"""The message-queue limits of omnichannel.md §5.2 / §13.31 by extension capacity N
(``limits.extensions``, default the configured extensions): 16 queues / 25 agents up to 50,
32 / 60 up to 200, 64 / 120 above; `softswitch check` names the refused queue or agent with
its file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import switchproc
import yaml

from softswitch.cli import main
from softswitch.config import ConfigError, parse_config
from softswitch.messaging.queues import queue_limits


def raw(tmp_path: Path, extensions: int, queues: int, agents: int,
        capacity: int | None) -> dict[str, Any]:
    cfg = switchproc.base_config(tmp_path)
    numbers = [str(2000 + i) for i in range(extensions)]
    cfg["extensions"] = [{"number": n, "name": f"Ext {n}", "password": f"pw-{n}"}
                         for n in numbers]
    cfg["message_queues"] = [{"name": f"Queue {q}", "agents": numbers[:agents]}
                             for q in range(queues)]
    if capacity is not None:
        cfg["limits"] = {"extensions": capacity}
    return cfg


def issues(tmp_path: Path, cfg: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, message, the YAML line the issue names)."""
    text = yaml.safe_dump(cfg, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml", tmp_path)
    lines = text.splitlines()
    return [(i.path, i.message, lines[i.line - 1].strip()) for i in info.value.issues]


def accepted(tmp_path: Path, cfg: dict[str, Any]) -> Any:
    return parse_config(yaml.safe_dump(cfg, sort_keys=False), "c.yaml", tmp_path)


def test_the_table_of_limits() -> None:
    assert [queue_limits(n) for n in (1, 50, 51, 200, 201, 500)] == [
        (16, 25), (16, 25), (32, 60), (32, 60), (64, 120), (64, 120)]


@pytest.mark.parametrize(("capacity", "max_queues", "max_agents"),
                         [(50, 16, 25), (200, 32, 60), (500, 64, 120)])
def test_the_queue_and_the_agent_past_the_limit_are_refused(
        tmp_path: Path, capacity: int, max_queues: int, max_agents: int) -> None:
    exts = min(capacity, 130)  # enough for one agent past the limit
    # exactly at the limits: accepted
    config = accepted(tmp_path, raw(tmp_path, exts, max_queues, max_agents, capacity))
    assert len(config.acd.message_queues) == max_queues
    assert config.extension_capacity == capacity
    # one queue more: the first queue past the limit is named, at its line
    [(path, message, line)] = issues(tmp_path, raw(tmp_path, exts, max_queues + 1, 3,
                                                   capacity))
    assert path == f"message_queues[{max_queues}]"
    assert f"at most {max_queues} message queues" in message and str(capacity) in message
    assert line == f"- name: Queue {max_queues}"
    # one agent more in a queue: that agent's line
    [(path, message, line)] = issues(tmp_path, raw(tmp_path, exts, 1, max_agents + 1,
                                                   capacity))
    assert path == f"message_queues[0].agents[{max_agents}]"
    assert f"at most {max_agents} agents" in message
    assert line == f"- '{2000 + max_agents}'"


def test_capacity_defaults_to_the_configured_extensions_and_cannot_be_below(
        tmp_path: Path) -> None:
    # 60 extensions, no limits: N = 60, so 32 queues and 60 agents are allowed
    config = accepted(tmp_path, raw(tmp_path, 60, 32, 60, None))
    assert config.extension_capacity == 60
    [(path, message, _)] = issues(tmp_path, raw(tmp_path, 60, 33, 2, None))
    assert path == "message_queues[32]" and "(limits.extensions)" in message
    # 30 extensions: N = 30, the 26th agent is refused
    [(path, _, _)] = issues(tmp_path, raw(tmp_path, 30, 1, 26, None))
    assert path == "message_queues[0].agents[25]"
    [(path, message, line)] = issues(tmp_path, raw(tmp_path, 60, 1, 2, 50))
    assert path == "limits.extensions" and "below the 60 extensions" in message
    assert line == "extensions: 50"
    cfg = raw(tmp_path, 3, 1, 2, None)
    cfg["limits"] = {"extension": 10}
    [(path, message, _)] = issues(tmp_path, cfg)
    assert path == "limits.extension" and "unknown key" in message


def test_softswitch_check_prints_file_and_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    text = yaml.safe_dump(raw(tmp_path, 20, 17, 2, None), sort_keys=False)
    path = tmp_path / "switch.yaml"
    path.write_text(text)
    assert main(["check", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    line = text.splitlines().index("- name: Queue 16") + 1
    assert f"{path}:{line}" in err and "at most 16 message queues" in err
