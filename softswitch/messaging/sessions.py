"""Chat sessions: creation, routing, take-over, transfer, archive, close, auto-close
(omnichannel.md §5.1, §6, §9.6). Sans-IO: every input is a method call with ``now`` (wall
epoch seconds: an auto-close timeout is days long and must survive a restart); what it
changed is queued in ``out`` as `Effect`s the shell carries out (persist rows, notify
agents, send a message through the channel). Message queues are the ACD's
(acd.message_queue), reached through `QueuePort`.

Rules (§6.1-§6.5):

* A session joins one customer address and one channel number. While it is open, the
  customer's messages are appended to it; when there is none (never, or the last one was
  closed), an inbound message opens a new session with the next Session ID, routed by the
  number's destination: an extension owns it at once; a message queue shows it to the
  queue's agents (the ACD decides who sees it from then on).
* An agent starts a session (§6.1.2) from a number whose ``allowed_extensions`` list them;
  they own it. An open session with the same customer on that number is reused (the agent
  gets it only if they already see it; otherwise refused: it is someone else's chat).
* Reply: whoever sees the session. In a queue session not taken over the ACD rules apply
  (auto take-over: the first reply takes it; a later reply by another agent is refused).
* Take over: a queue agent, manual and auto modes (the ACD refuses no-take-over); system
  message "{name}从消息队列{queue}中接管会话。".
* Transfer (§6.2): whoever sees the session, to an extension (who then owns it) or to a
  message queue (shown to its agents as a new queue session). The transferrer no longer
  sees it unless they are an agent of the target queue. The whole history moves with it.
* Archive / unarchive are per agent; sending a message unarchives it for the sender.
  Remove hides it from the remover only. Close (agent, or the system after
  ``auto_close_days`` without a message in either direction) writes "会话已被关闭。", ends
  all sending, and shows the session as archived to everybody.

Decisions on the manual's gaps (§12):

* §12.9: a customer message in an archived (not closed) session joins it and returns it to
  Recent for every agent that sees it; one in a session an agent removed shows it to them
  again (a new message is news).
* §12.10/§12.11: the ACD's (no-take-over: every reply accepted; auto: first reply wins).
* §6.4: the creation and the transfer are written into the history too, as system
  messages ("接收{customer}的消息，会话路由给{destination}。" and "{name}将会话转移给
  {destination}。"), besides the timeline (events); they are useful in the agent's view and
  the manual does not forbid them.
* Campaign sessions (§7.3, §13 item 48, the agents' "群发活动" filter): a session a
  campaign created in its "create session" mode has the origin ``campaign`` (not
  ``agent``); it is an ordinary session otherwise (Recent/Archived, take-over, transfer).
  The Campaign filter lists those the agent sees, open or closed; a campaign message that
  joins a session opened otherwise leaves that session's origin as it was.
* Visibility of a session in a message queue that a reload removed: nobody until it is
  transferred or closed (admins still read it).

Memory (a contact center with thousands of chats a day): the open sessions and their
messages are in memory; a closed one stays until unused for ``GRACE`` (an hour on the
injected clock: an agent who just closed a chat, or is reading an archived one, reads it
from memory, and a chat log burst does not read the store again each time), then `evict`
lets it go; the shell (softswitch.messaging.service `recall`, `page`) reads it back from
the store (`adopt`) when an agent opens it or pages through the Archived or Campaign list
(a page at a time: only the page asked for is read), and the start-up loads only the open
sessions. A customer who writes again opens a
new session (§6.2) without reading the closed one. A closed session with a message not yet
sent stays until its delivery result comes. Decision: a grace rather than at once, so that
the operations that follow a close (the agent's view of it, the chat logs' deletes, the
websocket deltas) find it in memory; the Archived lists after a read back cover the closed
sessions of the last ``store.KEEP_CLOSED_DAYS`` days (as they did after a restart); older
ones are in the chat logs.

Auto-close deadlines are kept in a heap (one entry per change of a session's activity, the
stale ones dropped lazily), so a message or the next deadline is O(log n), never a scan of
the open sessions; the customers' last messages per (channel, number, customer) are an
index kept as messages arrive (``last_received``: the WhatsApp / Messenger windows), any
session, restored at start-up from the store (the last 7 days).

The third-party platform (§4, §5.1, §6.2): a number whose destination is ``api`` routes its
new sessions to the platform (``route`` and ``target`` "api", no owner). No agent sees them;
the platform's API integrations (the extensions of ``messaging_api.integrations``, given as
``platform``) do, through the same API as agents: each customer message reaches them as
``api.message`` carrying the manual's event 30031 "New message notification" (instead of
``message.new``), and they reply, transfer (to a colleague or a queue) and close. Decisions:

* The platform is one party, "api": its replies are sent by "api", its operations are
  written "api将会话转移给…" / "api关闭会话", and a session routed or transferred to it says
  "…会话路由给api。" / "…将会话转移给api。", so the chat logs show the party as ``api`` and a
  search for ``api`` finds these sessions (§8.2).
* Agents transfer a session to the platform (``platform=True``) only while an integration
  is configured (409 ``not_configured`` otherwise, §9.6); the transferrer loses it like any
  transfer.
* Several integrations all see the platform's sessions (one platform, several log-ins).
* ``messaging_api`` applies at a reload (``platform`` reads the configuration in force); a
  reload that removes every integration leaves the platform's sessions to nobody (admins
  still read them) until an integration is configured again (``softswitch check`` refuses
  the removal while a number still routes to ``api``).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from softswitch.messaging.config import API, ChannelConfig, ChannelNumber, Destination

SYSTEM = "PBX系统"  # §6.4: the sender of system messages
CLOSED_TEXT = "会话已被关闭。"
API_EVENT = 30031  # §4: the platform's "New message notification" (新消息通知)
API_EVENT_NAME = "New message notification"
DAY = 86400.0
GRACE = 3600.0  # a closed session stays in memory this long after it was last used


class Origin(Enum):
    INBOUND = "inbound"
    AGENT = "agent"
    CAMPAIGN = "campaign"  # a campaign's "create session" mode (§7.3)


class SessionState(Enum):
    OPEN = "open"
    CLOSED = "closed"


class Direction(Enum):
    RECEIVED = "received"
    SENT = "sent"
    SYSTEM = "system"


class DeliveryStatus(Enum):
    """An outbound message's state, shown to the agent (softswitch.messaging.general)."""

    NONE = ""  # received and system messages
    PENDING = "pending"  # queued or being retried
    SENT = "sent"  # the provider accepted it (its data.id kept)
    FAILED = "failed"  # refused for good; ``error`` holds the agent-facing text


