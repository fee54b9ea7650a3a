"""What the running switch gives the applications that need more than the configuration
(`register_application(..., contextual=True)`): the voicemail boxes' contents, the call
flows' manual modes, the wall clock and where messages are written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from softswitch.apps.mailbox import Mailboxes


@dataclass
class AppContext:
    mailboxes: Mailboxes
    voicemail_dir: Path
    wall: Callable[[], float]
    call_flow_modes: dict[str, str] = field(default_factory=dict)  # number -> "night"
