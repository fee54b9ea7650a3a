"""The messaging shell: the sessions core (softswitch.messaging.sessions) fed from the
channels' webhooks and the agents' API, its effects carried out here: rows queued in the
store, deltas on the live feed (one per agent that must hear of it: PROTOCOL.md §3
"messaging"), outbound messages into the outbox of their channel, the auto-close timer on
the injected clock, the periodic verification of channels that have a ``verify_url``."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from softswitch.clock import Clock, TimerHandle
from softswitch.log import get_logger
from softswitch.messaging import store as rows
from softswitch.messaging.config import ChannelConfig
from softswitch.messaging.general import GeneralSmsClient, Inbound, Job, Outbox, SendResult
from softswitch.messaging.providers import (
    ADAPTERS,
    ProviderAdapter,
    ReplyRefused,
    make_adapter,
)
from softswitch.messaging.sessions import (
    API_EVENT,
    API_EVENT_NAME,
    DeliveryStatus,
    Direction,
    Effect,
    Inbox,
    Message,
    Notify,
    QueuePort,
    Send,
    Session,
)

log = get_logger("messaging")

Publish = Callable[[str, dict[str, Any], str], None]  # (kind, body, agent)


class Messaging:
    def __init__(self, channels: tuple[ChannelConfig, ...], queues: QueuePort, store: Any,
                 clock: Clock, publish: Publish,
                 names: Callable[[str], str] = lambda ext: ext,
                 platform: Callable[[], tuple[str, ...]] = lambda: ()) -> None:
        self.channels = {c.name: c for c in channels}
        self.by_token = {c.token: c for c in channels}
        self.inbox = Inbox(channels, queues, names, platform)
        self.store = store
        self.clock = clock
        self.publish = publish
        self.clients: dict[str, GeneralSmsClient | ProviderAdapter] = {}
        for c in channels:  # the named providers: softswitch.messaging.providers
            if c.provider == "general":
                self.clients[c.name] = GeneralSmsClient(c)
            elif c.provider in ADAPTERS:
                self.clients[c.name] = make_adapter(c, clock, self._window_of(c.name))
        self._sip_numbers = {n.number: c for c in channels if c.type == "sip"
                             for n in c.numbers}
        # the router's SIP MESSAGE sender (softswitch.app.SipRouter.send_message)
        self.sip_send: Callable[[str, str | None, str, str, bytes,
                                 Callable[[int, str], None]], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.outbox = Outbox(self._deliver, self._delivered, clock, self._interval)
        self._channel_of: dict[int, str] = {}
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self._verifiers: list[asyncio.Task[None]] = []
        self._recent: dict[tuple[str, str], None] = {}  # webhook ids in flight or stored
        self.extension_exists: Callable[[str], bool] = lambda ext: True
        # channel adapters outside this module (softswitch.messaging.livechat): their send
        # by channel type, and what they must hear of the core's effects
        self.senders: dict[str, Callable[[ChannelConfig, Job], Awaitable[SendResult]]] = {}
        self.observers: list[Callable[[list[Effect]], None]] = []
        # the queue reports' rows (softswitch.reports.rows.ReportRows.resume_calls): told of
        # the rows the sessions still waiting in a message queue continue at start-up
        self.resume_report_rows: Callable[[list[tuple[str, str, str, str, float]]],
                                          None] | None = None
        # the company contacts' name of a number (softswitch.web.contacts.ContactBook.name)
        self.contact_name: Callable[[str], str | None] = lambda number: None
        # ... and the id of that contact (ContactBook.match)
        self.contact_id: Callable[[str], str | None] = lambda number: None

    # --- life --------------------------------------------------------------------------

    async def start(self) -> None:
        loaded = await rows.load(self.store, self.clock.wall())
        for s in loaded.sessions:
            self._channel_of[s.id] = s.channel
        waiting, resumed = await self._waiting(loaded.sessions)
        if self.resume_report_rows is not None:
            self.resume_report_rows(resumed)
        self.inbox.restore(loaded.sessions, loaded.messages, loaded.last_session,
                           loaded.last_message, loaded.last_received, waiting,
                           loaded.entered)
        self._apply()
        for m in loaded.messages:  # sent before the restart, not yet delivered
            if m.status is DeliveryStatus.PENDING:
                s = self.inbox.sessions[m.session]
                self._queue(m, s)
        self.outbox.start()
        for c in self.channels.values():
            if c.verify_url is not None:
                self._verifiers.append(asyncio.get_running_loop().create_task(
                    self._verify_loop(c), name=f"verify-{c.name}"))
        for client in self.clients.values():
            if isinstance(client, ProviderAdapter):
                self._verifiers.append(asyncio.get_running_loop().create_task(
                    client.run(), name=f"provider-{client.config.name}"))
        self._arm()
        log.info("messaging started", channels=len(self.channels),
                 sessions=len(self.inbox.sessions), pending=len(self.outbox))

    async def _waiting(self, sessions: list[Session]) -> tuple[
            dict[int, tuple[str, float]], list[tuple[str, str, str, str, float]]]:
        """The open queue sessions not taken over whose report row is still open (they
        continue it, softswitch.messaging.sessions.Inbox.restore): session id -> (task,
        seconds waited), and those rows for the reports. Decision: without the reports
        (no recorder) the rows are not continued and each session joins again."""
        if self.resume_report_rows is None or not hasattr(self.store, "fetch"):
            return {}, []
        by_id = {s.id: s for s in sessions if s.open and s.owner is None
                 and s.route == "message_queue"}
        now = self.clock.wall()
        waiting: dict[int, tuple[str, float]] = {}
        resumed: list[tuple[str, str, str, str, float]] = []
        for task, queue, uid, caller, joined in await rows.waiting_rows(self.store):
            sid = task.split("-")[1] if task.count("-") >= 2 else ""
            s = by_id.get(int(sid)) if sid.isdigit() else None
            if s is None or s.target != queue or s.id in waiting \
                    or not self.inbox.queues.exists(queue):
                continue
            waiting[s.id] = (task, max(0.0, now - joined))
            resumed.append((task, queue, uid, caller, joined))
        return waiting, resumed

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for t in self._verifiers:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.outbox.close()
        for client in self.clients.values():
            await client.close()

    # --- inputs ------------------------------------------------------------------------

    async def receive(self, channel: ChannelConfig, inbound: Inbound) -> Message:
        """A verified webhook: stored (committed) when this returns. Raises
        `KeyError` for a replayed provider id."""
        key = (channel.name, inbound.provider_id)
        if key in self._recent:
            raise KeyError(inbound.provider_id)
        self._recent[key] = None  # before the read: a concurrent copy is refused too
        if len(self._recent) > 10000:
            self._recent.pop(next(iter(self._recent)))
        if await rows.seen(self.store, *key):
            raise KeyError(inbound.provider_id)
        m = self.inbox.receive(channel.name, inbound.to, inbound.source, inbound.text,
                               inbound.media, inbound.provider_id, self.clock.wall())
        self._apply()
        await self.store.flush()
        return m

    def _window_of(self, channel: str) -> Callable[[str, str], float | None]:
        return lambda number, customer: self.last_inbound(channel, number, customer)

    def last_inbound(self, channel: str, number: str, customer: str) -> float | None:
        """When the customer last wrote to this channel number (any session): the
        24-hour and 7-day windows of WhatsApp and Messenger (the core's index, O(1))."""
        return self.inbox.last_received.get((channel, number, customer))

    # --- closed sessions, read back from the store (softswitch.messaging.sessions) ----------

    async def recall(self, session_id: int) -> None:
        """Before an operation on one session: a closed one no longer in memory is read
        back (for GRACE), so the core answers as if it had never left."""
        if session_id in self.inbox.sessions:
            self.inbox.touch(session_id, self.clock.wall())
            return
        await self.store.flush()
        found = await rows.session(self.store, session_id)
        if found is not None:
            self._adopt([found[0]], found[1])

    async def page(self, agent: str, which: str, limit: int,
                   after: tuple[float, int] | None) -> tuple[list[Session], bool]:
        """One page of the agent's ``which`` list (recent, archived, campaign), newest
        activity first: the first ``limit`` sessions after the cursor ``after`` (the
        (last_activity, id) of the previous page's last row), and whether more follow. The
        Archived and Campaign lists merge the sessions in memory with the closed ones of
        the store, of which only this page is read back (softswitch.messaging.store
        `closed_page`); Recent is the open sessions, all in memory."""
        inbox = self.inbox

        def key(s: Session) -> tuple[float, int]:
            return (-s.last_activity, -s.id)

        def later(s: Session) -> bool:
            return after is None or key(s) > (-after[0], -after[1])

        if which == "campaign":
            listed = inbox.campaign_list(agent)
        else:
            listed = inbox.list_for(agent, which == "archived")
        out = [s for s in listed if later(s)]
        if which != "recent":
            await self.store.flush()
            sessions, messages = await rows.closed_page(
                self.store, self.clock.wall(), agent, set(inbox.sessions),
                lambda s: inbox.sees(s, agent), after, limit + 1, which == "campaign")
            self._adopt(sessions, messages)
            out += [s for s in sessions if s.id in inbox.sessions]
        out.sort(key=key)
        now = self.clock.wall()
        for s in out[:limit]:
            inbox.touch(s.id, now)
        return out[:limit], len(out) > limit

    async def recall_latest(self, channel: str, customer: str) -> None:
        """The customer's last session on the channel (Live Chat shows its history to a
        returning visitor), read back if it is closed and no longer in memory."""
        await self.store.flush()
        sid = await rows.latest_of(self.store, channel, customer)
        if sid is not None:
            await self.recall(sid)

    def _adopt(self, sessions: list[Session], messages: list[Message]) -> None:
        for s in self.inbox.adopt(sessions, messages, self.clock.wall()):
            self._channel_of[s.id] = s.channel

    def prepare_reply(self, session_id: int, text: str, media: tuple[str, ...],
                      template: dict[str, Any] | None) -> tuple[str, tuple[str, ...]]:
        """An agent's reply as the channel will store and send it (a WhatsApp template
        rendered); raises `ReplyRefused` (the window rules). An unknown session passes
        through: the core answers it."""
        s = self.inbox.sessions.get(session_id)
        client = self.clients.get(s.channel) if s is not None else None
        if s is None or not isinstance(client, ProviderAdapter):
            if template is not None:
                raise ReplyRefused(400, "invalid_field",
                                   "message templates exist only on WhatsApp channels")
            return text, media
        return client.prepare(s.number, s.customer, text, media, template)

    def run(self, op: Callable[[Inbox, float], Any]) -> Any:
        """An agent's operation on the core (raises sessions.Refused); effects applied."""
        try:
            return op(self.inbox, self.clock.wall())
        finally:
            self._apply()

    # --- effects -------------------------------------------------------------------------

    def _apply(self) -> None:
        effects, self.inbox.out = self.inbox.out, []
        rows.persist(self.store, effects, self._channel_of)
        for observe in self.observers:
            observe(effects)
        for e in effects:
            if isinstance(e, Notify):
                self._notify(e)
            elif isinstance(e, Send):
                self._queue(e.message, self.inbox.sessions[e.message.session])
        for sid in self.inbox.evict(self.clock.wall()):
            self._channel_of.pop(sid, None)
        self._arm()

    def customer_name(self, channel: str, customer: str) -> str | None:
        """The company contact's name of a session's customer: SMS and WhatsApp customers
        only, whose addresses are phone numbers (a Live Chat visitor's address or a
        Messenger PSID has digits that are no phone number; SIP's are extensions)."""
        config = self.channels.get(channel)
        if config is None or config.type not in ("sms", "whatsapp"):
            return None
        return self.contact_name(customer)

    def customer_display(self, channel: str, customer: str) -> str:
        """The customer as the manual shows it (§6.1): ``name<number>`` for a known
        contact, else the address."""
        name = self.customer_name(channel, customer)
        return f"{name}<{customer}>" if name else customer

    def contacts_changed(self, numbers: tuple[str, ...]) -> None:
        """Company contacts of these numbers were added, edited or deleted: the open and
        in-memory sessions whose customer they may name are sent again (``session.changed``)
        to the agents who see them, with their ``customer_display`` as it is now. A
        superset: every customer whose last 4 digits (the fewest the match rule compares,
        ``match_last_digits`` >= 4) equal a changed number's; an extra delta changes
        nothing."""
        tails = {re.sub(r"[^0-9]", "", n)[-4:] for n in numbers}
        inbox = self.inbox
        for s in list(inbox.sessions.values()):
            if re.sub(r"[^0-9]", "", s.customer)[-4:] not in tails:
                continue
            config = self.channels.get(s.channel)
            if config is None or config.type not in ("sms", "whatsapp"):
                continue
            agents = tuple(a for a in inbox.watchers(s) if a not in s.removed_by)
            if agents:
                self._notify(Notify(agents, "session.changed", {"session": s}))

    def session_json(self, s: Session, viewer: str | None = None) -> dict[str, object]:
        """The session object of the API and the live feed: the core's, the customer's
        contact name (``customer_name``, null for none), ``customer_display`` and the
        contact's id (``customer_contact``, null for none: GET /contacts/{id} has its
        fields), and the channel's type (``channel_type``: sms, whatsapp, messenger,
        livechat, sip; null once the channel has left the configuration) and, for a
        Messenger channel, its Page's name (``channel_page``, else null): the agent's
        session details (omnichannel.md §6.2 "View session details")."""
        out = s.as_json(viewer)
        name = self.customer_name(s.channel, s.customer)
        out["customer_name"] = name
        out["customer_display"] = f"{name}<{s.customer}>" if name else s.customer
        out["customer_contact"] = self.contact_id(s.customer) if name else None
        config = self.channels.get(s.channel)
        out["channel_type"] = config.type if config is not None else None
        out["channel_page"] = dict(config.credentials).get("page_name") \
            if config is not None and config.type == "messenger" else None
        return out

    def _notify(self, e: Notify) -> None:
        for agent in e.agents:
            body: dict[str, Any] = {"agent": agent}
            session = e.body.get("session")
            if isinstance(session, Session):
                body["session"] = self.session_json(session, agent)
            message = e.body.get("message")
            if isinstance(message, Message):
                body["message"] = message.as_json()
            if e.body.get("event") == API_EVENT:  # the platform's event (§4)
                body["event"], body["event_name"] = API_EVENT, API_EVENT_NAME
            self.publish(f"messaging.{e.kind}", body, agent)

    def _queue(self, m: Message, s: Session) -> None:
        self.outbox.add(Job(m.id, s.id, s.channel, s.number, s.customer, m.text, m.media,
                            self.clock.monotonic(), m.attempts))

    def _interval(self, channel: str) -> float:
        config = self.channels.get(channel)
        rate = config.send_rate if config is not None else None
        return 1.0 / rate if rate else 0.0

    async def _deliver(self, job: Job) -> SendResult:
        channel = self.channels.get(job.channel)
        if channel is not None and channel.type == "sip":
            return await self._send_sip(channel, job)
        if channel is not None and channel.type in self.senders:
            return await self.senders[channel.type](channel, job)
        client = self.clients.get(job.channel)
        if client is None:  # the channel left the configuration
            return SendResult(None, "Send failed: the channel no longer exists")
        return await client.send(job.source, job.to, job.text, job.media)

    async def _send_sip(self, channel: ChannelConfig, job: Job) -> SendResult:
        """An agent's reply to a phone: a MESSAGE from the channel number to the customer's
        extension. Decision: a phone that does not take it (not registered, refused, no
        answer) fails at once with its SIP status; it is not a provider that comes back."""
        if self.sip_send is None:
            return SendResult(None, "Send failed: SIP is not running")
        done: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

        def final(status: int, reason: str) -> None:
            if not done.done():
                done.set_result((status, reason))

        text = "\n".join([job.text, *job.media]) if job.media else job.text
        self.sip_send(job.source, channel.name, job.to, "text/plain;charset=UTF-8",
                      text.encode(), final)
        status, reason = await done
        if 200 <= status < 300:
            return SendResult(f"sip-{job.message}")
        return SendResult(None, f"Send failed: {status} {reason}")

    def sip_message(self, number: str, sender: str, request: Any,
                    answer: Callable[[int, str], None]) -> bool:
        """RFC 3428 MESSAGE from extension ``sender`` to ``number``: False when the number
        is no SIP channel's. Only text/plain (415 otherwise, §11.3 of the RFC), UTF-8; the
        200 follows once the message is committed."""
        channel = self._sip_numbers.get(number)
        if channel is None:
            return False
        ctype = (request.get("Content-Type") or "text/plain").split(";")[0].strip().lower()
        if ctype != "text/plain":
            answer(415, "Unsupported Media Type")
            return True
        try:
            text = bytes(request.body).decode("utf-8")
        except UnicodeDecodeError:
            answer(400, "Bad Request (text is not UTF-8)")
            return True
        if not text.strip():
            answer(400, "Bad Request (empty message)")
            return True
        self.inbox.receive(channel.name, number, sender, text, (), None, self.clock.wall())
        self._apply()

        async def committed() -> None:
            await self.store.flush()
            answer(200, "OK")

        task = asyncio.get_running_loop().create_task(committed())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _delivered(self, job: Job, result: SendResult, final: bool) -> None:
        if result.provider_id is not None:
            status = DeliveryStatus.SENT
        else:
            status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        self.inbox.delivery(job.message, job.session, status, result.provider_id,
                            result.prompt, job.attempts)
        self._apply()

    # --- auto-close ----------------------------------------------------------------------

    def _arm(self) -> None:
        deadline = self.inbox.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            delay = max(0.0, deadline - self.clock.wall())
            self._timer = self.clock.call_later(delay, self._expire)

    def _expire(self) -> None:
        self._timer_at = None
        self._timer = None
        closed = self.inbox.expire(self.clock.wall())
        if closed:
            log.info("sessions auto-closed", sessions=closed)
        self._apply()

    # --- verification (§3.9.3) -------------------------------------------------------------

    async def _verify_loop(self, channel: ChannelConfig) -> None:
        client = self.clients[channel.name]
        assert isinstance(client, GeneralSmsClient)
        while True:
            before = client.status
            status = await client.verify()
            if status is not before:
                log.info("channel status", channel=channel.name, status=status.value)
            done = asyncio.get_running_loop().create_future()
            handle = self.clock.call_later(channel.verify_interval,
                                           lambda f=done: f.done() or f.set_result(None))
            try:
                await done
            finally:
                handle.cancel()

    def history(self, session: Session) -> list[dict[str, object]]:
        return [m.as_json() for m in self.inbox.messages.get(session.id, [])]

    async def channel_rows(self) -> list[dict[str, object]]:
        """Channels with their status and per-number counters (§2.5: agents' sends),
        counted in the store (closed sessions included)."""
        await self.store.flush()
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for channel, number, direction, status, n in await self.store.fetch(
                "SELECT s.channel, s.number, m.direction, m.status, COUNT(*)"
                " FROM messaging_messages m JOIN messaging_sessions s ON s.id = m.session"
                " WHERE m.direction IN ('received', 'sent')"
                " GROUP BY s.channel, s.number, m.direction, m.status"):
            tally = counts.setdefault((channel, number), {
                "total_sent": 0, "sent_successfully": 0, "failed": 0, "received": 0})
            if direction == Direction.RECEIVED.value:
                tally["received"] += int(n)
            elif status != DeliveryStatus.PENDING.value:
                tally["total_sent"] += int(n)
                if status == DeliveryStatus.SENT.value:
                    tally["sent_successfully"] += int(n)
                elif status == DeliveryStatus.FAILED.value:
                    tally["failed"] += int(n)
        out: list[dict[str, object]] = []
        for c in self.channels.values():
            numbers: list[dict[str, object]] = [
                {"number": n.number, **counts.get((c.name, n.number), {
                    "total_sent": 0, "sent_successfully": 0, "failed": 0, "received": 0})}
                for n in c.numbers]
            client = self.clients.get(c.name)
            row: dict[str, object] = {"name": c.name, "type": c.type, "numbers": numbers}
            if client is not None:
                row.update(provider=c.provider, status=client.status.value,
                           webhook_path=f"/api/v1/webhooks/{c.provider}/{c.token}")
            out.append(row)
        return out