@dataclass(slots=True)
class Message:
    id: int
    session: int
    time: float
    direction: Direction
    sender: str  # customer address, agent extension, or SYSTEM
    text: str
    media: tuple[str, ...] = ()
    provider_id: str | None = None
    status: DeliveryStatus = DeliveryStatus.NONE
    error: str = ""
    attempts: int = 0

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "session": self.session, "time": self.time,
                "type": self.direction.value, "sender": self.sender, "text": self.text,
                "media": list(self.media), "status": self.status.value, "error": self.error}


@dataclass(slots=True)
class Session:
    id: int
    channel: str  # channel name
    number: str  # the channel number
    customer: str
    origin: Origin
    created: float
    last_activity: float
    route: str  # "extension" | "message_queue" | "api" (the third-party platform)
    target: str  # extension number, queue name, or "api"
    owner: str | None = None
    task: str = ""  # the ACD task id while routed to a message queue
    state: SessionState = SessionState.OPEN
    archived_by: set[str] = field(default_factory=set)
    removed_by: set[str] = field(default_factory=set)

    @property
    def open(self) -> bool:
        return self.state is SessionState.OPEN

    def as_json(self, viewer: str | None = None) -> dict[str, object]:
        archived = not self.open or (viewer is not None and viewer in self.archived_by)
        return {"id": self.id, "channel": self.channel, "number": self.number,
                "customer": self.customer, "origin": self.origin.value,
                "created": self.created, "last_activity": self.last_activity,
                "route": {"type": self.route, "target": self.target}, "owner": self.owner,
                "state": self.state.value, "list": "archived" if archived else "recent"}


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """§8.4 operation record: create, takeover, transfer, close."""

    session: int
    time: float
    kind: str
    actor: str
    description: str


# --- effects ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaveSession:
    session: Session


@dataclass(frozen=True, slots=True)
class SaveMessage:
    message: Message


