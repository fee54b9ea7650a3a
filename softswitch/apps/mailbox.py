"""The voicemail boxes' state: which messages each box holds, what the message-waiting
lamps show (RFC 3842), and the e-mail each new message sends (sans-IO; the shell in
`softswitch.apps.mailbox_service` stores rows, NOTIFYs and sends).

`Mailboxes.handle(event, wall)` takes the voicemail events the flows publish
(`softswitch.apps.events`) and returns `Effect`s: a row to write, a lamp to update for each
owner of the box, an e-mail to send, a file to delete. `wall` is the wall-clock time
(epoch seconds) the shell stamps on the event.

Message-waiting (RFC 3842 §5.2): `Messages-Waiting: yes` while the box holds a new message;
`Voice-Message: new/old` counts new and old messages (saved ones count as old: they are
kept, not waiting); urgent counts are always 0 (we have no urgent messages).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from softswitch.apps.events import (
    VoicemailDeleted,
    VoicemailHeard,
    VoicemailLeft,
    VoicemailSaved,
)
from softswitch.apps.voicemail import Folder, StoredMessage, VoicemailBox
from softswitch.presence.bodies import message_summary


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message as the store keeps it (table `voicemail_messages`)."""

    message_id: str
    box: str
    caller: str
    caller_name: str
    path: str
    seconds: float
    folder: Folder
    created_at: float  # epoch seconds
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class WriteRow:
    row: MessageRow


@dataclass(frozen=True, slots=True)
class DeleteRow:
    message_id: str


@dataclass(frozen=True, slots=True)
class UpdateLamp:
    """NOTIFY `message-summary` to the subscriptions of `extension`."""

    extension: str
    body: bytes


@dataclass(frozen=True, slots=True)
class SendEmail:
    to: str
    subject: str
    body: str
    attachment: str | None  # a WAV path, or None


@dataclass(frozen=True, slots=True)
class DeleteFile:
    path: str


Effect = WriteRow | DeleteRow | UpdateLamp | SendEmail | DeleteFile


@dataclass
class Mailboxes:
    """All boxes (`boxes`: number -> box) and their messages; `domain` forms the
    Message-Account URI; `time_zone` is how e-mails state the message's time."""

    boxes: Mapping[str, VoicemailBox]
    domain: str
    time_zone: dt.tzinfo = dt.UTC
    _messages: dict[str, dict[str, MessageRow]] = field(default_factory=dict)

    def load(self, rows: Iterable[MessageRow]) -> None:
        """The store's rows at start-up."""
        for row in rows:
            self._messages.setdefault(row.box, {})[row.message_id] = row

    def messages(self, box: str) -> list[StoredMessage]:
        """The box's messages in arrival order, for `MailboxFlow`."""
        rows = sorted(self._messages.get(box, {}).values(), key=lambda r: r.created_at)
        return [StoredMessage(r.message_id, r.caller, r.path, r.seconds, r.folder)
                for r in rows]

    def count(self, box: str) -> int:
        return len(self._messages.get(box, {}))

    def counts(self, box: str) -> tuple[int, int]:
        """(new, old) as RFC 3842 counts them."""
        rows = self._messages.get(box, {}).values()
        new = sum(1 for r in rows if r.folder is Folder.NEW)
        return new, len(rows) - new

    def boxes_of(self, extension: str) -> list[str]:
        """The boxes whose lamp `extension` shows (its own, and its groups')."""
        return [n for n, b in self.boxes.items() if extension in b.owners]

    def lamp(self, extension: str) -> bytes:
        """The message-summary body for `extension`: its own box's counts plus those of
        the group boxes it belongs to (one lamp on the phone)."""
        new = old = 0
        for box in self.boxes_of(extension):
            n, o = self.counts(box)
            new, old = new + n, old + o
        return message_summary(f"sip:{extension}@{self.domain}", new, old)

    def handle(self, event: object, wall: float) -> list[Effect]:
        if isinstance(event, VoicemailLeft):
            return self._left(event, wall)
        if isinstance(event, VoicemailHeard | VoicemailSaved):
            folder = Folder.OLD if isinstance(event, VoicemailHeard) else Folder.SAVED
            return self._move(event.box, event.message_id, folder)
        if isinstance(event, VoicemailDeleted):
            row = self._messages.get(event.box, {}).pop(event.message_id, None)
            if row is None:
                return []
            return [DeleteRow(row.message_id), DeleteFile(row.path), *self._lamps(row.box)]
        return []

    def _left(self, e: VoicemailLeft, wall: float) -> list[Effect]:
        box = self.boxes.get(e.box)
        if box is None:
            return [DeleteFile(e.path)]  # the box was removed by a reload meanwhile
        row = MessageRow(e.message_id, e.box, e.caller, e.caller_name, e.path, e.seconds,
                         Folder.NEW, wall, e.call_id)
        self._messages.setdefault(e.box, {})[e.message_id] = row
        out: list[Effect] = [WriteRow(row), *self._lamps(e.box)]
        when = dt.datetime.fromtimestamp(wall, self.time_zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        who = f"{e.caller_name} <{e.caller}>" if e.caller_name else e.caller
        minutes, seconds = divmod(int(round(e.seconds)), 60)
        for to in box.emails:
            out.append(SendEmail(
                to=to, subject=f"New voicemail from {who} in box {box.number}",
                body=(f"{box.name},\n\nyou have a new voicemail message in box {box.number}."
                      f"\n\nFrom: {who}\nReceived: {when}\nLength: {minutes}:{seconds:02d}"
                      f"\n\n" + ("The message is attached.\n" if box.attach_audio else
                                 "Dial the voicemail code from your phone to listen.\n")),
                attachment=e.path if box.attach_audio else None))
        return out

    def _move(self, box: str, message_id: str, folder: Folder) -> list[Effect]:
        rows = self._messages.get(box, {})
        row = rows.get(message_id)
        if row is None or row.folder is folder:
            return []
        if folder is Folder.OLD and row.folder is Folder.SAVED:
            return []  # a saved message heard again stays saved
        moved = MessageRow(row.message_id, row.box, row.caller, row.caller_name, row.path,
                           row.seconds, folder, row.created_at, row.call_id)
        rows[message_id] = moved
        return [WriteRow(moved), *self._lamps(box)]

    def _lamps(self, box: str) -> list[Effect]:
        b = self.boxes.get(box)
        if b is None:
            return []
        return [UpdateLamp(owner, self.lamp(owner)) for owner in b.owners]
