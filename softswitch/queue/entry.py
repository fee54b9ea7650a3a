"""Key-press dialogues of a queue caller, sans-IO (spec/queue-admin.md §4.2, §9.6).

`CallbackNumberEntry`: after the callback key (or the callback offer after the timeout) the
caller confirms the number they call from or enters another one. `SurveyEntry`: after the
agent hung up, the caller rates the call with one key.

Decisions (§4.2 leaves the key layout to the prompts; these match the system prompts
"press 1 to confirm or 2 to change" and "enter your callback number followed by #"):
- While the caller's own number is offered: ``1`` or ``#`` confirms it; ``2`` asks for
  another number; any other digit starts the other number directly (a caller who ignores the
  prompt and types the number is not made to start again).
- A number ends with ``#``; ``*`` clears what was typed so far. The entry is complete at ``#``
  whatever its length: the ACD decides (>= 5 digits, else "invalid callback number" and
  the caller keeps waiting, §4.2).
- A caller whose own number is not a number (anonymous, a SIP name) goes straight to typing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class EntryState(enum.Enum):
    CONFIRMING = "confirming"  # "your callback number is ..., press 1 to confirm or 2 to change"
    ENTERING = "entering"  # "enter your callback number, followed by the pound key"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class NumberEntered:
    """The caller finished: ``number`` ("" = keep the number they call from)."""

    number: str


@dataclass(frozen=True, slots=True)
class AskForNumber:
    """The caller pressed 2: play the "enter your callback number" prompt."""


EntryResult = NumberEntered | AskForNumber | None


@dataclass
class CallbackNumberEntry:
    default_number: str
    state: EntryState = EntryState.CONFIRMING
    digits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.default_number.isdigit():
            self.state = EntryState.ENTERING

    def handle_digit(self, digit: str) -> EntryResult:
        if self.state is EntryState.DONE:
            return None
        if self.state is EntryState.CONFIRMING:
            if digit in ("1", "#"):
                self.state = EntryState.DONE
                return NumberEntered("")
            self.state = EntryState.ENTERING
            if digit == "2":
                return AskForNumber()
            # fall through: the digit is the first of another number
        if digit == "#":
            self.state = EntryState.DONE
            return NumberEntered("".join(self.digits))
        if digit == "*":
            self.digits.clear()
        elif digit.isdigit():
            self.digits.append(digit)
        return None


@dataclass
class SurveyEntry:
    """§9.6: one key of ``scores`` (key -> score) rates the call; other keys are ignored."""

    scores: dict[str, int]
    answered: str | None = None

    def handle_digit(self, digit: str) -> int | None:
        """The score when ``digit`` is a survey key (only the first one counts)."""
        if self.answered is not None or digit not in self.scores:
            return None
        self.answered = digit
        return self.scores[digit]