@dataclass(frozen=True, slots=True)
class SaveEvent:
    event: TimelineEvent


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell these agents: ``kind`` is message.new, session.changed or session.gone, or
    api.message (a customer message to the platform's integrations, ``body["event"]``)."""

    agents: tuple[str, ...]
    kind: str
    body: dict[str, object]


@dataclass(frozen=True, slots=True)
class Send:
    """Deliver an agent's message through the session's channel."""

    message: Message
    channel: str
    source: str  # the channel number
    to: str  # the customer


Effect = SaveSession | SaveMessage | SaveEvent | Notify | Send


class Refused(Exception):
    """An operation that does not fit: ``status`` for the API (403, 404, 409)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class QueuePort(Protocol):
    """The ACD's message queues (acd.message_queue) as the sessions see them. The methods
    returning ``str | None`` give the ACD's refusal, None when it accepted."""

    def exists(self, queue: str) -> bool: ...

    def agents(self, queue: str) -> tuple[str, ...]: ...

    def arrived(self, task: str, queue: str, customer: str) -> None: ...

    def resumed(self, task: str, queue: str, customer: str, waited: float,
                repliers: tuple[str, ...] = ()) -> None: ...

    def reply(self, task: str, agent: str) -> str | None: ...

    def take_over(self, task: str, agent: str) -> str | None: ...

    def left(self, task: str) -> None: ...

    def has(self, task: str) -> bool: ...

    def visible_to(self, task: str) -> tuple[str, ...]: ...


class Inbox:
    """Every session and its messages. ``names`` gives an extension's display name."""

    def __init__(self, channels: Iterable[ChannelConfig], queues: QueuePort,
                 names: Callable[[str], str] = lambda ext: ext,
                 platform: Callable[[], tuple[str, ...]] = lambda: ()) -> None:
        self.channels: dict[str, ChannelConfig] = {c.name: c for c in channels}
        self.queues = queues
        self.names = names
        self.platform = platform  # the API integrations' extensions (the configuration's)
        self.sessions: dict[int, Session] = {}
        self.messages: dict[int, list[Message]] = {}
        self._open: dict[tuple[str, str, str], int] = {}  # (channel, number, customer)
        self.next_session = 1
        self.next_message = 1
        self._routes = 0
        self.out: list[Effect] = []
        # auto-close (§6.3): each open session's deadline, and a heap of (deadline, id)
        # whose entries are stale when they differ from ``_due`` (dropped lazily, the heap
        # rebuilt when stale entries outnumber the live ones): O(log n) per change
        self._due: dict[int, float] = {}
        self._deadlines: list[tuple[float, int]] = []
        # (channel, number, customer) -> when the customer last wrote there, any session:
        # the 24-hour / 7-day windows of WhatsApp and Messenger, kept as messages arrive
        self.last_received: dict[tuple[str, str, str], float] = {}
        # closed sessions in memory, least recently used first (id -> when last used):
        # `evict` lets go of those unused for GRACE; the shell reads them back (`adopt`)
        self._closed: OrderedDict[int, float] = OrderedDict()

    # --- restore (start-up) ---------------------------------------------------------------

    def restore(self, sessions: Iterable[Session], messages: Iterable[Message],
                last_session: int, last_message: int,
                last_received: Iterable[tuple[str, str, str, float]] = (),
                waiting: Mapping[int, tuple[str, float]] | None = None,
                entered: Mapping[int, float] | None = None) -> None:
        """The persisted state: open sessions and their messages, and when each customer
        last wrote to each number (``last_received``). An open queue session not taken
        over is put back in its queue (the ACD kept nothing across the restart): with its
        task id and the seconds it has waited when ``waiting`` (session id -> (task,
        waited): its report row is still open) names it, so the row goes on, and with the
        agents who had replied in it since it entered the queue (``entered``: session id
        -> the time of its last transfer; its creation otherwise), read from its stored
        sent messages (`repliers`), so its close still counts as Answered by the first of
        them; else it joins again as a new task (a new pass through the queue)."""
        waiting = waiting or {}
        entered = entered or {}
        for task, _ in waiting.values():  # the tasks continued: later routes number on
            rank = task.rpartition("-r")[2]
            if rank.isdigit():
                self._routes = max(self._routes, int(rank))
        for channel, number, customer, at in last_received:
            key = (channel, number, customer)
            self.last_received[key] = max(at, self.last_received.get(key, at))
        for m in messages:
            self.messages.setdefault(m.session, []).append(m)
        for s in sessions:
            self.sessions[s.id] = s
            self.messages.setdefault(s.id, [])
            if not s.open:  # one with a message not yet sent (the store's `load`)
                self._closed[s.id] = float("-inf")
            if s.open:
                self._open[(s.channel, s.number, s.customer)] = s.id
                self._schedule(s)
                if s.route == "message_queue" and s.owner is None \
                        and self.queues.exists(s.target) and s.id in waiting:
                    s.task, waited = waiting[s.id]
                    self.queues.resumed(s.task, s.target, s.customer, waited,
                                        self.repliers(s, entered.get(s.id, s.created)))
                elif s.route == "message_queue" and s.owner is None \
                        and self.queues.exists(s.target):
                    self._routes += 1
                    s.task = f"msg-{s.id}-r{self._routes}"
                    self.queues.arrived(s.task, s.target, s.customer)
        for s in sessions:
            for m in self.messages[s.id]:
                if m.direction is Direction.RECEIVED:
                    key = (s.channel, s.number, s.customer)
                    self.last_received[key] = max(m.time,
                                                  self.last_received.get(key, m.time))
        self.next_session = max(self.next_session, last_session + 1)
        self.next_message = max(self.next_message, last_message + 1)

    def repliers(self, s: Session, since: float) -> tuple[str, ...]:
        """The agents who sent a message in the session from ``since`` on, first sender
        first: the extensions among the senders of its sent messages (the platform's
        ``api`` and a campaign's ``群发活动<name>`` are no agents; extension numbers are
        digits, softswitch.config)."""
        out: dict[str, None] = {}
        for m in self.messages.get(s.id, ()):
            if m.direction is Direction.SENT and m.time >= since and m.sender.isdigit():
                out.setdefault(m.sender)
        return tuple(out)

    # --- memory: closed sessions come and go (module docstring) ---------------------------

    def adopt(self, sessions: Iterable[Session], messages: Iterable[Message],
              now: float) -> list[Session]:
        """Closed sessions read back from the store (an agent opens or lists them): in
        memory again until unused for GRACE. One already in memory is kept as it is (it may
        be newer than its row)."""
        added: list[Session] = []
        for s in sessions:
            if s.id in self.sessions or s.open:
                continue
            self.sessions[s.id] = s
            self.messages[s.id] = []
            added.append(s)
        fresh = {s.id for s in added}
        for m in messages:
            if m.session in fresh:
                self.messages[m.session].append(m)
        for s in added:
            self.messages[s.id].sort(key=lambda m: m.id)
            self.touch(s.id, now)
        return added

    def touch(self, session_id: int, now: float) -> None:
        """A closed session was used now: it stays GRACE longer."""
        s = self.sessions.get(session_id)
        if s is not None and not s.open:
            self._closed[session_id] = now
            self._closed.move_to_end(session_id)

    def evict(self, now: float) -> list[int]:
        """Let go of the closed sessions unused for GRACE (their rows are in the store),
        except one with a message not yet sent (its delivery result still comes)."""
        gone: list[int] = []
        while self._closed:
            sid, used = next(iter(self._closed.items()))
            if used >= now - GRACE:
                break
            del self._closed[sid]
            if any(m.status is DeliveryStatus.PENDING for m in self.messages.get(sid, ())):
                self._closed[sid] = now  # looked at again in GRACE
                continue
            s = self.sessions.get(sid)
            if s is not None and not s.open:
                self._leave_queue(s)
                del self.sessions[sid]
                self.messages.pop(sid, None)
                gone.append(sid)
        return gone

    # --- who sees what (§6.5) --------------------------------------------------------------

    def watchers(self, s: Session) -> tuple[str, ...]:
        """The agents who see the session now (removal aside)."""
        if s.owner is not None:
            return (s.owner,)
        if s.route == API:
            return self.platform()
        if s.route == "message_queue" and s.task and self.queues.has(s.task):
            return self.queues.visible_to(s.task)
        if s.route == "message_queue" and not s.open and self.queues.exists(s.target):
            return self.queues.agents(s.target)
        return ()

    def sees(self, s: Session, agent: str) -> bool:
        return agent in self.watchers(s) and agent not in s.removed_by

    def list_for(self, agent: str, archived: bool) -> list[Session]:
        """The agent's Recent (archived False) or Archived list, newest activity first."""
        rows = [s for s in self.sessions.values() if self.sees(s, agent)
                and (not s.open or agent in s.archived_by) == archived]
        return sorted(rows, key=lambda s: (-s.last_activity, -s.id))

    def campaign_list(self, agent: str) -> list[Session]:
        """The agent's Campaign filter (§13 item 48): the sessions campaigns created that
        the agent sees, open or closed, newest activity first."""
        rows = [s for s in self.sessions.values()
                if s.origin is Origin.CAMPAIGN and self.sees(s, agent)]
        return sorted(rows, key=lambda s: (-s.last_activity, -s.id))

    def session_for(self, session_id: int, agent: str, admin: bool = False) -> Session:
        s = self.sessions.get(session_id)
        if s is None or not (admin or self.sees(s, agent)):
            raise Refused(404, "not_found", f"no session {session_id} you can see")
        return s

    # --- customer messages -----------------------------------------------------------------

    def receive(self, channel: str, number: str, customer: str, text: str,
                media: tuple[str, ...], provider_id: str | None, now: float) -> Message:
        """An inbound message on a configured channel number (the channel adapter checked
        the number belongs to the channel)."""
        config = self.channels[channel]
        entry = config.number(number)
        if entry is None:
            raise Refused(404, "unknown_number", f"{number} is not a number of {channel}")
        sid = self._open.get((channel, number, customer))
        if sid is None:
            s = self._create(config, entry, customer, Origin.INBOUND, now, owner=None)
            dest = (f"{self.names(s.target)}<{s.target}>" if s.route == "extension"
                    else s.target)
            self._system(s, f"接收{customer}的消息，会话路由给{dest}。", now, notify=False)
            self._event(s, "create", customer, f"接收{customer}的消息，会话路由给{dest}。", now)
            new = True
        else:
            s = self.sessions[sid]
            new = False
        m = self._message(s, Direction.RECEIVED, customer, text, media, now,
                          provider_id=provider_id)
        s.archived_by.clear()  # §12.9: back to Recent
        s.removed_by.clear()
        self._save(s)
        if new:
            self._notify(self.watchers(s), "session.changed", {"session": s})
        if s.route == API:
            self._notify(self.watchers(s), "api.message",
                         {"session": s, "message": m, "event": API_EVENT})
        else:
            self._notify(self.watchers(s), "message.new", {"session": s, "message": m})
        return m

    # --- agent operations ------------------------------------------------------------------

    def start(self, agent: str, channel: str, number: str, customer: str,
              now: float) -> Session:
        """§6.1.2 / §9.2: an agent starts a session from a number they are allowed on."""
        config = self.channels.get(channel)
        entry = config.number(number) if config is not None else None
        if config is None or entry is None:
            raise Refused(404, "unknown_number", f"{number} is not a number of {channel!r}")
        if agent not in entry.allowed_extensions:
            raise Refused(403, "forbidden", f"{agent} may not start sessions from {number} "
                                            "(not in its allowed extensions)")
        sid = self._open.get((channel, number, customer))
        if sid is not None:
            s = self.sessions[sid]
            if not self.sees(s, agent):
                raise Refused(409, "session_exists",
                              f"{customer} already has an open session on {number}")
            return s
        s = self._create(config, entry, customer, Origin.AGENT, now, owner=agent)
        self._event(s, "create", agent, f"{self._who(agent)}创建会话。", now)
        self._save(s)
        self._notify((agent,), "session.changed", {"session": s})
        return s

    def reply(self, session_id: int, agent: str, text: str, media: tuple[str, ...],
              now: float) -> Message:
        s = self._writable(session_id, agent)
        if s.owner is None and s.task and self.queues.has(s.task):
            before = self.queues.visible_to(s.task)
            refusal = self.queues.reply(s.task, agent)
            if refusal is not None:
                raise Refused(409, "refused", refusal)
            taker = self.queues.visible_to(s.task)
            if len(taker) == 1 and taker != before:  # auto take-over by this reply
                self._taken(s, agent, before, now)
        s.archived_by.discard(agent)  # §6.2: sending unarchives
        m = self._message(s, Direction.SENT, API if s.route == API else agent, text, media,
                          now, status=DeliveryStatus.PENDING)
        self._save(s)
        self.out.append(Send(m, s.channel, s.number, s.customer))
        self._notify(self.watchers(s), "message.new", {"session": s, "message": m})
        return m

    def take_over(self, session_id: int, agent: str, now: float) -> Session:
        s = self._writable(session_id, agent)
        if s.owner is not None or not s.task or not self.queues.has(s.task):
            raise Refused(409, "refused", "the session is not waiting in a message queue")
        before = self.queues.visible_to(s.task)
        refusal = self.queues.take_over(s.task, agent)
        if refusal is not None:
            raise Refused(409, "refused", refusal)
        self._taken(s, agent, before, now)
        self._save(s)
        return s

    def transfer(self, session_id: int, agent: str, now: float, *,
                 extension: str | None = None, queue: str | None = None,
                 platform: bool = False,
                 extension_exists: Callable[[str], bool] = lambda e: True) -> Session:
        s = self._writable(session_id, agent)
        if (extension is not None) + (queue is not None) + platform != 1:
            raise Refused(400, "invalid_field", "give one of extension, queue or platform")
        before = self.watchers(s)
        who = self._actor(s, agent)
        if platform:
            if not self.platform():
                raise Refused(409, "not_configured", "the third-party platform has no API "
                                                     "integration (messaging_api)")
            if s.route == API:
                raise Refused(409, "refused", "the session is already with the platform")
            self._leave_queue(s)
            s.route, s.target, s.owner = API, API, None
            dest = API
        elif extension is not None:
            if not extension_exists(extension):
                raise Refused(404, "not_found", f"no extension {extension}")
            self._leave_queue(s)
            s.route, s.target, s.owner = "extension", extension, extension
            dest = f"{self.names(extension)}<{extension}>"
        else:
            assert queue is not None
            if not self.queues.exists(queue):
                raise Refused(404, "not_found", f"no message queue {queue!r}")
            self._leave_queue(s)
            s.route, s.target, s.owner = "message_queue", queue, None
            self._routes += 1
            s.task = f"msg-{s.id}-r{self._routes}"
            self.queues.arrived(s.task, queue, s.customer)
            dest = queue
        s.archived_by.clear()
        s.removed_by.clear()
        text = f"{who}将会话转移给{dest}。"
        self._system(s, text, now)
        self._event(s, "transfer", API if who == API else agent, text, now)
        self._save(s)
        after = self.watchers(s)
        self._notify(tuple(a for a in before if a not in after), "session.gone",
                     {"session": s})
        self._notify(after, "session.changed", {"session": s})
        return s

    def archive(self, session_id: int, agent: str, archived: bool) -> Session:
        s = self.session_for(session_id, agent)
        if archived:
            s.archived_by.add(agent)
        else:
            s.archived_by.discard(agent)
        self._save(s)
        self._notify((agent,), "session.changed", {"session": s})
        return s

    def remove(self, session_id: int, agent: str) -> Session:
        s = self.session_for(session_id, agent)
        s.removed_by.add(agent)
        self._save(s)
        self._notify((agent,), "session.gone", {"session": s})
        return s

    def close(self, session_id: int, agent: str | None, now: float,
              by: str | None = None) -> Session:
        """An agent ends the session (``agent`` None: the system, auto-close; or the
        customer named ``by``, a Live Chat visitor ending the chat, §6.2)."""
        s = self._writable(session_id, agent) if agent is not None \
            else self.sessions[session_id]
        if not s.open:
            raise Refused(409, "closed", f"session {session_id} is closed")
        watchers = self.watchers(s)
        who = self._actor(s, agent) if agent else (by if by is not None else SYSTEM)
        self._leave_queue(s)
        s.state = SessionState.CLOSED
        del self._open[(s.channel, s.number, s.customer)]
        self._due.pop(s.id, None)
        self.touch(s.id, now)
        self._system(s, CLOSED_TEXT, now)
        actor = (API if who == API else agent) if agent is not None else who
        self._event(s, "close", actor, f"{who}关闭会话", now)
        self._save(s)
        self._notify(watchers, "session.changed", {"session": s})
        return s

    def note(self, session_id: int, text: str, now: float) -> Message:
        """A system message into the history (a channel's automatic message to the
        customer, e.g. Live Chat's first reply), shown to the session's agents."""
        s = self.sessions[session_id]
        m = self._message(s, Direction.SYSTEM, SYSTEM, text, (), now)
        self._notify(self.watchers(s), "message.new", {"session": s, "message": m})
        return m

    def open_session(self, channel: str, number: str, customer: str) -> Session | None:
        sid = self._open.get((channel, number, customer))
        return self.sessions[sid] if sid is not None else None

    # --- auto-close (§6.3) ---------------------------------------------------------------

    def _timeout(self, s: Session) -> float | None:
        config = self.channels.get(s.channel)
        if config is None or config.auto_close_days is None or not s.open:
            return None
        return s.last_activity + config.auto_close_days * DAY

    def _schedule(self, s: Session) -> None:
        """(Re)file the session's auto-close deadline after its activity changed."""
        t = self._timeout(s)
        if t is None:
            self._due.pop(s.id, None)
            return
        if self._due.get(s.id) == t:
            return
        self._due[s.id] = t
        heapq.heappush(self._deadlines, (t, s.id))
        if len(self._deadlines) > 2 * len(self._due) + 64:  # mostly stale: rebuild
            self._deadlines = [(d, sid) for sid, d in self._due.items()]
            heapq.heapify(self._deadlines)

    def _drop_stale(self) -> None:
        heap = self._deadlines
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)

    def next_deadline(self) -> float | None:
        self._drop_stale()
        return self._deadlines[0][0] if self._deadlines else None

    def expire(self, now: float) -> list[int]:
        """Close every session idle for its channel's ``auto_close_days``."""
        due: list[int] = []
        while True:
            self._drop_stale()
            if not self._deadlines or self._deadlines[0][0] > now:
                break
            _, sid = heapq.heappop(self._deadlines)
            self._due.pop(sid, None)
            due.append(sid)
        for sid in due:
            self.close(sid, None, now)
        return due

    # --- outbound delivery results (the channel shell) -------------------------------------

    def delivery(self, message_id: int, session_id: int, status: DeliveryStatus,
                 provider_id: str | None, error: str, attempts: int) -> None:
        for m in self.messages.get(session_id, ()):
            if m.id == message_id:
                m.status, m.error, m.attempts = status, error, attempts
                if provider_id is not None:
                    m.provider_id = provider_id
                self.out.append(SaveMessage(m))
                s = self.sessions[session_id]
                self._notify(self.watchers(s), "message.status",
                             {"session": s, "message": m})
                return

    # --- broadcast campaigns (softswitch.messaging.campaigns) ------------------------------

    def campaign_message(self, channel: str, number: str, customer: str, text: str,
                         media: tuple[str, ...], route: str, target: str, sender: str,
                         provider_id: str, now: float) -> Message:
        """§7.3 "Create session and send message": a campaign message the provider already
        accepted, recorded in the customer's open session on ``number``, or in a new one
        assigned to ``route``/``target`` (the campaign's "Assign session to") when there is
        none. The campaign sent it, so no `Send` effect."""
        config = self.channels[channel]
        entry = config.number(number)
        if entry is None:
            raise Refused(404, "unknown_number", f"{number} is not a number of {channel}")
        sid = self._open.get((channel, number, customer))
        if sid is None:
            s = self._create(config, ChannelNumber(number, Destination(route, target)),
                             customer, Origin.CAMPAIGN, now, owner=None)
            dest = (f"{self.names(s.target)}<{s.target}>" if s.route == "extension"
                    else s.target)
            self._event(s, "create", sender, f"{sender}创建会话，会话分配给{dest}。", now)
            new = True
        else:
            s = self.sessions[sid]
            new = False
        m = self._message(s, Direction.SENT, sender, text, media, now,
                          provider_id=provider_id, status=DeliveryStatus.SENT)
        self._save(s)
        if new:
            self._notify(self.watchers(s), "session.changed", {"session": s})
        self._notify(self.watchers(s), "message.new", {"session": s, "message": m})
        return m

    def forget(self, session_id: int, message_ids: frozenset[int] | None) -> None:
        """§8.6: an admin deleted the session (``message_ids`` None) or these messages of
        it in the chat logs (the rows are the chat logs' to delete): its agents no longer
        see them."""
        s = self.sessions.get(session_id)
        if s is None:
            return
        watchers = self.watchers(s)
        if message_ids is None:
            self._leave_queue(s)
            if s.open:
                del self._open[(s.channel, s.number, s.customer)]
            self._due.pop(session_id, None)
            self._closed.pop(session_id, None)
            del self.sessions[session_id]
            self.messages.pop(session_id, None)
            self._notify(watchers, "session.gone", {"session": s})
            return
        self.messages[session_id] = [m for m in self.messages.get(session_id, [])
                                     if m.id not in message_ids]
        self._notify(watchers, "session.changed", {"session": s})

    # --- internals -------------------------------------------------------------------------

    def _who(self, agent: str | None) -> str:
        if agent is None:
            return SYSTEM
        name = self.names(agent)
        return name if name and name != agent else agent

    def _actor(self, s: Session, agent: str | None) -> str:
        """Who did it, as the history says: "api" for the platform in its session."""
        if s.route == API and agent is not None and agent in self.platform():
            return API
        return self._who(agent)

    def _create(self, config: ChannelConfig, entry: ChannelNumber, customer: str,
                origin: Origin, now: float, owner: str | None) -> Session:
        dest = entry.destination
        s = Session(self.next_session, config.name, entry.number, customer, origin, now, now,
                    dest.type, dest.target, owner=owner)
        self.next_session += 1
        if owner is not None:
            s.route, s.target = "extension", owner
        elif dest.type == "extension":
            s.owner = dest.target
        self.sessions[s.id] = s
        self.messages[s.id] = []
        self._open[(s.channel, s.number, customer)] = s.id
        self._schedule(s)
        if s.route == "message_queue" and s.owner is None:
            self._routes += 1
            s.task = f"msg-{s.id}-r{self._routes}"
            self.queues.arrived(s.task, s.target, customer)
        return s

    def _writable(self, session_id: int, agent: str | None) -> Session:
        s = self.session_for(session_id, agent or "")
        if not s.open:
            raise Refused(409, "closed", f"session {session_id} is closed")
        return s

    def _taken(self, s: Session, agent: str, before: tuple[str, ...], now: float) -> None:
        s.owner = agent
        text = f"{self._who(agent)}从消息队列{s.target}中接管会话。"
        self._system(s, text, now)
        self._event(s, "takeover", agent, text, now)
        self._notify(tuple(a for a in before if a != agent), "session.gone", {"session": s})
        self._notify((agent,), "session.changed", {"session": s})

    def _leave_queue(self, s: Session) -> None:
        if s.task and self.queues.has(s.task):
            self.queues.left(s.task)
        s.task = ""

    def _message(self, s: Session, direction: Direction, sender: str, text: str,
                 media: tuple[str, ...], now: float, provider_id: str | None = None,
                 status: DeliveryStatus = DeliveryStatus.NONE) -> Message:
        m = Message(self.next_message, s.id, now, direction, sender, text, media,
                    provider_id=provider_id, status=status)
        self.next_message += 1
        self.messages[s.id].append(m)
        if direction is not Direction.SYSTEM:
            s.last_activity = now
            self._schedule(s)
        if direction is Direction.RECEIVED:
            key = (s.channel, s.number, s.customer)
            self.last_received[key] = max(now, self.last_received.get(key, now))
        self.out.append(SaveMessage(m))
        return m

    def _system(self, s: Session, text: str, now: float, notify: bool = True) -> None:
        m = self._message(s, Direction.SYSTEM, SYSTEM, text, (), now)
        if notify:
            self._notify(self.watchers(s), "message.new", {"session": s, "message": m})

    def _event(self, s: Session, kind: str, actor: str, text: str, now: float) -> None:
        self.out.append(SaveEvent(TimelineEvent(s.id, now, kind, actor, text)))

    def _save(self, s: Session) -> None:
        self.out.append(SaveSession(s))

    def _notify(self, agents: Iterable[str], kind: str, body: dict[str, object]) -> None:
        targets = tuple(dict.fromkeys(agents))
        if targets:
            self.out.append(Notify(targets, kind, body))
