"""Wallboard and queue-panel figures and snapshots, and the bus subscriber that feeds the
live deltas (queue-manager-agent.md §2.4, §3.3, §10, §11, §15; softswitch.web.live).

KPI definitions (§2.4; the instant figures come from the ACD's incremental statistics,
acd.stats; the "period" figures, avg_talk to awaiting_callback, are the chosen window's,
softswitch.web.periods, with the Queue Performance report's formulas):

    signed_in_agents / total_agents  members signed in (paused ones included) / members
    idle_agents        members in state idle (signed in, not paused, not ringing, not on a
                       call, not in wrap-up)
    active_calls       answered queue calls not ended (on hold counts)
    waiting_calls      callers in the queue, ringing ones and callback requests included
    avg_talk           Σ talk of answered calls / answered          (seconds)
    avg_wait           Σ wait of answered calls / answered          (seconds)
    max_wait           longest wait among answered calls            (seconds)
    sla                answered within the SLA time / total × 100 (0 when no call)
    missed, abandoned, answered, total (= answered + missed + abandoned)
    missed_rate, abandon_rate, answer_rate   count / total × 100 (0 when no call)
    callback_requests, callback_failures, awaiting_callback

The queue panel's Call Statistics (§3.3.1) are sla, answered, abandoned, missed, max_wait,
avg_wait and avg_talk of the same set.

Decisions:
- The period of the period KPIs is a calendar window in the queue's time zone: today (the
  default), this week (from Monday) or this month; a call belongs to the window of its
  queue-entry time (softswitch.web.periods has the design and the decisions). ``kpis``
  carries the asked period's figures and ``periods`` each window's (the console's time-range
  selector switches without a new request). ``longest_waiting`` and ``agent_missed`` stay
  since the switch started.
- Agents rows carry ``period_calls`` (§2.5: per window, the agent's answered calls, missed
  rings and talk time in the queue); an ``agent.calls`` delta follows each ring's end and
  each answered call's end, so the row never waits for the agent's next state change.
- The "All" row (§2.4): counts summed; averages, rates and SLA recomputed over the union of
  calls; signed-in and idle agents are null (an agent may be in several queues).
- Presence (§10.3): ``registered`` is "online" (registered on a SIP endpoint); ``presence``
  is the Linkus-style status set over the API (softswitch.web.presence_state).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from acd import Acd
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
    MemberState,
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
from softswitch.events import EventBus, Subscription
from softswitch.reports.report import Source
from softswitch.web.live import EVENTS, Feed, QueueTracker
from softswitch.web.periods import PERIODS, PeriodStats

MEMBERSHIP = {AgentSignedIn: "signed_in", AgentSignedOut: "signed_out",
              AgentPaused: "paused", AgentResumed: "resumed"}
STATS_EVENTS = (TaskJoined, TaskLeft, CallEnded, MemberStateChanged, MemberRemoved,
                CallbackRequested, CallbackFailed, CallbackSucceeded, AgentMissedCall,
                OfferStarted)


class Panels:
    """The live queues: figures, snapshots, and the feed of deltas from the event bus.

    ``acd`` returns the switch's ACD (a reload keeps the object, but a caller never holds
    it); ``registered(ext)`` says whether the extension has a live registration; ``name(ext)``
    is the extension's name; ``contact(number)`` is the company-contact name (§6.9) or
    None; ``schedule`` runs a callback soon (default ``loop.call_soon``): the feed's flush.
    """

    def __init__(self, bus: EventBus, acd: Callable[[], Acd], *,
                 registered: Callable[[str], bool], name: Callable[[str], str],
                 contact: Callable[[str], str | None], clock: Callable[[], float],
                 schedule: Callable[[Callable[[], None]], Any] | None = None,
                 feed: Feed | None = None, source: Source | None = None) -> None:
        self.acd = acd
        self.registered = registered
        self.name = name
        self.contact = contact
        self.clock = clock  # engine (monotonic) time, like the ACD's
        offset = time.time() - clock()
        self.wall: Callable[[float], float] = lambda at: round(at + offset, 3)
        self.tracker = QueueTracker(self.wall, self.wall(clock()))
        self.periods = PeriodStats(self.wall, self.zone, self.sla_time, self.wall(clock()),
                                   source)
        self.feed = feed or Feed(schedule=schedule)
        self.feed.before_flush.append(self.flush_stats)
        self._dirty: set[str] = set()
        # an extension's presence status (softswitch.web.presence_state; set by the server)
        self.presence_of: Callable[[str], str | None] = lambda _ext: None
        self.events_seen = 0
        self._sub: Subscription | None = bus.subscribe(self.handle_event, *EVENTS)

    def close(self) -> None:
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None

    # ------------------------------------------------------------------ figures

    def zone(self, queue: str) -> ZoneInfo:
        """The queue's time zone (the reports' rule: its time-based routing's, else UTC)."""
        try:
            routing = self.acd().config.queue(queue).time_based_routing
        except KeyError:
            return ZoneInfo("UTC")
        return ZoneInfo(routing.time_zone if routing is not None else "UTC")

    def sla_time(self, queue: str) -> float:
        try:
            return float(self.acd().config.queue(queue).sla.time)
        except KeyError:
            return 0.0

    def wall_now(self) -> float:
        return self.wall(self.clock())

    async def load_periods(self, queues: list[str]) -> None:
        """The stored part of the queues' windows (softswitch.web.periods), read once."""
        now = self.wall_now()
        self.periods.prune(now)
        await self.periods.load(queues, now)

    def period_figures(self, queue: str | None, queues: list[str]) -> dict[str, Any]:
        """period -> the period KPIs of ``queue`` (None: the "All" row of ``queues``)."""
        now = self.wall_now()
        if queue is None:
            return {p: self.periods.all_kpis(queues, p, now) for p in PERIODS}
        return {p: self.periods.kpis(queue, p, now) for p in PERIODS}

    def kpis(self, queue: str, now: float | None = None,
             period: str = "today") -> dict[str, Any]:
        acd = self.acd()
        now = self.clock() if now is None else now
        snap = acd.statistics(queue, now)
        members = acd.queue_members(queue)
        signed_in = sum(1 for agent, _ in members if acd.is_signed_in(agent, queue))
        idle = snap.agents.get(MemberState.IDLE, 0)
        return {
            "queue": queue, "period": period,
            "signed_in_agents": signed_in, "total_agents": len(members),
            "idle_agents": idle,
            "active_calls": len(self.tracker.active_in(queue)),
            "waiting_calls": snap.waiting,
            **self.periods.kpis(queue, period, self.wall(now)),
            "longest_waiting": round(snap.longest_wait, 3),
            "agent_missed": snap.agent_missed,
        }

    def all_row(self, queues: list[str], period: str = "today") -> dict[str, Any]:
        """§2.4 "All": sums, and rates and averages over the union of the calls."""
        now = self.clock()
        acd = self.acd()
        snaps = [acd.statistics(q, now) for q in queues]
        return {
            "queue": "all", "period": period, "signed_in_agents": None,
            "total_agents": None, "idle_agents": None,
            "active_calls": sum(len(self.tracker.active_in(q)) for q in queues),
            "waiting_calls": sum(s.waiting for s in snaps),
            **self.periods.all_kpis(queues, period, self.wall(now)),
            "longest_waiting": round(max((s.longest_wait for s in snaps), default=0.0), 3),
            "agent_missed": sum(s.agent_missed for s in snaps),
            "periods": self.period_figures(None, queues),
        }

    def member(self, agent: str, queue: str) -> dict[str, Any]:
        """One agent in one queue (§2.5, §3.3.4, §10)."""
        acd = self.acd()
        paused, reason = acd.pause_state(agent, queue)
        times = self.tracker.times(agent, queue)
        calls = self.tracker.agent_calls(agent)
        return {
            "agent": agent, "queue": queue, "name": self.name(agent),
            "type": "static" if acd.is_static(agent, queue) else "dynamic",
            "state": acd.member_state(agent, queue).value,
            "signed_in": acd.is_signed_in(agent, queue), "paused": paused,
            "pause_reason": reason or None, "since": times.since,
            "signed_in_at": times.signed_in_at, "signed_out_at": times.signed_out_at,
            "paused_at": times.paused_at, "registered": self.registered(agent),
            "presence": self.presence_of(agent),
            "current_calls": len(calls),
            "longest_call_since": min((c.answered_at for c in calls), default=None),
            "wrap_up_until": self.tracker.wrapup.get(agent),
            "period_calls": self.agent_figures(agent, queue),
        }

    def agent_figures(self, agent: str, queue: str) -> dict[str, Any]:
        """§2.5 period columns: period -> {answered, missed (per ring), talk (s)}."""
        now = self.wall_now()
        return {p: self.periods.agent_sums(queue, agent, p, now).as_json() for p in PERIODS}

    def waiting(self, queue: str) -> list[dict[str, Any]]:
        """§3.3.2: in queue order (position 1 first)."""
        calls = self.tracker.waiting_in(queue)
        return [dict(c.as_json(self.contact(c.caller)), position=i)
                for i, c in enumerate(calls, 1)]

    def active(self, queue: str) -> list[dict[str, Any]]:
        return [c.as_json(self.contact(c.caller)) for c in self.tracker.active_in(queue)]

    def queue_state(self, queue: str, period: str = "today") -> dict[str, Any]:
        acd = self.acd()
        cfg = acd.config.queue(queue)
        return {
            "number": queue, "name": cfg.name, "sla_time": cfg.sla.time,
            "sla_alert_threshold": cfg.sla.alert_threshold,
            "kpis": self.kpis(queue, period=period),
            "periods": self.period_figures(queue, [queue]),
            "waiting": self.waiting(queue), "active": self.active(queue),
            "agents": [self.member(agent, queue) for agent, _ in acd.queue_members(queue)],
        }

    def snapshot(self, queues: list[str], extension: str,
                 period: str = "today") -> dict[str, Any]:
        """§15.3 `snapshot`: everything a client subscribed to ``queues`` shows, plus the
        client's own agent state; ``seq`` is the last delta it already includes."""
        acd = self.acd()
        own = [self.member(extension, q) for q in acd.queues()
               if acd.is_member(extension, q)]
        return {"type": "snapshot", "seq": self.feed.seq, "server_time": time.time(),
                "period": period,
                "queues": [self.queue_state(q, period) for q in queues],
                "all": self.all_row(queues, period) if len(queues) > 1 else None,
                "me": {"extension": extension, "memberships": own,
                       "calls": [c.as_json(self.contact(c.caller))
                                 for c in self.tracker.agent_calls(extension)]}}

    # ------------------------------------------------------------------ deltas

    def handle_event(self, event: Any) -> None:
        self.tracker.apply(event)
        self.periods.apply(event)
        self.events_seen += 1
        kind = type(event)
        publish = self.feed.publish
        if kind is TaskJoined:
            call = self.tracker.waiting.get(event.task)
            if call is not None:
                publish("call.entered", (event.queue,),
                        {"call": dict(call.as_json(self.contact(call.caller)),
                                      position=event.position)})
        elif kind is OfferStarted:
            publish("call.ringing", (event.queue,), {"id": event.task, "queue": event.queue,
                                                     "agents": list(event.agents)})
        elif kind is OfferEnded:
            publish("call.ring_stopped", (event.queue,),
                    {"id": event.task, "queue": event.queue, "agent": event.agent,
                     "result": event.result.value}, agent=event.agent)
        elif kind is TaskLeft:
            if event.status is CallStatus.ANSWERED and event.task in self.tracker.active:
                answered = self.tracker.active[event.task]
                publish("call.answered", (event.queue,),
                        {"call": answered.as_json(self.contact(answered.caller)),
                         "waited": round(event.waited, 3)}, agent=event.agent)
            else:
                publish("call.left_queue", (event.queue,),
                        {"id": event.task, "queue": event.queue, "status": event.status.value,
                         "reason": event.reason.value, "waited": round(event.waited, 3)})
        elif kind is CallEnded:
            publish("call.ended", (event.queue,),
                    {"id": event.task, "queue": event.queue, "agent": event.agent,
                     "talked": round(event.talked, 3)}, agent=event.agent)
        elif kind is CallHoldChanged and event.queue:  # a queue call (extension calls: none)
            # the party: "caller", or "agent" (the callee of a queue call)
            publish("call.updated", (event.queue,),
                    {"id": event.call_id, "queue": event.queue, "on_hold": event.held,
                     "party": "agent" if event.party == "callee" else event.party})
        elif kind is RecordingStarted or kind is RecordingChanged:
            recorded = self.tracker.active.get(event.task)
            if recorded is not None and event.queue:  # §3.3.3 the recording icon
                publish("call.recording", (event.queue,),
                        {"id": event.task, "queue": event.queue,
                         "recording": recorded.recording}, agent=recorded.agent)
        elif kind is MemberStateChanged:
            if event.previous is not event.state and self._is_member(event.agent, event.queue):
                publish("agent.state", (event.queue,),
                        {"member": self.member(event.agent, event.queue),
                         "previous": event.previous.value}, agent=event.agent)
        elif kind in MEMBERSHIP:
            body: dict[str, Any] = {"agent": event.agent, "queue": event.queue,
                                    "change": MEMBERSHIP[kind]}
            if kind is AgentPaused:
                body["reason"] = event.reason or None
                body["auto"] = event.auto
            publish("agent.membership", (event.queue,), body, agent=event.agent)
            if kind is AgentPaused and event.auto:
                publish("notification", (event.queue,),
                        {"kind": "agent_auto_paused", "agent": event.agent,
                         "queue": event.queue}, agent=event.agent)
        elif kind is MemberRemoved:
            publish("agent.removed", (event.queue,), {"agent": event.agent,
                                                      "queue": event.queue})
        elif kind is WrapupStarted or kind is WrapupEnded:
            publish("agent.activity", event.queues,
                    {"agent": event.agent, "queues": list(event.queues),
                     "wrap_up_until": self.tracker.wrapup.get(event.agent)},
                    agent=event.agent)
        elif kind is AgentMissedCall:
            publish("notification", (event.queue,),
                    {"kind": "agent_missed_call", "agent": event.agent, "queue": event.queue,
                     "id": event.task, "consecutive": event.consecutive}, agent=event.agent)
        elif kind in (CallbackRequested, CallbackSucceeded, CallbackFailed):
            state = {CallbackRequested: "requested", CallbackSucceeded: "succeeded",
                     CallbackFailed: "failed"}[kind]
            cb: dict[str, Any] = {"id": event.task, "queue": event.queue, "state": state,
                                  "number": event.number}
            if kind is CallbackFailed:
                cb["reason"] = event.reason.value
            publish("callback.changed", (event.queue,), cb)
        elif kind is SlaEvaluated:
            publish("sla.evaluated", (event.queue,),
                    {"queue": event.queue, "sla": event.sla, "threshold": event.threshold,
                     "below_threshold": event.below_threshold})
        if (kind is OfferEnded or kind is CallEnded) and self._is_member(event.agent,
                                                                         event.queue):
            # §2.5 period columns of the agent's row (a ring ended, or a call's talk)
            publish("agent.calls", (event.queue,),
                    {"agent": event.agent, "queue": event.queue,
                     "period_calls": self.agent_figures(event.agent, event.queue)},
                    agent=event.agent)
        if isinstance(event, STATS_EVENTS):
            self._mark(event.queue)

    def _is_member(self, agent: str, queue: str) -> bool:
        return self.acd().is_member(agent, queue)

    def _mark(self, queue: str) -> None:
        """The queue's figures changed: one `queue.stats` goes out with this turn's deltas,
        after them (the feed's flush runs `flush_stats` first, which publishes last)."""
        self._dirty.add(queue)
        self.feed.request_flush()

    def flush_stats(self) -> None:
        dirty, self._dirty = self._dirty, set()
        acd = self.acd()
        known = set(acd.queues())
        for queue in sorted(dirty):
            if queue in known:
                self.feed.publish("queue.stats", (queue,),
                                  {"kpis": self.kpis(queue),
                                   "periods": self.period_figures(queue, [queue])})

    def presence_changed(self, extension: str) -> None:
        """A registration of ``extension`` appeared or ended (registrar listener), or its
        presence status changed (softswitch.web.presence_state)."""
        acd = self.acd()
        queues = [q for q in acd.queues() if acd.is_member(extension, q)]
        if not queues:
            return
        self.feed.publish("agent.presence", queues,
                          {"agent": extension, "registered": self.registered(extension),
                           "presence": self.presence_of(extension)},
                          agent=extension)

    def publish_record(self, kind: str, queue: str, body: dict[str, Any]) -> None:
        """Call-log changes (dispositions, notes: softswitch.web.calllogs) on the feed."""
        self.feed.publish(kind, (queue,), body)
