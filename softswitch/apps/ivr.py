"""IVR (auto attendant): a prompt, keys to destinations, direct dial of extensions, timeout
and invalid-key prompts, a repeat count, then a fallback destination (queue-admin.md §11.1
"IVR"; the manual does not describe the IVR itself, so Asterisk's `Background()`/`WaitExten()`
and FreePBX's IVR module are the reference).

One call: answer, play the IVR prompt (any digit cuts it short), then wait `timeout` seconds
for a key. A key mapped in `keys` routes the caller there at once, unless direct dial is on
and the digit also starts an extension number, in which case the flow waits up to
`digit_timeout` seconds for more digits (FreePBX's behaviour): the collected string routes
to that extension when it is one, to the mapped key when it is exactly one mapped digit, else
it is invalid. An invalid entry plays `invalid_prompt`, a timeout plays `timeout_prompt`;
either way the IVR prompt is played again, at most `repeat` times in all; after that the
caller goes to the fallback destination (`invalid_destination` / `timeout_destination`,
which default to `fallback`).

Decisions:
- `#` ends direct-dial entry early (as desk phones' send key); `*` is an ordinary key that
  may be mapped.
- The count of plays includes the first one: `repeat: 3` means the caller hears the menu at
  most three times.
- A digit pressed during the invalid/timeout prompt starts a new entry (the prompt is cut),
  as it would during the menu itself.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from acd.config import Destination, DestinationType
from softswitch.apps.flow import Action, Answer, CallInfo, FlowBase, Play, RouteTo, StopPlayback

DIGITS = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class IvrConfig:
    """One IVR of the config's `ivrs` list."""

    number: str
    name: str
    prompt: str
    keys: Mapping[str, Destination] = field(default_factory=dict)
    direct_dial: bool = False
    timeout: float = 5.0
    digit_timeout: float = 3.0
    repeat: int = 3
    invalid_prompt: str = "invalid-entry"
    timeout_prompt: str = "no-entry"
    fallback: Destination = Destination(DestinationType.HANGUP)
    invalid_destination: Destination | None = None
    timeout_destination: Destination | None = None


class Extensions(Protocol):
    """What direct dial asks of the extension list (`ExtensionDirectory` below)."""

    def is_extension(self, number: str) -> bool: ...

    def has_prefix(self, entry: str) -> bool: ...


class IvrState(enum.Enum):
    MENU = "menu"  # the IVR prompt is playing
    WAITING = "waiting"  # prompt over, waiting for the first key
    DIALLING = "dialling"  # direct dial: collecting more digits
    RETRY_PROMPT = "retry_prompt"  # the invalid or timeout prompt is playing
    DONE = "done"


class IvrFlow(FlowBase):
    """The IVR's logic for one caller; `extensions` answers direct dial's questions."""

    def __init__(self, config: IvrConfig, extensions: Extensions) -> None:
        super().__init__()
        self.config = config
        self.extensions = extensions
        self.state = IvrState.MENU
        self.plays = 0
        self.entry = ""
        self._deadline: float | None = None
        self._playing: int | None = None

    # -- inputs

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [Answer(), *self._menu()]

    def handle_digit(self, digit: str, now: float) -> list[Action]:
        if self.state is IvrState.DONE or digit not in DIGITS:
            return []
        out: list[Action] = []
        if self._playing is not None:
            out.append(StopPlayback(self._playing))
            self._playing = None
        if self.state is not IvrState.DIALLING:
            self.entry = ""
        if digit == "#" and self.state is IvrState.DIALLING:
            return out + self._entry_complete()
        self.entry += digit
        if self._may_continue():
            self.state = IvrState.DIALLING
            self._deadline = now + self.config.digit_timeout
            return out
        return out + self._entry_complete()

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        if play_id != self._playing:
            return []
        self._playing = None
        if interrupted or self.state is IvrState.DONE:
            return []
        if self.state is IvrState.MENU:
            self.state = IvrState.WAITING
            self._deadline = now + self.config.timeout
            return []
        if self.state is IvrState.RETRY_PROMPT:
            return self._menu()
        return []

    def handle_timer(self, now: float) -> list[Action]:
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        if self.state is IvrState.DIALLING:
            return self._entry_complete()
        if self.state is IvrState.WAITING:
            return self._retry(self.config.timeout_prompt,
                               self.config.timeout_destination or self.config.fallback)
        return []

    def handle_hangup(self, now: float) -> list[Action]:
        self.state = IvrState.DONE
        self._deadline = None
        return []

    def next_deadline(self) -> float | None:
        return self._deadline

    # -- rules

    def _may_continue(self) -> bool:
        """Direct dial: more digits may follow when some extension starts with the entry
        and the entry is not already a complete extension that no longer one extends."""
        if not self.config.direct_dial or not self.entry[0].isdigit():
            return False
        return self.extensions.has_prefix(self.entry)

    def _entry_complete(self) -> list[Action]:
        entry, self.entry = self.entry, ""
        self._deadline = None
        if self.config.direct_dial and len(entry) > 1 and self.extensions.is_extension(entry):
            return self._route(Destination(DestinationType.EXTENSION, entry))
        if entry in self.config.keys:
            return self._route(self.config.keys[entry])
        if self.config.direct_dial and entry and self.extensions.is_extension(entry):
            return self._route(Destination(DestinationType.EXTENSION, entry))
        return self._retry(self.config.invalid_prompt,
                           self.config.invalid_destination or self.config.fallback)

    def _retry(self, prompt: str, destination: Destination) -> list[Action]:
        if self.plays >= self.config.repeat:
            return self._route(destination)
        self.state = IvrState.RETRY_PROMPT
        if not prompt:
            return self._menu()
        self._playing = self.next_id()
        return [Play(self._playing, [prompt], interrupt_digits=DIGITS)]

    def _menu(self) -> list[Action]:
        self.plays += 1
        self.state = IvrState.MENU
        self._playing = self.next_id()
        return [Play(self._playing, [self.config.prompt], interrupt_digits=DIGITS)]

    def _route(self, destination: Destination) -> list[Action]:
        self.state = IvrState.DONE
        self._deadline = None
        return [RouteTo(destination)]


class ExtensionDirectory:
    """The extension numbers direct dial may reach; `has_prefix(entry)` says whether a
    longer number starting with `entry` exists (all proper prefixes, built once per config,
    so each digit costs one set look-up)."""

    def __init__(self, numbers: Iterable[str]) -> None:
        self._numbers = frozenset(numbers)
        self._prefixes = frozenset(n[:i] for n in self._numbers for i in range(1, len(n)))

    def is_extension(self, number: str) -> bool:
        return number in self._numbers

    def has_prefix(self, entry: str) -> bool:
        return entry in self._prefixes
