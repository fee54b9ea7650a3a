"""E-mail notifications (queue-admin.md §2.4 agent auto-pause, §7.2 queue notifications).
`messages` decides (sans-IO), `smtp` sends (async, retried, never blocking a call);
`MailNotifications` subscribes the two to the switch's event bus."""

from __future__ import annotations

import time
from typing import Any

from softswitch.config import Config
from softswitch.events import EventBus, Subscription

from .messages import Email, Person, QueueMail
from .smtp import SmtpSender

__all__ = ["Email", "MailNotifications", "Person", "QueueMail", "SmtpSender"]


class MailNotifications:
    """Every event on ``bus`` -> `QueueMail` -> `SmtpSender`. Built only when the config has
    an ``smtp`` section (`from_config` returns None otherwise)."""

    def __init__(self, bus: EventBus, mail: QueueMail, sender: SmtpSender) -> None:
        self.mail = mail
        self.sender = sender
        self._sub: Subscription | None = bus.subscribe(self.handle)

    @classmethod
    def from_config(cls, bus: EventBus, config: Config, monotonic_now: float,
                    **sender_options: Any) -> MailNotifications | None:
        """``sender_options`` go to `SmtpSender` (``outbox``: the store, so unsent mail
        survives a restart)."""
        if config.smtp is None:
            return None
        people = {e.number: Person(e.number, e.name, e.email) for e in config.extensions}
        queues = config.acd.queues if config.acd is not None else ()
        clock = sender_options.get("clock")
        wall = clock.wall() if clock is not None else time.time()
        mail = QueueMail(queues, people, wall - monotonic_now)
        return cls(bus, mail, SmtpSender(config.smtp, **sender_options))

    def reconfigure(self, config: Config) -> None:
        """A reload: queue managers, notification settings and people's e-mail addresses
        follow the new configuration (the SMTP server itself needs a restart)."""
        self.mail.queues = {q.number: q for q in (config.acd.queues if config.acd else ())}
        self.mail.people = {e.number: Person(e.number, e.name, e.email)
                            for e in config.extensions}

    def handle(self, event: object) -> None:
        for email in self.mail.handle(event):
            self.sender.send(email)

    async def close(self) -> None:
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None
        await self.sender.close()
