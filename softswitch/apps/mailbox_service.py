"""The asyncio shell of the voicemail boxes: the bus's voicemail events in, rows, lamps,
e-mail and file deletions out. Everything that decides is `softswitch.apps.mailbox`.

Wiring (softswitch.app): `MailboxService.open(...)` loads the boxes' rows at start-up, then
subscribes to the bus; `lamp(extension, body)` is the presence seam (NOTIFY to the
subscriptions of that extension's lamp, or an unsolicited NOTIFY to its contacts when none
is subscribed); `mail` sends e-mail (softswitch.notify.SmtpSender) or is None without SMTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from typing import Protocol

from softswitch.apps.events import (
    VoicemailDeleted,
    VoicemailHeard,
    VoicemailLeft,
    VoicemailSaved,
)
from softswitch.apps.mailbox import (
    DeleteFile,
    DeleteRow,
    Effect,
    Mailboxes,
    SendEmail,
    UpdateLamp,
    WriteRow,
)
from softswitch.apps.voicemail import VoicemailBox
from softswitch.events import EventBus, Subscription
from softswitch.log import get_logger
from softswitch.notify.messages import Email
from softswitch.store import Store
from softswitch.store.voicemail import delete_message, load_messages, save_message

log = get_logger("voicemail")

EVENTS = (VoicemailLeft, VoicemailHeard, VoicemailSaved, VoicemailDeleted)


class MailSender(Protocol):
    """What the service needs of `softswitch.notify.SmtpSender`."""

    def send(self, email: Email) -> None: ...


class MailboxService:
    def __init__(self, mailboxes: Mailboxes, bus: EventBus, store: Store,
                 lamp: Callable[[str, bytes], None], mail: MailSender | None,
                 wall: Callable[[], float]) -> None:
        self.mailboxes = mailboxes
        self.store = store
        self._lamp = lamp
        self._mail = mail
        self._wall = wall
        self._sub: Subscription | None = bus.subscribe(self.handle, *EVENTS)

    @classmethod
    async def open(cls, boxes: Mapping[str, VoicemailBox], domain: str, bus: EventBus,
                   store: Store, lamp: Callable[[str, bytes], None], mail: MailSender | None,
                   wall: Callable[[], float]) -> MailboxService:
        mailboxes = Mailboxes(boxes, domain)
        mailboxes.load(await load_messages(store))
        return cls(mailboxes, bus, store, lamp, mail, wall)

    def lamps(self) -> dict[str, bytes]:
        """Every owner's lamp body (to light phones at start-up and on registration)."""
        owners = {o for box in self.mailboxes.boxes.values() for o in box.owners}
        return {o: self.mailboxes.lamp(o) for o in sorted(owners)}

    def handle(self, event: object) -> None:
        for effect in self.mailboxes.handle(event, self._wall()):
            self._apply(effect)

    def _apply(self, effect: Effect) -> None:
        if isinstance(effect, WriteRow):
            save_message(self.store, effect.row)
        elif isinstance(effect, DeleteRow):
            delete_message(self.store, effect.message_id)
        elif isinstance(effect, UpdateLamp):
            self._lamp(effect.extension, effect.body)
        elif isinstance(effect, SendEmail):
            if self._mail is not None:
                self._mail.send(Email(effect.to, effect.subject, effect.body,
                                      (effect.attachment,) if effect.attachment else ()))
        elif isinstance(effect, DeleteFile):
            asyncio.get_running_loop().run_in_executor(None, _unlink, effect.path)

    def close(self) -> None:
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    log.info("voicemail file deleted", path=path)
