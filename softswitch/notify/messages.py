"""Which e-mail a queue event causes, to whom, saying what (queue-admin.md §2.4, §7.2).
Sans-IO: `QueueMail.handle(event)` returns `Email` values; `smtp.SmtpSender` sends them.

- Agent auto-pause (§2.4): AgentPaused(auto=True) -> the agent's own e-mail address
  (extensions[].email): "you were auto-paused after N missed calls". Always on when the
  queue uses auto-pause (the manual has no switch for it) and the agent has an address.
- Queue notifications (§7.2), to every manager of the queue (queues[].managers) that has an
  address, only for the events listed in queues[].notifications: missed_call (TaskLeft
  missed), abandoned_call (TaskLeft abandoned), sla_below_threshold (SlaEvaluated below the
  alert threshold), callback_requested, callback_failed.

Decisions:
- Times in the text are in the queue's time zone when it has time-based routing (§7.2:
  "email timestamps follow the queue's selected time zone"), else UTC, written with the zone.
- N in the auto-pause text is the count of consecutive missed calls the engine reported just
  before the pause (AgentMissedCall.consecutive), falling back to the queue's setting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from acd.events import (
    AgentMissedCall,
    AgentPaused,
    CallbackFailed,
    CallbackRequested,
    CallStatus,
    SlaEvaluated,
    TaskLeft,
)


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    body: str
    attachments: tuple[str, ...] = ()  # file paths, attached by name (e.g. a voicemail WAV)


@dataclass(frozen=True, slots=True)
class Person:
    number: str
    name: str
    email: str

    def label(self) -> str:
        return f"{self.number} {self.name}".strip()


class QueueMail:
    """``queues``: acd QueueConfig values; ``people``: extension number -> Person;
    ``wall_offset``: engine time + offset = epoch seconds."""

    def __init__(self, queues: Iterable[Any], people: Mapping[str, Person],
                 wall_offset: float) -> None:
        self.queues = {q.number: q for q in queues}
        self.people = dict(people)
        self.wall_offset = wall_offset
        self._missed: dict[tuple[str, str], int] = {}

    def handle(self, event: object) -> list[Email]:
        if isinstance(event, AgentMissedCall):
            self._missed[(event.agent, event.queue)] = event.consecutive
            return []
        if isinstance(event, AgentPaused):
            return self._auto_paused(event) if event.auto else []
        if isinstance(event, SlaEvaluated):
            if not event.below_threshold or event.sla is None:
                return []
            return self._to_managers(
                event.queue, "sla_below_threshold", event.at,
                "SLA below the alert threshold",
                f"The service level of the queue was {event.sla:.2f}% in the evaluation "
                f"interval that ended at {{time}}, below the alert threshold of "
                f"{event.threshold:g}%.")
        if isinstance(event, TaskLeft):
            if event.status is CallStatus.MISSED:
                return self._to_managers(
                    event.queue, "missed_call", event.at, "missed call",
                    f"A call in the queue was not answered (reason: "
                    f"{event.reason.value.replace('_', ' ')}) at {{time}}, after "
                    f"{_duration(event.waited)} waiting. Call: {event.task}.")
            if event.status is CallStatus.ABANDONED:
                return self._to_managers(
                    event.queue, "abandoned_call", event.at, "abandoned call",
                    f"A caller hung up after waiting {_duration(event.waited)} at {{time}}. "
                    f"Call: {event.task}.")
            return []
        if isinstance(event, CallbackRequested):
            return self._to_managers(
                event.queue, "callback_requested", event.at, "callback requested",
                f"A caller asked to be called back at {event.number} at {{time}}.")
        if isinstance(event, CallbackFailed):
            return self._to_managers(
                event.queue, "callback_failed", event.at, "callback failed",
                f"The callback to {event.number or '(no number)'} failed at {{time}}: "
                f"{event.reason.value.replace('_', ' ')}.")
        return []

    def _time(self, queue: str, at: float) -> str:
        q = self.queues.get(queue)
        rule = getattr(q, "time_based_routing", None)
        zone = ZoneInfo(rule.time_zone) if rule is not None else dt.UTC
        when = dt.datetime.fromtimestamp(at + self.wall_offset, zone)
        return when.strftime("%Y-%m-%d %H:%M:%S %Z")

    def _queue_label(self, queue: str) -> str:
        q = self.queues.get(queue)
        return f"{queue} {q.name}" if q is not None else queue

    def _auto_paused(self, e: AgentPaused) -> list[Email]:
        person = self.people.get(e.agent)
        if person is None or not person.email:
            return []
        q = self.queues.get(e.queue)
        n = self._missed.pop((e.agent, e.queue), 0) or getattr(q, "auto_pause_missed_calls", 0)
        label = self._queue_label(e.queue)
        return [Email(person.email, f"Auto-paused in queue {label}",
                      f"Hello {person.name or person.number},\n\n"
                      f"you were auto-paused in queue {label} after {n} missed "
                      f"call{'s' if n != 1 else ''} at {self._time(e.queue, e.at)}.\n"
                      f"No queue calls ring your phone until you resume: dial *07{e.queue} "
                      f"or use your pause key.\n")]

    def _to_managers(self, queue: str, kind: str, at: float, what: str,
                     text: str) -> list[Email]:
        q = self.queues.get(queue)
        if q is None or kind not in getattr(q, "notifications", ()):
            return []
        label = self._queue_label(queue)
        body = text.replace("{time}", self._time(queue, at))
        out: list[Email] = []
        for number in getattr(q, "managers", ()):
            person = self.people.get(number)
            if person is not None and person.email:
                out.append(Email(person.email, f"Queue {label}: {what}",
                                 f"Hello {person.name or person.number},\n\n"
                                 f"queue {label}: {body}\n"))
        return out


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
