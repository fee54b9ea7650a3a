"""Agent feature codes (spec/queue-admin.md §6.1, §6.2, §6.7, §13; queue-manager-agent.md §7.3).

Dialled strings, with the manual's default codes (each configurable, each can be disabled):

==========================  ===========  =====================================  ===========
feature                     default      dialled                                who
==========================  ===========  =====================================  ===========
sign in / out (toggle)      ``*7``       ``*7`` + queue, ``*76400``              dynamic
pause / unpause (toggle)    ``*07``      ``*07`` + queue, ``*076400``            both
pause with a reason         (pause)      ``*07`` + queue + reason, ``*076400*03``  both
sign in to all queues       ``*77``      ``*77``                                dynamic
sign in to last queues      ``*78``      ``*78``                                dynamic
sign out of all queues      ``*077``     ``*077``                               dynamic
pause-reason BLF value      (pause)      ``*07`` + agent + ``*`` + queue + reason,  §6.2
                                         ``*071001*6400*01``
==========================  ===========  =====================================  ===========

Reason codes are the global pause reasons (`*01` Lunch, `*02` Break, `*03` Wrap up by
default) and are appended as they are written, star included (manual: "暂停特征码 + 队列号码
+ 暂停原因特征码").

Decisions (ambiguities the manual leaves open):
- A string is ours only when it is one of the exact codes or a prefix followed by a
  configured queue number (or, for the pause prefix, agent + `*` + queue). Anything else
  (`*71...`, `*0712`) is not ours: `parse()` returns None and the dial plan goes on, so
  other `*7x` features can coexist. A queue followed by garbage (`*076400*99` with no reason
  `*99`, `*764001`) is ours and invalid.
- Exact codes win over prefix + queue (`*77` is "sign in to all", never `*7` + queue 7).
- `*07<q>*<r>` while paused with reason r resumes (the code toggles, like `*07<q>`);
  while paused with another or no reason it changes the reason (the ACD records "reason
  changed"); otherwise it pauses with r.
- Pausing needs the agent signed in: a signed-out dynamic agent hears "not signed in".
- Dialling a §6.2 pause-reason value (`*071001*6400*01`) acts like `*076400*01` when agent
  1001 dials it (its own key); anyone else hears "not permitted" and nothing changes.
- A BLF key whose value is `*07<q><reason>` watches the subscriber's own pause with that
  reason (the same lamp as the §6.2 key for oneself).
- What the phone hears: the switch answers, plays the outcome's prompt once, then hangs up.
  Prompt ids (files of the prompt set): agent-signed-in, agent-signed-out, agent-paused,
  agent-resumed, agent-not-signed-in, feature-not-permitted (static agent signing out,
  not an agent of the queue, someone else's key), feature-code-invalid (unknown reason
  code or queue after a valid prefix).
- Sign in to / out of all queues act on the caller's dynamic memberships only; statics are
  untouched. "Sign in to last signed-in queues" signs in to the set `AgentStates.
  last_signed_in()` remembers (queue-manager-agent.md §7.1 [PROPOSED] rule, kept by
  `AgentStatusBook`); with nothing remembered yet (first use since start) it signs in to all
  the caller's dynamic queues.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from softswitch.presence.agents import AgentQueueState, PauseReason, QueueDirectory
from softswitch.presence.resources import (
    AgentKey,
    AgentLoginKey,
    AgentPauseKey,
    PauseReasonKey,
)

if TYPE_CHECKING:
    from softswitch.dialplan import Rule

_CODE_RE = re.compile(r"[0-9*#]+\Z")


class FeatureCodeError(ValueError):
    """A feature-code setting that cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class FeatureCodes:
    """Configurable codes (manual §6.7 "Call Features > Feature Codes > Queue"); None
    disables one. Config section `feature_codes` with these keys."""

    sign_in_out: str | None = "*7"
    pause_unpause: str | None = "*07"
    sign_in_all: str | None = "*77"
    sign_in_last: str | None = "*78"
    sign_out_all: str | None = "*077"

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for f in fields(self):
            code = getattr(self, f.name)
            if code is None:
                continue
            if not isinstance(code, str) or not _CODE_RE.match(code):
                raise FeatureCodeError(
                    f"feature_codes.{f.name}: expected digits, * and #, like *7, got {code!r}")
            if code in seen:
                raise FeatureCodeError(
                    f"feature_codes.{f.name}: {code} is already used by {seen[code]}")
            seen[code] = f.name

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> FeatureCodes:
        if not section:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise FeatureCodeError(
                f"feature_codes: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        values = {k: (None if v is None or v is False else str(v)) for k, v in section.items()}
        return cls(**values)


# ---------------------------------------------------------------------- what was dialled


@dataclass(frozen=True, slots=True)
class ToggleSignIn:
    queue: str


@dataclass(frozen=True, slots=True)
class TogglePause:
    queue: str
    reason: PauseReason | None = None


@dataclass(frozen=True, slots=True)
class PauseReasonValue:
    """A §6.2 BLF value dialled: `*07` + agent + `*` + queue + reason code."""

    agent: str
    queue: str
    reason: PauseReason


@dataclass(frozen=True, slots=True)
class SignInAll:
    pass


@dataclass(frozen=True, slots=True)
class SignInLast:
    pass


@dataclass(frozen=True, slots=True)
class SignOutAll:
    pass


@dataclass(frozen=True, slots=True)
class InvalidCode:
    dialled: str
    problem: str


FeatureCode = (ToggleSignIn | TogglePause | PauseReasonValue | SignInAll | SignInLast
               | SignOutAll | InvalidCode)


# ---------------------------------------------------------------------- what to do


@dataclass(frozen=True, slots=True)
class SignIn:
    agent: str
    queue: str


@dataclass(frozen=True, slots=True)
class SignOut:
    agent: str
    queue: str


@dataclass(frozen=True, slots=True)
class Pause:
    """Pause, or change the reason of a running pause (the ACD tells the two apart)."""

    agent: str
    queue: str
    reason: PauseReason | None


@dataclass(frozen=True, slots=True)
class Resume:
    agent: str
    queue: str


AgentAction = SignIn | SignOut | Pause | Resume


class Prompt(Enum):
    """The confirmation the caller hears before the switch hangs up."""

    AGENT_SIGNED_IN = "agent-signed-in"
    AGENT_SIGNED_OUT = "agent-signed-out"
    AGENT_PAUSED = "agent-paused"
    AGENT_RESUMED = "agent-resumed"
    AGENT_NOT_SIGNED_IN = "agent-not-signed-in"
    NOT_PERMITTED = "feature-not-permitted"
    INVALID = "feature-code-invalid"


@dataclass(frozen=True, slots=True)
class FeatureOutcome:
    """Apply `actions` to the ACD in order, play `prompt`, hang up. `result` is the text
    for logs and the caller's display; `ok` False means nothing changed."""

    actions: tuple[AgentAction, ...]
    prompt: Prompt
    result: str

    @property
    def ok(self) -> bool:
        return self.prompt not in (Prompt.NOT_PERMITTED, Prompt.INVALID,
                                   Prompt.AGENT_NOT_SIGNED_IN)


class AgentStates(Protocol):
    """Current agent state per queue, None for a non-member (AgentStatusBook fits)."""

    def get(self, agent: str, queue: str) -> AgentQueueState | None: ...

    def last_signed_in(self, agent: str) -> frozenset[str]: ...


class FeatureCodePlan:
    """The feature codes of one configuration: parse dialled strings and BLF values, and
    decide what a dialled code does for a caller given the agents' current states."""

    def __init__(self, codes: FeatureCodes, directory: QueueDirectory) -> None:
        self.codes = codes
        self.directory = directory
        self._queue_lengths = sorted({len(q) for q in directory.queues}, reverse=True)
        exact = ((codes.sign_in_all, SignInAll()), (codes.sign_in_last, SignInLast()),
                 (codes.sign_out_all, SignOutAll()))
        self._exact: dict[str, FeatureCode] = {c: v for c, v in exact if c is not None}
        prefixes = [(c, k) for c, k in ((codes.sign_in_out, "sign"),
                                        (codes.pause_unpause, "pause")) if c is not None]
        self._prefixes = sorted(prefixes, key=lambda p: len(p[0]), reverse=True)

    # ------------------------------------------------------------------ parsing

    def parse(self, dialled: str) -> FeatureCode | None:
        """The feature code `dialled` names, InvalidCode when it starts like one of ours but
        cannot be used, None when it is not an agent feature code at all."""
        if not _CODE_RE.match(dialled):
            return None
        if dialled in self._exact:
            return self._exact[dialled]
        for prefix, kind in self._prefixes:
            if not dialled.startswith(prefix):
                continue
            rest = dialled[len(prefix):]
            code = self._parse_sign(dialled, rest) if kind == "sign" else \
                self._parse_pause(dialled, rest)
            if code is not None:
                return code
        return None

    def _queue_splits(self, text: str) -> list[tuple[str, str]]:
        """(queue, tail) for every configured queue number `text` starts with, longest
        first."""
        return [(text[:n], text[n:]) for n in self._queue_lengths
                if text[:n] in self.directory.queues]

    def _parse_sign(self, dialled: str, rest: str) -> FeatureCode | None:
        splits = self._queue_splits(rest)
        for queue, tail in splits:
            if not tail:
                return ToggleSignIn(queue)
        if splits:
            return InvalidCode(dialled, f"no queue {rest} (queue {splits[0][0]} followed by "
                                        f"{splits[0][1]!r})")
        return None

    def _parse_pause(self, dialled: str, rest: str) -> FeatureCode | None:
        splits = self._queue_splits(rest)
        for queue, tail in splits:
            if not tail:
                return TogglePause(queue)
            reason = self.directory.reason(tail)
            if reason is not None:
                return TogglePause(queue, reason)
        agent, star, after = rest.partition("*")
        agent_splits = self._queue_splits(after) if star and agent.isdigit() else []
        for queue, tail in agent_splits:
            reason = self.directory.reason(tail)
            if reason is not None:
                return PauseReasonValue(agent, queue, reason)
        if splits:
            return InvalidCode(dialled, f"unknown pause reason code {splits[0][1]!r} "
                                        f"after queue {splits[0][0]}")
        if agent_splits:
            return InvalidCode(dialled, f"unknown pause reason code {agent_splits[0][1]!r} "
                                        f"after queue {agent_splits[0][0]}")
        return None

    def blf_resource(self, value: str, subscriber: str) -> AgentKey | None:
        """The agent key a BLF value names (manual §6.2, §6.8), or None. `*7<q>` and
        `*07<q>` watch the subscriber's own state; `*07<agent>*<q><r>` watches agent's."""
        code = self.parse(value)
        if isinstance(code, ToggleSignIn):
            return AgentLoginKey(subscriber, code.queue)
        if isinstance(code, TogglePause):
            if code.reason is None:
                return AgentPauseKey(subscriber, code.queue)
            return PauseReasonKey(subscriber, code.queue, code.reason)
        if isinstance(code, PauseReasonValue):
            return PauseReasonKey(code.agent, code.queue, code.reason)
        return None

    def dialplan_rule(self) -> Rule:
        """A `softswitch.dialplan.Rule` claiming exactly the strings `parse()` claims; it
        routes them to `Destination("feature", "agent", (dialled,))`, and the call layer then
        runs `dial(dialled, caller, states)`."""
        from softswitch.dialplan import FEATURE, Destination, Rule

        queues = "|".join(re.escape(q) for q in sorted(self.directory.queues, key=len,
                                                        reverse=True)) or r"(?!x)x"
        tail = r"[0-9*#]*"
        alternatives = [re.escape(c) for c in self._exact]
        for prefix, kind in self._prefixes:
            alternatives.append(f"{re.escape(prefix)}(?:{queues}){tail}")
            if kind == "pause":
                alternatives.append(f"{re.escape(prefix)}[0-9]+\\*(?:{queues}){tail}")
        pattern = re.compile("|".join(f"(?:{a})" for a in alternatives))
        return Rule("agent feature codes", pattern,
                    lambda m, caller: Destination(FEATURE, "agent", (m[0],)))

    # ------------------------------------------------------------------ deciding

    def dial(self, dialled: str, caller: str, states: AgentStates) -> FeatureOutcome | None:
        """parse() then decide(); None when `dialled` is not an agent feature code."""
        code = self.parse(dialled)
        return None if code is None else self.decide(code, caller, states)

    def decide(self, code: FeatureCode, caller: str, states: AgentStates) -> FeatureOutcome:
        if isinstance(code, InvalidCode):
            return FeatureOutcome((), Prompt.INVALID, f"{code.dialled}: {code.problem}")
        if isinstance(code, ToggleSignIn):
            return self._toggle_sign_in(code.queue, caller, states)
        if isinstance(code, TogglePause):
            return self._toggle_pause(code.queue, code.reason, caller, states)
        if isinstance(code, PauseReasonValue):
            if code.agent != caller:
                return _refuse(f"{caller} cannot change the state of agent {code.agent}")
            return self._toggle_pause(code.queue, code.reason, caller, states)
        return self._all_queues(code, caller, states)

    def _toggle_sign_in(self, queue: str, caller: str, states: AgentStates) -> FeatureOutcome:
        members = self.directory.queue(queue)
        state = states.get(caller, queue)
        if state is None or members is None:
            return _refuse(f"{caller} is not an agent of queue {queue}")
        if caller in members.static_agents:
            return _refuse(f"{caller} is a static agent of queue {queue}: always signed in, "
                           f"cannot sign in or out")
        if state.signed_in:
            return FeatureOutcome((SignOut(caller, queue),), Prompt.AGENT_SIGNED_OUT,
                                  f"{caller} signed out of queue {queue}")
        return FeatureOutcome((SignIn(caller, queue),), Prompt.AGENT_SIGNED_IN,
                              f"{caller} signed in to queue {queue}")

    def _toggle_pause(self, queue: str, reason: PauseReason | None, caller: str,
                      states: AgentStates) -> FeatureOutcome:
        state = states.get(caller, queue)
        if state is None:
            return _refuse(f"{caller} is not an agent of queue {queue}")
        if not state.signed_in:
            return FeatureOutcome((), Prompt.AGENT_NOT_SIGNED_IN,
                                  f"{caller} is not signed in to queue {queue}")
        same = state.paused and (reason is None or state.reason == reason)
        if same:
            return FeatureOutcome((Resume(caller, queue),), Prompt.AGENT_RESUMED,
                                  f"{caller} resumed in queue {queue}")
        text = f" ({reason.name})" if reason is not None else ""
        verb = "changed pause reason" if state.paused else "paused"
        return FeatureOutcome((Pause(caller, queue, reason),), Prompt.AGENT_PAUSED,
                              f"{caller} {verb} in queue {queue}{text}")

    def _all_queues(self, code: SignInAll | SignInLast | SignOutAll, caller: str,
                    states: AgentStates) -> FeatureOutcome:
        dynamic = [m.number for m in self.directory.queues_of(caller)
                   if caller in m.dynamic_agents]
        if not dynamic:
            static = any(True for _ in self.directory.queues_of(caller))
            return _refuse(f"{caller} is a static agent only: always signed in"
                           if static else f"{caller} is not a dynamic agent of any queue")
        targets = dynamic
        if isinstance(code, SignInLast):
            last = states.last_signed_in(caller)
            targets = [q for q in dynamic if q in last] if last else dynamic
        want = not isinstance(code, SignOutAll)
        actions: list[AgentAction] = []
        for queue in targets:
            state = states.get(caller, queue)
            if state is not None and state.signed_in != want:
                actions.append(SignIn(caller, queue) if want else SignOut(caller, queue))
        if want:
            which = "last signed-in" if isinstance(code, SignInLast) else "all"
            return FeatureOutcome(tuple(actions), Prompt.AGENT_SIGNED_IN,
                                  f"{caller} signed in to {which} queues ({', '.join(targets)})")
        return FeatureOutcome(tuple(actions), Prompt.AGENT_SIGNED_OUT,
                              f"{caller} signed out of all queues ({', '.join(dynamic)})")


def _refuse(result: str) -> FeatureOutcome:
    return FeatureOutcome((), Prompt.NOT_PERMITTED, result)


def state_after(action: AgentAction) -> AgentQueueState:
    """The agent's state in `action.queue` once the ACD has applied `action` (what its
    agent event then reports to `Notifier.agent_state_changed`)."""
    if isinstance(action, SignOut):
        return AgentQueueState(signed_in=False)
    if isinstance(action, Pause):
        return AgentQueueState(signed_in=True, paused=True, reason=action.reason)
    return AgentQueueState(signed_in=True)
