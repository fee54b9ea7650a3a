"""Shared builders for the ACD tests: configs from plain mappings, as the YAML gives them."""

from __future__ import annotations

from typing import Any

from acd import Acd, Output, parse_acd_config
from acd.commands import RingAgents
from acd.events import Event


def queue(number: str = "6400", **kw: Any) -> dict[str, Any]:
    q: dict[str, Any] = {"number": number, "name": f"Q{number}", "ring_timeout": 20,
                         "retry_interval": 0, "max_wait": 1800}
    q.update(kw)
    return q


def make(*queues: dict[str, Any], seed: int = 1, **sections: Any) -> Acd:
    return Acd(parse_acd_config({"queues": list(queues), **sections}), seed=seed)


def rung(out: Output) -> list[tuple[str, ...]]:
    """The agent tuples of every RingAgents command in an output."""
    return [c.agents for c in out.commands if isinstance(c, RingAgents)]


def ring_of(out: Output, task: str) -> tuple[str, ...]:
    for c in out.commands:
        if isinstance(c, RingAgents) and c.task == task:
            return c.agents
    return ()


def of_type(out: Output | list[Event], cls: type) -> list[Any]:
    items = out.events + out.commands if isinstance(out, Output) else out  # type: ignore
    return [e for e in items if isinstance(e, cls)]
