"""Events the call applications publish on the switch's event bus (softswitch.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FeatureCodeDialled:
    """An extension dialled an agent feature code (spec/queue-admin.md §6.7): `actions`
    (softswitch.features.AgentAction: sign in/out, pause, resume) are to be applied to the
    ACD in order, which softswitch.agentdesk does; `result` is the text for the log."""

    at: float
    call_id: str
    caller: str
    dialled: str
    actions: tuple[Any, ...]
    result: str
    ok: bool
