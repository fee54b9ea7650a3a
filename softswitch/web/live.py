"""The live state of the queues for panels and wallboards, and its ordered feed of deltas
(queue-manager-agent.md §15 "snapshot + delta"; the wire protocol is PROTOCOL.md beside
this file).

`QueueTracker` follows the event bus (softswitch.events: every ACD event in engine order,
plus `CallHoldChanged`) and keeps what the ACD's queries do not answer: the waiting calls
with their callers and ringing agents, the answered calls still in conversation, when each
agent's state last changed, the longest answered wait and the callback counts. Together
with the ACD's incremental statistics (acd.stats) it gives every figure of the wallboard
and the queue panel (softswitch.web.wallboard).

`Feed` turns those events into deltas: each gets the next sequence number, is serialized to
JSON once and kept in a bounded replay buffer; at the end of the loop turn the batch is
written to every subscribed client as one websocket frame, encoded once per group of clients
that want the same deltas, and *never awaited*: it goes to the client's transport buffer,
and a client whose buffer grows past its bound is dropped (softswitch.web.ws), so a slow
client never slows the publisher. Deltas name the queues they concern (and the agent,
so that an agent's own client always receives its own changes).

Decisions:
- Times on the wire are wall-clock epoch seconds (``entered_at``, ``since``): clients tick
  the timers themselves against ``server_time`` (§15.1 "timestamps, not tickers").
- `queue.stats` deltas are coalesced: the queues an event changed are marked, and one stats
  delta per queue follows the events of the same loop iteration (after them, §15.5).
- Sequence numbers are one switch-wide counter: a client subscribed to some queues sees an
  increasing subsequence. Resume (PROTOCOL.md) replays what the client would have seen.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from acd.events import (
    AgentMissedCall,
    AgentPaused,
    AgentResumed,
    AgentSignedIn,
    AgentSignedOut,
    CallbackFailed,
    CallbackRequested,
    CallbackSucceeded,
    CallEnded,
    CallStatus,
    MemberRemoved,
    MemberStateChanged,
    OfferEnded,
    OfferStarted,
    SlaEvaluated,
    TaskJoined,
    TaskLeft,
    WrapupEnded,
    WrapupStarted,
)
from softswitch.calls.events import CallHoldChanged
from softswitch.calls.recording import RecordingChanged, RecordingStarted
from softswitch.log import get_logger

log = get_logger("feed")

EVENTS: tuple[type, ...] = (
    TaskJoined, OfferStarted, OfferEnded, TaskLeft, CallEnded, MemberStateChanged,
    MemberRemoved, AgentSignedIn, AgentSignedOut, AgentPaused, AgentResumed, WrapupStarted,
    WrapupEnded, AgentMissedCall, CallbackRequested, CallbackSucceeded, CallbackFailed,
    SlaEvaluated, CallHoldChanged, RecordingStarted, RecordingChanged,
)
REPLAY_CAPACITY = 20_000  # deltas kept for resume (about 40 s at 500 events/s)


@dataclass(slots=True)
class WaitingCall:
    task: str
    queue: str
    caller: str
    entered_at: float  # wall clock
    ringing: tuple[str, ...] = ()
    callback_number: str = ""

    def as_json(self, contact: str | None) -> dict[str, Any]:
        return {"id": self.task, "queue": self.queue, "caller": self.caller,
                "contact_name": contact, "entered_at": self.entered_at,
                "status": "ringing" if self.ringing else "waiting",
                "ringing_agents": list(self.ringing),
                "callback": self.callback_number or None}


@dataclass(slots=True)
class ActiveCall:
    task: str
    queue: str
    caller: str
    agent: str
    entered_at: float
    answered_at: float
    on_hold: bool = False
    recording: str | None = None  # "recording", "paused", None: none runs (§3.3.3 icon)

    def as_json(self, contact: str | None) -> dict[str, Any]:
        return {"id": self.task, "queue": self.queue, "caller": self.caller,
                "contact_name": contact, "agent": self.agent, "entered_at": self.entered_at,
                "answered_at": self.answered_at, "on_hold": self.on_hold,
                "recording": self.recording}


@dataclass(slots=True)
class QueueCounters:
    """What acd.stats does not count (§2.4 #7 and #16)."""

    max_wait_answered: float = 0.0
    callback_requests: int = 0
    callback_failures: int = 0


@dataclass(slots=True)
class MemberTimes:
    since: float  # the agent's state in the queue last changed (wall clock)
    signed_in_at: float | None = None
    signed_out_at: float | None = None
    paused_at: float | None = None


class QueueTracker:
    """Calls and agent times per queue, from the bus events alone."""

    def __init__(self, wall: Callable[[float], float], started: float) -> None:
        self.wall = wall  # engine (monotonic) time -> epoch seconds
        self.started = started  # wall clock of the start: "since" before any change
        self.waiting: dict[str, WaitingCall] = {}
        self.active: dict[str, ActiveCall] = {}
        self.counters: dict[str, QueueCounters] = {}
        self.members: dict[tuple[str, str], MemberTimes] = {}
        self.wrapup: dict[str, float] = {}  # agent -> wrap-up end (wall clock)
        # queue calls' recording states, kept from the recording's start (which may come
        # before the answer's TaskLeft) until the call ends
        self.recordings: dict[str, str] = {}

    def counter(self, queue: str) -> QueueCounters:
        c = self.counters.get(queue)
        if c is None:
            c = self.counters[queue] = QueueCounters()
        return c

    def times(self, agent: str, queue: str) -> MemberTimes:
        t = self.members.get((agent, queue))
        if t is None:
            t = self.members[(agent, queue)] = MemberTimes(self.started)
        return t

    def waiting_in(self, queue: str) -> list[WaitingCall]:
        return [c for c in self.waiting.values() if c.queue == queue]

    def active_in(self, queue: str) -> list[ActiveCall]:
        return [c for c in self.active.values() if c.queue == queue]

    def agent_calls(self, agent: str) -> list[ActiveCall]:
        return [c for c in self.active.values() if c.agent == agent]

    def apply(self, event: Any) -> None:
        kind = type(event)
        if kind is TaskJoined:
            self.waiting[event.task] = WaitingCall(event.task, event.queue, event.caller,
                                                   self.wall(event.at))
        elif kind is OfferStarted:
            call = self.waiting.get(event.task)
            if call is not None:
                call.ringing = tuple(dict.fromkeys(call.ringing + event.agents))
        elif kind is OfferEnded:
            call = self.waiting.get(event.task)
            if call is not None:
                call.ringing = tuple(a for a in call.ringing if a != event.agent)
        elif kind is TaskLeft:
            call = self.waiting.pop(event.task, None)
            if event.status is CallStatus.ANSWERED and event.agent is not None:
                c = self.counter(event.queue)
                c.max_wait_answered = max(c.max_wait_answered, event.waited)
                if call is not None:
                    self.active[event.task] = ActiveCall(
                        event.task, event.queue, call.caller, event.agent, call.entered_at,
                        self.wall(event.at), recording=self.recordings.get(event.task))
            else:
                self.recordings.pop(event.task, None)
        elif kind is CallEnded:
            self.active.pop(event.task, None)
            self.recordings.pop(event.task, None)
        elif kind is RecordingStarted or kind is RecordingChanged:
            if event.queue:  # a queue call's recording (keyed by the caller's Call-ID)
                state = "recording" if kind is RecordingStarted else event.state
                self.recordings[event.task] = state
                active = self.active.get(event.task)
                if active is not None:
                    active.recording = state
        elif kind is CallHoldChanged:  # the caller's Call-ID is the queue call's task
            active = self.active.get(event.call_id)
            if active is not None:
                active.on_hold = event.held
        elif kind is CallbackRequested:
            self.counter(event.queue).callback_requests += 1
            call = self.waiting.get(event.task)
            if call is not None:
                call.callback_number = event.number
        elif kind is CallbackFailed:
            self.counter(event.queue).callback_failures += 1
        elif kind is MemberStateChanged:
            if event.previous is not event.state:
                self.times(event.agent, event.queue).since = self.wall(event.at)
        elif kind is MemberRemoved:
            self.members.pop((event.agent, event.queue), None)
        elif kind is AgentSignedIn:
            self.times(event.agent, event.queue).signed_in_at = self.wall(event.at)
        elif kind is AgentSignedOut:
            t = self.times(event.agent, event.queue)
            t.signed_out_at = self.wall(event.at)
            t.paused_at = None
        elif kind is AgentPaused:
            t = self.times(event.agent, event.queue)
            if t.paused_at is None:
                t.paused_at = self.wall(event.at)
        elif kind is AgentResumed:
            self.times(event.agent, event.queue).paused_at = None
        elif kind is WrapupStarted:
            self.wrapup[event.agent] = self.wall(event.until)
        elif kind is WrapupEnded:
            self.wrapup.pop(event.agent, None)


class FeedClient(Protocol):
    """A receiver of deltas (softswitch.web.ws.WsClient; benchmarks and tests may use
    their own). ``key``: clients with equal keys want the same deltas (they share one
    encoded frame per batch); ``after``: deltas up to this seq are already delivered (a
    snapshot or a replay covered them)."""

    key: object
    after: int

    def wants(self, queues: frozenset[str], agent: str | None) -> bool: ...

    def write(self, frame: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Delta:
    seq: int
    queues: frozenset[str]
    agent: str | None
    text: str


def text_frame(payload: str) -> bytes:
    """One unmasked websocket text frame (RFC 6455 §5.2, server to client, no extension):
    the same bytes go to every client that wants them."""
    data = payload.encode()
    n = len(data)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + data


def batch_text(texts: list[str]) -> str:
    """One delta as itself, several as a JSON array of them (PROTOCOL.md §3)."""
    return texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"


FLUSH_SPACING = 2.0  # Feed: the pause after a flush, in multiples of how long it took
MAX_FLUSH_PAUSE = 0.05  # ... and never longer (a flush stretched by preemption)


class Feed:
    """Sequence numbers, the replay buffer and the fan-out of deltas.

    `publish` numbers and encodes a delta and keeps it for replay; the deltas published
    during one turn of the event loop go out together at its end (`flush`, scheduled with
    ``schedule``): each client gets one frame with the deltas it wants, encoded once per
    group of clients that want the same, and written without waiting (`FeedClient.write`).
    """

    def __init__(self, capacity: int = REPLAY_CAPACITY,
                 schedule: Callable[[Callable[[], None]], Any] | None = None,
                 min_interval: float = 0.0, clock: Callable[[], float] | None = None,
                 call_at: Callable[[float, Callable[[], None]], Any] | None = None) -> None:
        self.capacity = capacity
        self.seq = 0
        self.buffer: deque[Delta] = deque()
        self.clients: set[FeedClient] = set()
        self.pending: list[Delta] = []
        self.published = 0
        self.frames = 0  # frames written (all clients)
        self._schedule = schedule
        self._scheduled = False
        # without `schedule`: the loop's clock and timers unless injected (tests)
        self._clock = clock
        self._call_at = call_at
        # at least this many seconds between flushes (0: every loop turn): fewer, larger
        # frames cost fewer socket writes; each delta waits at most this long
        self.min_interval = min_interval
        self._last_flush = float("-inf")
        # adaptive batching: a flush to many clients takes a socket write each; the next
        # one waits at least FLUSH_SPACING times as long as the last took, so the fan-out
        # uses at most about a third of the loop and what is published meanwhile goes in
        # one frame (benchmarks/panels: 1,000 clients). With few clients the wait is
        # microseconds, i.e. every loop turn as before.
        self._flush_end = float("-inf")
        self._flush_took = 0.0
        # run at the start of each flush; may publish (Panels: the coalesced queue.stats)
        self.before_flush: list[Callable[[], None]] = []

    def publish(self, kind: str, queues: Iterable[str], body: dict[str, Any],
                agent: str | None = None) -> Delta:
        self.seq += 1
        text = json.dumps({"type": kind, "seq": self.seq, **body}, separators=(",", ":"))
        delta = Delta(self.seq, frozenset(queues), agent, text)
        buffer = self.buffer
        buffer.append(delta)
        if len(buffer) > self.capacity:
            buffer.popleft()
        self.published += 1
        self.pending.append(delta)
        self.request_flush()
        return delta

    def request_flush(self) -> None:
        """Flush at the end of this loop turn (once, however many deltas come)."""
        if self._scheduled:
            return
        self._scheduled = True
        if self._schedule is not None:
            self._schedule(self.flush)
            return
        due = max(self._last_flush + self.min_interval,
                  self._flush_end + min(MAX_FLUSH_PAUSE, FLUSH_SPACING * self._flush_took))
        if self._call_at is not None:
            self._call_at(due, self.flush)
            return
        import asyncio

        loop = asyncio.get_running_loop()
        if due > loop.time():
            loop.call_at(due, self.flush)
        else:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        for hook in self.before_flush:
            try:
                hook()
            except Exception as exc:  # noqa: BLE001 - the deltas still go out
                log.error("feed hook failed", hook=getattr(hook, "__qualname__", "?"),
                          error=repr(exc))
        self._scheduled = False
        batch, self.pending = self.pending, []
        if not batch:
            return
        now = self._now()
        if now is not None:
            self._last_flush = now()
        first = batch[0].seq
        shared: dict[object, bytes | None] = {}
        for client in list(self.clients):
            if client.after >= first:  # a snapshot or replay already covered some
                texts = [d.text for d in batch
                         if d.seq > client.after and client.wants(d.queues, d.agent)]
                frame = text_frame(batch_text(texts)) if texts else None
            elif client.key in shared:
                frame = shared[client.key]
            else:
                texts = [d.text for d in batch if client.wants(d.queues, d.agent)]
                frame = shared[client.key] = text_frame(batch_text(texts)) if texts else None
            client.after = batch[-1].seq
            if frame is not None:
                self.frames += 1
                try:
                    client.write(frame)
                except Exception as exc:  # noqa: BLE001 - one client must not stop the rest
                    self.clients.discard(client)
                    log.error("feed client failed", error=repr(exc))
        if now is not None:
            self._flush_end = now()
            self._flush_took = self._flush_end - self._last_flush

    def _now(self) -> Callable[[], float] | None:
        """The clock that times flushes (None with a `schedule`: the caller flushes)."""
        if self._schedule is not None:
            return None
        if self._clock is not None:
            return self._clock
        import asyncio

        return asyncio.get_running_loop().time

    def replay(self, after: int, client: FeedClient) -> list[str] | None:
        """The deltas after ``after`` this client wants, or None when some of them left the
        buffer already (the client needs a fresh snapshot)."""
        if after > self.seq:
            return None
        if after == self.seq:
            return []
        oldest = self.buffer[0].seq if self.buffer else self.seq + 1
        if after + 1 < oldest:
            return None
        return [d.text for d in self.buffer if d.seq > after and client.wants(d.queues, d.agent)]
