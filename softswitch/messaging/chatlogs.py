"""External chat logs (omnichannel.md §8): every session of every channel as the admin
audits it, read from the store (the inbox in memory holds only the recent ones): the
search of §8.2, the session list of §8.3, the operation timeline of §8.4, the chat history
of §8.5, the deletions of §8.6 and the two CSV files of §8.7.

Display (§8.3, §8.5, §10): times ``MM/DD/YYYY HH:MM:SS`` in the admin's time zone; an
extension is shown ``Name<ext>``; the system is ``PBX系统``; a customer who is a company
contact ``name<number>`` (§8.3's ``customer<+12…283>``; softswitch.web.contacts), as the
contacts are now (the name is not stored with the session).

* Session Sender/Recipient: an inbound session is (customer, the destination it was routed
  to when it was created: the queue name, or ``Name<ext>``); one an agent started is
  (``Name<ext>``, customer); one a campaign created is (``群发活动<name>``, customer).
* Message Sender/Recipient: a received message goes from the customer to whoever held the
  session then (the queue until a take-over, as the manual's example shows; then the agent;
  after a transfer its destination; in a campaign's session the campaign's assignee); a
  sent message goes from the agent (or the campaign) to
  the customer; a system message has no recipient and no message type.
* Each listed session carries its ``origin`` (``inbound``, ``agent``, ``campaign``: made
  by a campaign's "create session" mode), so the admin tells the campaign sessions apart;
  the two CSV files keep the manual's columns.
* Timeline titles (§8.4) by operation: create (inbound) "接收外部消息，创建会话", create (by
  an agent or a campaign) "创建会话", take-over "分机从消息队列中接管会话", transfer
  "转移会话", close "分机关闭会话" (by the system: "系统关闭会话").

Decisions (§8.2, §8.7, §12):

* The time filter is on the session's creation time (the list's Time column), both ends
  included. Sender and Recipient match a case-insensitive substring of the shown text (so
  ``api`` finds the analytics platform's sessions, as the manual's tip says), joined by
  ``and`` (default) or ``or``; an empty one does not filter. Channel type: ``all``
  (default) or a type shown in the list (``SMS``, ``SIP``...). The list is newest first.
* A download is one zip with ``Session_Record.csv`` (Session ID, Time, Sender, Recipient,
  Channel Type, Channel Number) and ``Chat_Data_Record.csv`` (Session ID, Time, Sender,
  Recipient, Message Type, Content), UTF-8 with a BOM (spreadsheets read the Chinese text),
  of every session or of the filtered ones; messages oldest first per session.
* Deleting a session deletes its messages and timeline too, and the agents no longer see
  it. Deleting messages refuses system messages (409) and deletes nothing of that request.
* An agent's message still pending in the outbox (the provider down, being retried) is
  cancelled when its session or the message itself is deleted: it is never sent, not even
  once the provider is back (softswitch.messaging.general `Outbox.cancel`; the row goes
  with the deletion, so nothing is left to mark).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from softswitch.messaging.sessions import SYSTEM, Refused

TIME_FORMAT = "%m/%d/%Y %H:%M:%S"
PAGE = 20
SESSION_COLUMNS = ("Session ID", "Time", "Sender", "Recipient", "Channel Type",
                   "Channel Number")
CHAT_COLUMNS = ("Session ID", "Time", "Sender", "Recipient", "Message Type", "Content")
TYPE_NAMES = {"received": "Received", "sent": "Sent", "system": ""}
_ROUTED = re.compile(r"会话(?:路由|分配)给(.+)。$")
_TRANSFERRED = re.compile(r"将会话转移给(.+)。$")
TITLES = {"takeover": "分机从消息队列中接管会话", "transfer": "转移会话"}


class ChatLogError(Refused):
    """A chat-log request that does not fit (bad filter, unknown session)."""


@dataclass(frozen=True, slots=True)
class Filter:
    start: float | None = None  # epoch seconds, inclusive
    end: float | None = None
    sender: str = ""
    recipient: str = ""
    relation: str = "and"  # "and" | "or"
    channel_type: str = "all"

    @staticmethod
    def parse(query: dict[str, str]) -> tuple[Filter, ZoneInfo]:
        """From the API's query: ``start``/``end`` as ``MM/DD/YYYY HH:MM:SS`` in
        ``time_zone`` (default UTC)."""
        unknown = sorted(set(query) - {"start", "end", "sender", "recipient", "relation",
                                       "channel_type", "time_zone", "page", "all"})
        if unknown:
            raise ChatLogError(400, "invalid_field", f"unknown parameter(s): "
                                                     f"{', '.join(unknown)}")
        try:
            zone = ZoneInfo(query.get("time_zone", "UTC"))
        except (ValueError, KeyError):
            raise ChatLogError(400, "invalid_field", "time_zone: an IANA zone") from None

        def at(key: str) -> float | None:
            raw = query.get(key)
            if not raw:
                return None
            try:
                return datetime.strptime(raw, TIME_FORMAT).replace(tzinfo=zone).timestamp()
            except ValueError:
                raise ChatLogError(400, "invalid_field",
                                   f"{key}: MM/DD/YYYY HH:MM:SS") from None

        relation = query.get("relation", "and").lower()
        if relation not in ("and", "or"):
            raise ChatLogError(400, "invalid_field", "relation: and or or")
        return Filter(at("start"), at("end"), query.get("sender", ""),
                      query.get("recipient", ""), relation,
                      query.get("channel_type", "all") or "all"), zone

    def matches(self, row: SessionRow) -> bool:
        if self.start is not None and row.created < self.start:
            return False
        if self.end is not None and row.created > self.end:
            return False
        if self.channel_type.lower() != "all" and \
                row.channel_type.lower() != self.channel_type.lower():
            return False
        tests = []
        if self.sender:
            tests.append(self.sender.lower() in row.sender.lower())
        if self.recipient:
            tests.append(self.recipient.lower() in row.recipient.lower())
        if not tests:
            return True
        return all(tests) if self.relation == "and" else any(tests)


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    created: float
    sender: str
    recipient: str
    channel_type: str
    channel_number: str
    customer: str
    origin: str = ""  # inbound | agent | campaign (softswitch.messaging.sessions.Origin)
    shown: str = ""  # the customer as shown: ``name<number>`` for a company contact

    def as_json(self, zone: ZoneInfo) -> dict[str, object]:
        return {"id": self.id, "time": show(self.created, zone), "sender": self.sender,
                "recipient": self.recipient, "channel_type": self.channel_type,
                "channel_number": self.channel_number, "origin": self.origin}


def show(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).strftime(TIME_FORMAT)


class ChatLogs:
    """``channel_type(name)``: the shown type of a channel (``""`` once it is gone);
    ``names(ext)``: an extension's name; ``forget(session, message_ids)``: tell the live
    inbox (None: the whole session); ``display(channel, customer)``: the customer as shown
    (``name<number>`` for a company contact, softswitch.messaging.service)."""

    def __init__(self, store: Any, channel_type: Callable[[str], str],
                 names: Callable[[str], str],
                 forget: Callable[[int, frozenset[int] | None], None],
                 display: Callable[[str, str], str] = lambda channel, customer: customer,
                 ) -> None:
        self.store = store
        self.channel_type = channel_type
        self.names = names
        self.forget = forget
        self.display = display

    def _who(self, actor: str) -> str:
        if actor == SYSTEM or not actor.isdigit():
            return actor
        name = self.names(actor)
        return f"{name}<{actor}>" if name and name != actor else f"{actor}<{actor}>"

    async def sessions(self, where: Filter | None = None) -> list[SessionRow]:
        await self.store.flush()
        creators = {int(r[0]): (r[1], r[2]) for r in await self.store.fetch(
            "SELECT session, actor, description FROM messaging_events WHERE kind='create'")}
        out = []
        for r in await self.store.fetch(
                "SELECT id, channel, number, customer, origin, created, route, target"
                " FROM messaging_sessions ORDER BY id DESC"):
            sid, channel, number, customer, origin = int(r[0]), r[1], r[2], r[3], r[4]
            actor, description = creators.get(sid, ("", ""))
            shown = self.display(channel, customer)
            if origin == "inbound":
                routed = _ROUTED.search(description)
                dest = routed.group(1) if routed else (
                    self._who(r[7]) if r[6] == "extension" else r[7])
                sender, recipient = shown, dest
            else:
                sender, recipient = self._who(actor) if actor else "", shown
            row = SessionRow(sid, float(r[5]), sender, recipient, self.channel_type(channel),
                             number, customer, origin, shown)
            if where is None or where.matches(row):
                out.append(row)
        return out

    async def session(self, session_id: int) -> SessionRow:
        for row in await self.sessions():
            if row.id == session_id:
                return row
        raise ChatLogError(404, "not_found", f"no session {session_id}")

    async def timeline(self, session_id: int, zone: ZoneInfo) -> list[dict[str, object]]:
        row = await self.session(session_id)
        out: list[dict[str, object]] = []
        for r in await self.store.fetch("SELECT at, kind, actor, description FROM"
                                        " messaging_events WHERE session=? ORDER BY id",
                                        (session_id,)):
            kind, actor = r[1], r[2]
            if kind == "create":
                title = "接收外部消息，创建会话" if actor == row.customer else "创建会话"
            elif kind == "close":
                title = "系统关闭会话" if actor == SYSTEM else "分机关闭会话"
            else:
                title = TITLES.get(kind, kind)
            out.append({"title": title, "time": show(float(r[0]), zone), "kind": kind,
                        "description": r[3]})
        return out

    async def messages(self, row: SessionRow) -> list[dict[str, Any]]:
        """The session's messages oldest first, with their shown sender and recipient."""
        holders: list[tuple[float, int, str]] = []  # (time, message id bound, holder)
        for r in await self.store.fetch("SELECT at, kind, actor, description FROM"
                                        " messaging_events WHERE session=? ORDER BY id",
                                        (row.id,)):
            kind, actor, description = r[1], r[2], r[3]
            holder = None
            if kind == "create":  # routed (inbound, campaign) or the starting agent
                routed = _ROUTED.search(description)
                holder = routed.group(1) if routed else (
                    row.recipient if row.origin == "inbound" else row.sender)
            elif kind == "takeover":
                holder = self._who(actor)
            elif kind == "transfer":
                moved = _TRANSFERRED.search(description)
                holder = moved.group(1) if moved else None
            if holder is not None:
                holders.append((float(r[0]), len(holders), holder))
        out = []
        for r in await self.store.fetch(
                "SELECT id, sent_at, direction, sender, body, media FROM messaging_messages"
                " WHERE session=? ORDER BY id", (row.id,)):
            at, direction, sender = float(r[1]), r[2], r[3]
            if direction == "received":
                held = [h for t, _, h in holders if t <= at]
                shown_from, shown_to = row.shown or sender, held[-1] if held else row.recipient
            elif direction == "sent":
                shown_from, shown_to = self._who(sender), row.shown or row.customer
            else:
                shown_from, shown_to = SYSTEM, ""
            # a system message written in the same instant as an operation (take-over,
            # transfer) is already after it: the holder list is by time, ties included
            out.append({"id": int(r[0]), "at": at, "sender": shown_from,
                        "recipient": shown_to, "type": TYPE_NAMES.get(direction, ""),
                        "content": r[4], "media": r[5], "deletable": direction != "system"})
        return out

    async def history(self, session_id: int, zone: ZoneInfo, page: int = 1,
                      size: int = PAGE) -> dict[str, object]:
        """§8.5: newest first, ``size`` per page."""
        row = await self.session(session_id)
        rows = list(reversed(await self.messages(row)))
        chunk = rows[(page - 1) * size:page * size]
        return {"session": row.as_json(zone), "total": len(rows), "page": page,
                "page_size": size, "messages": [
                    {**{k: v for k, v in m.items() if k not in ("at", "media")},
                     "time": show(m["at"], zone)} for m in chunk]}

    async def delete_sessions(self, ids: Iterable[int]) -> list[int]:
        ids = sorted(set(ids))
        known = {r.id for r in await self.sessions()}
        missing = [i for i in ids if i not in known]
        if missing:
            raise ChatLogError(404, "not_found", f"no session(s) {missing}")
        for sid in ids:
            self.forget(sid, None)
            self.store.write("DELETE FROM messaging_messages WHERE session=?", (sid,))
            self.store.write("DELETE FROM messaging_events WHERE session=?", (sid,))
            self.store.write("DELETE FROM messaging_sessions WHERE id=?", (sid,))
        await self.store.flush()
        return ids

    async def delete_messages(self, session_id: int, ids: Iterable[int]) -> list[int]:
        row = await self.session(session_id)
        wanted = sorted(set(ids))
        by_id = {m["id"]: m for m in await self.messages(row)}
        for mid in wanted:
            m = by_id.get(mid)
            if m is None:
                raise ChatLogError(404, "not_found",
                                   f"no message {mid} in session {session_id}")
            if not m["deletable"]:
                raise ChatLogError(409, "system_message",
                                   f"message {mid} was sent by the PBX system and cannot be "
                                   "deleted")
        self.forget(session_id, frozenset(wanted))
        for mid in wanted:
            self.store.write("DELETE FROM messaging_messages WHERE id=? AND session=?",
                             (mid, session_id))
        await self.store.flush()
        return wanted

    async def download(self, where: Filter | None, zone: ZoneInfo) -> bytes:
        """§8.7: the zip of the two CSV files (``where`` None: all records)."""
        rows = await self.sessions(where)
        sessions = io.StringIO()
        chats = io.StringIO()
        s_out = csv.writer(sessions, lineterminator="\r\n")
        c_out = csv.writer(chats, lineterminator="\r\n")
        s_out.writerow(SESSION_COLUMNS)
        c_out.writerow(CHAT_COLUMNS)
        for row in rows:
            s_out.writerow([row.id, show(row.created, zone), row.sender, row.recipient,
                            row.channel_type, row.channel_number])
            for m in await self.messages(row):
                c_out.writerow([row.id, show(m["at"], zone), m["sender"], m["recipient"],
                                m["type"], m["content"]])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("Session_Record.csv", "\ufeff" + sessions.getvalue())
            z.writestr("Chat_Data_Record.csv", "\ufeff" + chats.getvalue())
        return buf.getvalue()


def for_messaging(service: Any) -> ChatLogs:
    """The chat logs of a `softswitch.messaging.service.Messaging`."""

    def channel_type(name: str) -> str:
        config = service.channels.get(name)
        return str(config.type).upper() if config is not None else ""

    def forget(session: int, messages: frozenset[int] | None) -> None:
        service.outbox.cancel(session, messages)  # before the rows go: never sent
        service.run(lambda inbox, now: inbox.forget(session, messages))

    return ChatLogs(service.store, channel_type, service.inbox.names, forget,
                    service.customer_display)
