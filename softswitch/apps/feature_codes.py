"""Agent feature-code calls (spec/queue-admin.md §6.7, §13; softswitch.features): the
switch answers, the code's change is published (softswitch.agentdesk applies it to the
ACD), the caller hears the outcome's prompt once, and the switch hangs up.

Decisions (as before the call shell):
- The caller is answered even when the code is refused: the prompt says why (not
  permitted / invalid / not signed in).
- The change is published when the call starts, before the answer: it stands whatever the
  caller does next (a CANCEL or a hang-up during the prompt does not undo it).
- The switch hangs up shortly after the prompt ends (softswitch.apps.prompt.AFTER_PROMPT).
"""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.apps.events import FeatureCodeDialled
from softswitch.apps.flow import Action, CallInfo, Publish
from softswitch.apps.prompt import PromptFlow
from softswitch.features import FeatureOutcome

INVALID_PROMPT = "feature-code-invalid"


@dataclass
class FeatureCodeFlow(PromptFlow):
    """`outcome`: what softswitch.features decided for the dialled code (None: not a code
    we know, the caller hears "invalid")."""

    outcome: FeatureOutcome | None = None

    def start(self, call: CallInfo, now: float) -> list[Action]:
        out = self.outcome
        self.prompt = out.prompt.value if out is not None else INVALID_PROMPT
        if out is None:
            return super().start(call, now)
        return [Publish(FeatureCodeDialled(now, call.call_id, call.caller, call.dialled,
                                           out.actions, out.result, out.ok)),
                *super().start(call, now)]
