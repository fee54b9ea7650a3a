"""The benchmarks' switch configurations pass `softswitch check`: a benchmark that builds a
config the switch refuses measures nothing (the soak once failed to start because the
demo's presence choices named an extension the benchmark had dropped)."""

from __future__ import annotations

from pathlib import Path

import yaml

from benchmarks.peers.switch import Extension, build_config
from softswitch.config import load_config


def _loads(tmp_path: Path, config: dict[str, object]) -> None:
    path = tmp_path / "softswitch.yaml"
    path.write_text(yaml.safe_dump(config))
    load_config(path)  # raises with file:line problems when `check` would refuse it


def test_demo_config_as_benchmarks_use_it(tmp_path: Path) -> None:
    _loads(tmp_path, build_config(tmp_path))


def test_config_without_the_demo_extensions(tmp_path: Path) -> None:
    config = build_config(
        tmp_path,
        extensions=[Extension("5000", "callee-pw"), Extension("7000", "agent-pw")],
        keep_demo_extensions=False,
        queues=[{"number": "6500", "name": "Soak", "strategy": "least_recent",
                 "static_agents": ["7000"]}],
    )
    assert [e["number"] for e in config["extensions"]] == ["5000", "7000"]
    assert "extensions" not in config.get("presence", {})
    _loads(tmp_path, config)


def test_sip_register_cpu_config(tmp_path: Path) -> None:
    from benchmarks.sip_register_cpu import switch_config

    _loads(tmp_path, switch_config(tmp_path))
