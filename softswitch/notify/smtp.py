"""Sending e-mail over SMTP (RFC 5321) without ever blocking a call.

`SmtpSender.send(email)` only queues; one worker task sends in order, each message through
smtplib in a worker thread (so a slow or dead mail server never stalls the event loop). A
failed send is logged and retried ``retries`` more times after growing delays; then it is
logged as dropped.

With an ``outbox`` (the switch's store) every queued message is also written to the
``mail_outbox`` table (migration 8) and deleted once sent or refused for good (a 5xx
answer), so mail the server had not taken when the switch stopped (or crashed), or after
its retries while the server was down, is sent after the next start: the worker first
queues the rows an earlier run left, then the new ones. Attachments are kept
as file paths (the files must still exist then).

``security``: none, starttls (RFC 3207) or tls (implicit TLS, port 465); login only when a
username is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import smtplib
import ssl
import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

from softswitch.clock import Clock, LoopClock, TimerHandle
from softswitch.config import SmtpConfig
from softswitch.log import get_logger

from .messages import Email

log = get_logger("notify")

RETRY_DELAYS = (30.0, 60.0, 120.0, 300.0)
TIMEOUT = 20.0


_OUTBOX_ADD = ("INSERT INTO mail_outbox (mail_uid, recipient, subject, body, attachments,"
               " queued_at) VALUES (?,?,?,?,?,?)")
_OUTBOX_DONE = "DELETE FROM mail_outbox WHERE mail_uid = ?"
_OUTBOX_LEFT = ("SELECT mail_uid, recipient, subject, body, attachments FROM mail_outbox"
                " ORDER BY queued_at, mail_uid")


def _refused_for_good(exc: Exception) -> bool:
    """A permanent SMTP refusal (5xx: unknown recipient, message rejected), which no retry
    or restart changes; anything else (no connection, time-out, 4xx) is worth retrying."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


class Outbox(Protocol):
    """What the sender needs of the store (softswitch.store.RecordStore)."""

    def write(self, sql: str, params: tuple[Any, ...]) -> None: ...

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...


class SmtpSender:
    def __init__(self, config: SmtpConfig, *, retry_delays: Sequence[float] = RETRY_DELAYS,
                 timeout: float = TIMEOUT, outbox: Outbox | None = None,
                 clock: Clock | None = None) -> None:
        """``clock``: the retry timers and the outbox rows' times (softswitch.clock; the
        running loop's by default)."""
        self.config = config
        self.clock = clock or LoopClock()
        self.retry_delays = tuple(retry_delays) or (30.0,)
        self.timeout = timeout
        self.outbox = outbox
        self.sent = 0
        self.dropped = 0
        self.failures = 0  # failed attempts (each retry that fails counts)
        self._queue: asyncio.Queue[tuple[Email, int, str]] = asyncio.Queue()
        self._retrying: set[TimerHandle] = set()
        self._inflight = False
        self._uids: set[str] = set()  # queued by this run (not to be re-read from the outbox)
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="smtp-sender")

    def send(self, email: Email) -> None:
        uid = uuid.uuid4().hex
        self._uids.add(uid)
        if self.outbox is not None:
            self.outbox.write(_OUTBOX_ADD, (uid, email.to, email.subject, email.body,
                                            json.dumps(list(email.attachments)), self.clock.wall()))
        self._queue.put_nowait((email, 0, uid))

    def pending(self) -> int:
        """Messages not yet sent nor dropped: queued, being sent, or waiting to retry."""
        return self._queue.qsize() + len(self._retrying) + int(self._inflight)

    async def _restore(self) -> None:
        if self.outbox is None:
            return
        try:
            rows = await self.outbox.fetch(_OUTBOX_LEFT)
        except Exception as exc:  # noqa: BLE001 - new mail still goes out
            log.error("mail outbox not read", error=repr(exc))
            return
        left = [r for r in rows if r[0] not in self._uids]
        for uid, to, subject, body, attachments in left:
            self._uids.add(uid)
            self._queue.put_nowait((Email(to, subject, body, tuple(json.loads(attachments))),
                                    0, uid))
        if left:
            log.info("e-mail from the outbox queued again", messages=len(left))

    def _done(self, uid: str) -> None:
        self._uids.discard(uid)
        if self.outbox is not None:
            self.outbox.write(_OUTBOX_DONE, (uid,))

    async def _run(self) -> None:
        await self._restore()
        while True:
            email, attempt, uid = await self._queue.get()
            self._inflight = True
            try:
                await asyncio.to_thread(self._deliver, email)
            except Exception as exc:  # noqa: BLE001 - any failure: retry later
                self.failures += 1
                if _refused_for_good(exc):
                    self.dropped += 1
                    self._done(uid)
                    log.error("e-mail refused by the mail server", to=email.to,
                              subject=email.subject, error=repr(exc))
                elif attempt < self.config.retries:
                    delay = self.retry_delays[min(attempt, len(self.retry_delays) - 1)]
                    log.warning("e-mail not sent, will retry", to=email.to,
                                subject=email.subject, attempt=attempt + 1,
                                retry_in_s=delay, error=repr(exc))
                    self._retry_later(email, attempt + 1, delay, uid)
                else:  # the server is down or busy: the outbox keeps it for the next start
                    self.dropped += 1
                    self._uids.discard(uid)
                    log.error("e-mail not sent after retries", to=email.to,
                              subject=email.subject, attempts=attempt + 1, error=repr(exc),
                              kept_for_next_start=self.outbox is not None)
            else:
                self.sent += 1
                self._done(uid)
                log.info("e-mail sent", to=email.to, subject=email.subject)
            finally:
                self._inflight = False
                self._queue.task_done()

    def _retry_later(self, email: Email, attempt: int, delay: float, uid: str) -> None:
        box: list[TimerHandle] = []

        def again() -> None:
            self._retrying.discard(box[0])
            self._queue.put_nowait((email, attempt, uid))

        box.append(self.clock.call_later(delay, again))
        self._retrying.add(box[0])

    def _message(self, email: Email) -> EmailMessage:
        msg = EmailMessage()
        sender = self.config.sender or f"softswitch@{self.config.host}"
        msg["From"] = sender
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or None)
        msg.set_content(email.body)
        for path in email.attachments:
            # read in the sender's worker thread (_deliver), never on the event loop
            data = Path(path).read_bytes()
            maintype, _, subtype = (mimetypes.guess_type(path)[0]
                                    or "application/octet-stream").partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype,
                               filename=Path(path).name)
        return msg

    def _deliver(self, email: Email) -> None:
        c = self.config
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if c.security == "tls":
            client = smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if c.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if c.username:
                client.login(c.username, c.password)
            client.send_message(self._message(email))

    async def close(self, grace: float = 5.0) -> None:
        """Give queued messages ``grace`` seconds, then stop (retries pending are dropped)."""
        with contextlib.suppress(TimeoutError):  # what is left stays in the outbox
            await asyncio.wait_for(self._queue.join(), grace)
        for h in self._retrying:
            h.cancel()
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
