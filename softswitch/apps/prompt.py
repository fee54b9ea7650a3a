"""The `prompt` application (spec/queue-admin.md §11.1 "Play Prompt and Exit"): answer,
play a prompt once, then go to a destination (`hangup` by default, i.e. play and exit).

Decisions:
- Digits do not interrupt the prompt (the manual's "play and exit" has no key handling).
- The caller is answered first: a prompt needs media. A caller who is already answered
  (the queue's failover) gets no second 200: the shell ignores `Answer` on an answered call.
- After the prompt the shell waits `AFTER_PROMPT` seconds before the next step: the phone's
  jitter buffer still holds the prompt's last frames, a BYE at once would cut them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acd.config import Destination, DestinationType
from softswitch.apps.flow import Action, Answer, CallInfo, FlowBase, Hangup, Play, RouteTo

AFTER_PROMPT = 0.3


@dataclass
class PromptFlow(FlowBase):
    """Play `prompt`, then `then` (hang up by default)."""

    prompt: str = ""
    then: Destination = field(default_factory=lambda: Destination(DestinationType.HANGUP))
    _play: int = 0
    _deadline: float | None = None
    _done: bool = False

    def start(self, call: CallInfo, now: float) -> list[Action]:
        self._play = self.next_id()
        return [Answer(), Play(self._play, [self.prompt])]

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        if play_id == self._play and not self._done:
            self._deadline = now + AFTER_PROMPT
        return []

    def handle_timer(self, now: float) -> list[Action]:
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        self._done = True
        if self.then.type is DestinationType.HANGUP:
            return [Hangup()]
        return [RouteTo(self.then)]

    def next_deadline(self) -> float | None:
        return self._deadline


def _prompt_flow(config: Any, target: str) -> PromptFlow:
    return PromptFlow(prompt=target)


def _register() -> None:
    from softswitch.destinations import prompt_exists, register_application

    register_application(DestinationType.PROMPT, _prompt_flow, section="prompts",
                         exists=prompt_exists)


_register()
