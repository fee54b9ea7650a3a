"""Call monitoring (queue-manager-agent.md §4.7): listen, whisper, barge on an answered
queue call, for the live API (softswitch.web.callops).

"The system calls your extension": the supervisor's phone is rung through the queue
controller's dialer (the one fork, softswitch.queue.dialer.OutboundCall). When it answers,
the caller's and the agent's media legs leave their two-party bridge for a conference of
the media engine (media.engine.Conference, media.mixer's hearing matrix): both as
participants, the supervisor as

- ``listen``: hears both, heard by nobody;
- ``whisper``: hears both, heard by the agent only;
- ``barge``: a full participant, heard by both.

When the supervisor hangs up, the conference closes and the caller and agent are bridged
again as before; when the monitored call ends, the supervisor's phone is hung up (or its
ringing cancelled).

Decisions:
- Monitoring applies to queue calls (the Active Calls panel); one supervisor monitors a
  call once at a time (a second request from the same supervisor is 409), several
  supervisors may monitor the same call (they do not hear each other: media.mixer).
- The supervisor's phone rings until it answers or declines; it has no timeout of its own
  (it stops when the monitored call ends).
- A re-INVITE from the supervisor's phone is answered by the queue controller like any of
  its outbound calls (the leg follows the new SDP). Hold (sendonly/inactive) makes the
  supervisor a listener of the mix until it resumes (sendrecv): the monitored call goes on
  untouched, nobody hears music, and what a held phone may still send (its own hold
  music, a beep) never reaches the caller or the agent; on resume the mode's role
  (whisper, barge) is back. The monitored call's parties hear no hold music either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from media.mixer import Role
from softswitch.log import get_logger

log = get_logger("monitor")

MODES = {"listen": Role.LISTEN, "whisper": Role.WHISPER, "barge": Role.BARGE}


@dataclass(eq=False)
class MonitorSession:
    """One supervisor on one queue call; the owner of the supervisor's OutboundCall."""

    monitors: Monitors
    task_id: str
    supervisor: str
    mode: str
    out: Any = None  # softswitch.queue.dialer.OutboundCall
    joined: bool = False
    over: bool = False
    held: bool = False  # the supervisor's phone holds the monitor call

    def api_hung_up(self, out: Any) -> None:
        """The supervisor's BYE (the queue controller routes it here)."""
        self.monitors.supervisor_left(self)

    def api_hold(self, out: Any, held: bool) -> None:
        """The supervisor's phone held (sendonly/inactive) or resumed the monitor call."""
        self.monitors.hold_changed(self, held)

    def as_json(self) -> dict[str, Any]:
        return {"call_id": self.task_id, "supervisor": self.supervisor, "mode": self.mode,
                "state": "monitoring" if self.joined else "ringing"}


@dataclass(eq=False)
class Monitors:
    """Every monitoring session of the switch, over the queue controller's hooks."""

    queues: Any  # softswitch.queue.controller.QueueCalls
    sessions: dict[str, list[MonitorSession]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queues.api_watch_end(self.call_ended)

    def active(self, task_id: str) -> list[MonitorSession]:
        return [s for s in self.sessions.get(task_id, []) if not s.over]

    def start(self, task: Any, supervisor: str, mode: str, targets: list[Any]) -> MonitorSession:
        """Ring ``supervisor`` (its registrar ``targets``) to monitor ``task``."""
        session = MonitorSession(self, task.id, supervisor, mode)
        self.sessions.setdefault(task.id, []).append(session)
        session.out = self.queues.api_ring(
            task, supervisor, f"monitor-{supervisor}", targets,
            on_answered=lambda out: self._answered(session, task),
            on_failed=lambda out, status: self._failed(session, status), owner=session)
        log.info("monitor ringing", call_id=task.id, supervisor=supervisor, mode=mode)
        return session

    def _answered(self, session: MonitorSession, task: Any) -> None:
        legs = self.queues.api_legs(task)
        out = session.out
        if session.over or legs is None or out is None or out.leg is None:
            self._end(session)
            return
        caller, agent = legs
        conf = self.queues.media.conference(f"monitor/{task.id}")
        if caller not in conf.members:
            conf.add(caller)
            conf.add(agent)
        if session.held:
            conf.add(out.leg, Role.LISTEN)
        else:
            conf.add(out.leg, MODES[session.mode],
                     whisper_to=agent if session.mode == "whisper" else None)
        session.joined = True
        log.info("monitoring", call_id=task.id, supervisor=session.supervisor,
                 mode=session.mode)

    def hold_changed(self, session: MonitorSession, held: bool) -> None:
        """Held: the supervisor only listens; resumed: its mode's role again."""
        session.held = held
        conf = self.queues.media.conferences.get(f"monitor/{session.task_id}")
        out = session.out
        if conf is None or out is None or out.leg is None or out.leg not in conf.members \
                or not session.joined:
            return
        task = self.queues.api_task(session.task_id)
        legs = self.queues.api_legs(task) if task is not None else None
        if held or legs is None:
            conf.set_role(out.leg, Role.LISTEN)
        else:
            conf.set_role(out.leg, MODES[session.mode],
                          whisper_to=legs[1] if session.mode == "whisper" else None)
        log.info("monitor held" if held else "monitor resumed", call_id=session.task_id,
                 supervisor=session.supervisor, mode=session.mode)

    def _failed(self, session: MonitorSession, status: int) -> None:
        log.info("monitor not answered", call_id=session.task_id,
                 supervisor=session.supervisor, status=status)
        session.over = True
        if session.out is not None:
            self.queues.api_drop(session.out, bye=False)  # its leg
        self._forget(session)

    def supervisor_left(self, session: MonitorSession) -> None:
        log.info("monitor ended", call_id=session.task_id, supervisor=session.supervisor)
        self._leave_conference(session)
        session.over = True
        if session.out is not None:
            self.queues.api_drop(session.out, bye=False)
        self._forget(session)

    def call_ended(self, task: Any) -> None:
        """The monitored call ended: every supervisor's phone is hung up."""
        for session in list(self.sessions.get(task.id, [])):
            self._end(session)
        conf = self.queues.media.conferences.pop(f"monitor/{task.id}", None)
        if conf is not None:
            for leg in list(conf.members):
                conf.remove(leg)

    def _end(self, session: MonitorSession) -> None:
        if session.over:
            return
        self._leave_conference(session)
        session.over = True
        if session.out is not None:
            self.queues.api_drop(session.out, bye=True)
        self._forget(session)

    def _leave_conference(self, session: MonitorSession) -> None:
        """The supervisor's leg leaves the mix; with no supervisor left, caller and agent
        are bridged directly again."""
        conf = self.queues.media.conferences.get(f"monitor/{session.task_id}")
        if conf is None or session.out is None or session.out.leg is None:
            return
        conf.remove(session.out.leg)
        session.joined = False
        if any(s.joined for s in self.active(session.task_id) if s is not session):
            return
        members = list(conf.members)
        for leg in members:
            conf.remove(leg)
        self.queues.media.conferences.pop(conf.name, None)
        task = self.queues.api_task(session.task_id)
        legs = self.queues.api_legs(task) if task is not None else None
        if legs is not None and not legs[0].closed and not legs[1].closed:
            self.queues.media.bridge(*legs)

    def _forget(self, session: MonitorSession) -> None:
        left = [s for s in self.sessions.get(session.task_id, []) if s is not session]
        if left:
            self.sessions[session.task_id] = left
        else:
            self.sessions.pop(session.task_id, None)
