"""The queue caller as a call application, sans-IO (spec/queue-admin.md §2.5, §4.2, §9.6;
softswitch.apps.flow).

`QueueFlow` is what one caller of a queue hears and what their keys do, from the moment the
switch answered them until the agent answers (and again after the agent hangs up, for the
survey). It turns the ACD's commands for that caller (`handle_command`: PlayPrompt,
StartMusic, AnnouncePosition, CollectCallbackNumber, EndCallbackDialogue, HangUp) and the
caller's inputs (the `Flow` methods: digits, playback done, timers with ``now``, hang-up)
into the framework's actions (`Play`, `StopPlayback`, `Music`, `Hangup`, `Publish`,
`SetLanguage`, `RouteTo`) plus three queue outputs toward the engine, which the queue's
shell feeds to `acd.Acd`: `KeyToAcd` (a key pressed while waiting or in the callback
dialogue: the engine times the dialogue's silence and acts on the callback key),
`CallbackNumberToAcd` (the dialogue's result) and `JoinPromptFinished` (§2.5 "play the full
join prompt before ringing agents").

It never touches a leg, a socket or the loop; the queue's shell (softswitch.queue.
controller) runs its actions on the caller's media leg and feeds it the playback results and
its timer on the injected clock. The tests drive it in virtual time
(tests/queue/test_queue_flow.py).

Decisions (the behaviour the queue shell had before the move, now in one place):
- While the caller enters a callback number, the ACD's periodic prompts and position
  announcements are dropped (they would talk over the dialogue); music resumes between
  prompts.
- Every key of the callback dialogue also goes to the ACD (it restarts its silence timer);
  "2" plays "enter your callback number"; a finished entry goes to the ACD, and when the
  engine does not answer it with HangUp (the number was refused, §4.2: fewer than 5
  digits) the caller hears "invalid number" and keeps waiting.
- `goodbye(parts)`: the last prompt, then ``HANGUP_AFTER_PROMPT`` s for the phone's jitter
  buffer to play the prompt's last frames, then `Hangup`. A callback registered (HangUp of
  the ACD) says "callback confirmed" this way; the queue shell keeps the caller's place.
- Survey (§9.6): after the agent hung up, the survey prompt; `SURVEY_ANSWER_TIME` s after it
  ended a caller who pressed no survey key is said "goodbye". The first survey key is
  published (`SurveyAnswered`) and followed by the end prompt (or "survey-thanks").
- RouteTask (`handle_route`): a prompt of the same engine output (the holiday prompt) is
  heard to its end before `RouteTo`; a route without one (a destination key, failover)
  stops what plays and routes at once. The destination itself is the queue shell's (the
  one destination router).
- The join prompt counts as finished when its playback ends, stopped or not, but only
  while the caller still simply waits (not in the callback dialogue, not connected).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from acd.commands import (
    AnnouncePosition,
    CollectCallbackNumber,
    Command,
    EndCallbackDialogue,
    HangUp,
    PlayPrompt,
    StartMusic,
)
from acd.config import Destination
from softswitch.apps.flow import (
    Action,
    CallInfo,
    Hangup,
    Music,
    Play,
    PromptPart,
    Publish,
    RouteTo,
    SetLanguage,
    StopPlayback,
)
from softswitch.events import SurveyAnswered
from softswitch.queue.announce import callback_confirm_parts, position_parts
from softswitch.queue.entry import AskForNumber, CallbackNumberEntry, NumberEntered, SurveyEntry

SURVEY_ANSWER_TIME = 10.0  # s after the survey prompt before the switch says goodbye
HANGUP_AFTER_PROMPT = 0.3  # s: the phone's jitter buffer still holds the prompt's end


class Phase(enum.Enum):
    WAITING = "waiting"  # music, announcements; keys go to the ACD
    COLLECTING = "collecting"  # the callback-number dialogue
    CONNECTED = "connected"  # talking to an agent (the bridge is the queue shell's)
    ROUTED = "routed"  # sent to a destination: the engine no longer hears its keys
    SURVEY = "survey"  # agent hung up, the caller rates the call
    ENDING = "ending"  # a last prompt, then Hangup
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class KeyToAcd:
    """Feed `Acd.handle_key_pressed(task, digit)`."""

    digit: str


@dataclass(frozen=True, slots=True)
class CallbackNumberToAcd:
    """Feed `Acd.handle_callback_number(task, number)` ("" = the number they call from);
    then call `QueueFlow.handle_number_fed`."""

    number: str


@dataclass(frozen=True, slots=True)
class JoinPromptFinished:
    """Feed `Acd.handle_join_prompt_finished(task)`."""


QueueOutput = Action | KeyToAcd | CallbackNumberToAcd | JoinPromptFinished


@dataclass(frozen=True, slots=True)
class SurveyPlan:
    """The queue's satisfaction survey as the caller gets it: ``prompt`` and ``end_prompt``
    are prompt names (the shell has checked that they exist), ``scores`` key -> score."""

    prompt: str
    end_prompt: str | None
    scores: Mapping[str, int]


@dataclass
class QueueFlow:
    """One queue caller (see the module docstring). ``task_id`` is the caller's Call-ID;
    ``language`` the queue's prompt language. It has the inputs of a `Flow`; its outputs are
    the framework's actions plus the three toward the engine (`QueueOutput`), which is why
    it is not typed as a `Flow`: only a shell that feeds the ACD can run it."""

    task_id: str = ""
    queue: str = ""
    caller: str = ""
    language: str = "en"
    phase: Phase = Phase.WAITING
    agent: str | None = None
    entry: CallbackNumberEntry | None = None
    survey: SurveyEntry | None = None
    keep_place: bool = False  # the ACD keeps the caller's place (a callback request)
    _play: int | None = field(default=None, repr=False)  # the latest Play
    _join_play: int | None = field(default=None, repr=False)
    _survey_play: int | None = field(default=None, repr=False)
    _goodbye_play: int | None = field(default=None, repr=False)
    _number_fed: bool = field(default=False, repr=False)
    _deadline: float | None = field(default=None, repr=False)
    _survey_end: str | None = field(default=None, repr=False)
    _ids: int = field(default=0, repr=False)
    _route_after: tuple[int, Destination] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ the Flow inputs

    def start(self, call: CallInfo, now: float) -> list[Action]:
        self.task_id, self.caller, self.language = call.call_id, call.caller, call.language
        self.queue = self.queue or call.dialled
        self.phase = Phase.WAITING
        self._route_after = None
        return []

    def handle_digit(self, digit: str, now: float) -> list[QueueOutput]:
        if self.phase is Phase.WAITING:
            return [KeyToAcd(digit)]
        if self.phase is Phase.COLLECTING and self.entry is not None:
            out: list[QueueOutput] = [KeyToAcd(digit)]  # not silence: restarts its timer
            result = self.entry.handle_digit(digit)
            if isinstance(result, AskForNumber):
                out.append(self.say(["enter-callback-number"]))
            elif isinstance(result, NumberEntered):
                self.phase = Phase.WAITING
                self.entry = None
                self._number_fed = True
                out.append(CallbackNumberToAcd(result.number))
            return out
        if self.phase is Phase.SURVEY and self.survey is not None:
            score = self.survey.handle_digit(digit)
            if score is None:
                return []
            end = self._survey_end
            return [Publish(SurveyAnswered(now, self.task_id, self.queue, self.agent or "",
                                           self.caller, digit, score)),
                    *self.goodbye([end] if end else ["survey-thanks"], now)]
        return []

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[QueueOutput]:
        if play_id == self._play:
            self._play = None
        if self._route_after is not None and play_id == self._route_after[0]:
            destination = self._route_after[1]
            self._route_after = None
            return [RouteTo(destination)] if self.phase is Phase.ROUTED else []
        if play_id == self._join_play:
            self._join_play = None
            if self.phase is Phase.WAITING:
                return [JoinPromptFinished()]
        elif play_id == self._survey_play and self.phase is Phase.SURVEY:
            self._survey_play = None
            self._deadline = now + SURVEY_ANSWER_TIME
        elif play_id == self._goodbye_play and self.phase is Phase.ENDING:
            self._goodbye_play = None
            self._deadline = now + HANGUP_AFTER_PROMPT
        return []

    def handle_timer(self, now: float) -> list[Action]:
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        if self.phase is Phase.SURVEY:
            return self.goodbye(["goodbye"], now)
        if self.phase is Phase.ENDING:
            self.phase = Phase.ENDED
            return [Hangup("callback registered" if self.keep_place else "goodbye")]
        return []

    def handle_hangup(self, now: float) -> list[Action]:
        self.phase = Phase.ENDED
        self._deadline = None
        self._route_after = None
        return []

    def next_deadline(self) -> float | None:
        return self._deadline

    # ------------------------------------------------------------------ the engine's commands

    def handle_command(self, cmd: Command, now: float, *, join: bool = False) -> list[Action]:
        """An ACD command for this caller. ``join``: a PlayPrompt that is the join prompt the
        engine waits for (`JoinPromptFinished` when it ends)."""
        if self.phase in (Phase.ENDING, Phase.ENDED):
            return []
        if isinstance(cmd, PlayPrompt):
            if self.phase is Phase.COLLECTING:
                return []  # never talk over the callback-number dialogue
            out: list[Action] = self._language(cmd.language)
            play = self.say([cmd.prompt])
            if join:
                self._join_play = play.play_id
            return [*out, play]
        if isinstance(cmd, StartMusic):
            return [Music(cmd.prompt)]
        if isinstance(cmd, AnnouncePosition):
            if self.phase is Phase.COLLECTING:
                return []
            parts = position_parts(cmd.position, cmd.estimated_wait, cmd.thank_you,
                                   cmd.language)
            return [*self._language(cmd.language), self.say(_prompt_parts(parts))]
        if isinstance(cmd, CollectCallbackNumber):
            self.phase = Phase.COLLECTING
            self.entry = CallbackNumberEntry(cmd.default_number or self.caller)
            return [self.say(_prompt_parts(callback_confirm_parts(self.entry.default_number,
                                                                   self.language)))]
        if isinstance(cmd, EndCallbackDialogue):
            if self.phase is not Phase.COLLECTING:
                return []
            self.phase = Phase.WAITING
            self.entry = None
            return self._stop()
        if isinstance(cmd, HangUp):
            self.keep_place = True
            self._number_fed = False
            return self.goodbye(["callback-confirmed"], now)
        return []

    def handle_number_fed(self, now: float) -> list[Action]:
        """The ACD has had the callback number (`CallbackNumberToAcd`): unless it answered
        with HangUp, the number was refused."""
        if not self._number_fed:
            return []
        self._number_fed = False
        return [self.say(["invalid-number"])]

    def handle_connected(self, agent: str, agent_id: list[str], now: float) -> list[Action]:
        """An agent answered and the queue shell bridged the caller with them: the queue's
        music and prompts stop; ``agent_id`` (the ID announcement's words, §2.5) is said to
        the caller."""
        self.phase = Phase.CONNECTED
        self.agent = agent
        self.entry = None
        out: list[Action] = [Music(None), *self._stop()]
        if agent_id:
            out.append(self.say([agent_id]))
        return out

    def handle_survey(self, plan: SurveyPlan, now: float) -> list[Action]:
        """The agent hung up and the queue has a survey (§9.6)."""
        self.phase = Phase.SURVEY
        self.survey = SurveyEntry(dict(plan.scores))
        self._survey_end = plan.end_prompt
        play = self.say([plan.prompt])
        self._survey_play = play.play_id
        return [play]

    def handle_route(self, destination: Destination, after_prompt: bool,
                     now: float) -> list[Action]:
        """The engine sent the caller to ``destination`` (RouteTask); from now on its keys
        are nobody's. ``after_prompt``: the same output played a prompt first (the holiday
        prompt of time-based routing), which the caller hears to its end before `RouteTo`;
        otherwise what plays stops at once (a position announcement cut by a destination
        key)."""
        if self.phase in (Phase.ENDING, Phase.ENDED):
            return []
        self.phase = Phase.ROUTED
        self.entry = None
        if after_prompt and self._play is not None:
            self._route_after = (self._play, destination)
            return []
        return [*([] if after_prompt else self._stop()), RouteTo(destination)]

    def goodbye(self, parts: list[PromptPart], now: float) -> list[Action]:
        """A last prompt, then `Hangup` (module docstring)."""
        if self.phase is Phase.ENDED:
            return []
        self.phase = Phase.ENDING
        self.entry = self.survey = None
        self._deadline = None
        play = self.say(parts)
        self._goodbye_play = play.play_id
        return [Music(None), play]

    # ------------------------------------------------------------------ helpers

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def say(self, parts: list[PromptPart]) -> Play:
        play = Play(self.next_id(), list(parts))
        self._play = play.play_id
        return play

    def _stop(self) -> list[Action]:
        if self._play is None:
            return []
        play, self._play = self._play, None
        return [StopPlayback(play)]

    def _language(self, language: str) -> list[Action]:
        if not language or language == self.language:
            return []
        self.language = language
        return [SetLanguage(language)]


def _prompt_parts(parts: Sequence[object]) -> list[PromptPart]:
    """The announcers' parts (names and word lists) as `Play` parts."""
    out: list[PromptPart] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, list):
            out.append([str(p) for p in part])
    return out
