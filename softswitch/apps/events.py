"""Events the call applications publish on the switch's event bus (softswitch.events).

`at` is the flow's monotonic `now`, like the ACD's events; subscribers that write rows
stamp the wall-clock time themselves when the event arrives (publish is synchronous).
"""

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


@dataclass(frozen=True, slots=True)
class VoicemailLeft:
    """A caller left a message in `box` (an extension's box or a group box)."""

    at: float
    box: str
    message_id: str
    caller: str
    caller_name: str
    path: str
    seconds: float
    call_id: str


@dataclass(frozen=True, slots=True)
class VoicemailHeard:
    """The box owner listened to a new message: it moves from new to old (RFC 3842 counts)."""

    at: float
    box: str
    message_id: str


@dataclass(frozen=True, slots=True)
class VoicemailSaved:
    """The owner kept a message in the saved folder (it no longer counts as new or old)."""

    at: float
    box: str
    message_id: str


@dataclass(frozen=True, slots=True)
class VoicemailDeleted:
    at: float
    box: str
    message_id: str


@dataclass(frozen=True, slots=True)
class CallFlowToggled:
    """The manual day/night toggle of a call flow was flipped by feature code (`forced`:
    "day", "night" or "" for back to the schedule)."""

    at: float
    call_flow: str
    forced: str
    by: str
