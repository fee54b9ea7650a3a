"""The General SMS API channel (omnichannel.md §3.9, normative): the provider's webhook into
the switch, the send request out of it, the periodic verification, and the outbox that
retries a provider that cannot take a message now.

Inbound (§3.9.2, §3.9.5): ``POST /api/v1/webhooks/general/{token}``, JSON. With a Secret
configured the ``X-Signature-256: sha256={hex}`` header must be HMAC-SHA256(Secret, raw
body) in lowercase hex (§12.4 decision: HMAC, the recommended reading; an uppercase
signature is refused, the text says "must be all lowercase"). Required:
``data.event_type == "message.received"``, ``data.payload.record_type == "message"``,
``payload.id`` (1-255 chars), ``from.phone_number`` and ``to.phone_number`` in E.164
(``to`` as an object or a one-element array of them, §12.3), ``text`` and/or ``media``
(each with a ``url``), ``received_at`` in ISO 8601. Answers: 204 once the message is
stored, 400 otherwise (bad JSON, wrong content type, a missing or wrong field, a bad
signature, a ``to`` number the channel does not have, and a replayed ``payload.id``: the
message is already stored, nothing is stored twice). Bodies over the API's 64 KiB limit get
aiohttp's 413 before any of this.

Outbound (§3.9.4): ``POST {send_url}`` with ``Authorization: Bearer {api_key}`` and
``{"from", "to", "text"?, "media_urls"?}``; 200 with ``data.id`` is delivered. `classify`
maps every other answer to the agent-facing prompt of §3.9.4's table, and decides whether
it is worth retrying.

Decisions (retry): a message is retried, with back-off 1, 2, 4, ... up to 300 s, while the
provider cannot take it now: no HTTP answer at all (down, refused, timed out), HTTP 5xx or
429 without a PBX-format error, and codes 10006 (too many requests) and 10007 (service
unavailable). It stays ``pending`` with the last prompt shown, and is given up as
``failed`` after ``GIVE_UP`` seconds. Every other failure is final at once (an invalid
number does not become valid). HTTP 403 is final too: for sending it means "third-party
platform service unavailable" (§12.5) but it is an authorisation answer, and retrying it
would hammer a provider that refused us. Pending messages are in the database, so a
restart retries them (softswitch.messaging.store).

Decision (deleted in the chat logs, §8.6): an admin who deletes a session, or an agent's
message of it, in the chat logs cancels what of it is still pending in the outbox
(`Outbox.cancel`): it is never sent, even when the provider comes back, and never retried.
Its row is deleted with the rest (so there is nothing left to mark "failed"; the
cancellation is logged with the message ids). A send already on the wire when the deletion
comes cannot be recalled from the provider; its answer is dropped and it is not retried.

Verification (§3.9.3): ``GET {verify_url}?challenge={random}`` every ``verify_interval``
seconds; the status mapping is `verify_status` (403 is Unauthorized here, §12.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import aiohttp

from softswitch.clock import Clock, TimerHandle
from softswitch.log import get_logger
from softswitch.messaging.config import E164, ChannelConfig

log = get_logger("messaging")

BACKOFF_MAX = 300.0
GIVE_UP = 24 * 3600.0
SEND_TIMEOUT = 10.0
MAX_ID = 255


class Prompt(Enum):
    """§3.9.4: what the agent's client shows for a failed send."""

    SEND_FAILED = "Send failed"
    AUTH_FAILED = "Authentication failed"
    UNAVAILABLE = "Third-party platform service unavailable"
    INVALID_NUMBER = "Invalid number"
    INVALID_PARAM = "Invalid parameter"
    MEDIA_RESTRICTED = ("This message type cannot be sent due to third-party platform "
                        "restrictions")
    TOO_FREQUENT = "Operation too frequent, please try again later"
    TOO_LARGE = "File size exceeds the third-party platform limit"


CODE_PROMPTS = {
    "10001": Prompt.INVALID_NUMBER, "10002": Prompt.INVALID_PARAM,
    "10003": Prompt.MEDIA_RESTRICTED, "10004": Prompt.AUTH_FAILED,
    "10005": Prompt.AUTH_FAILED, "10006": Prompt.TOO_FREQUENT, "10007": Prompt.UNAVAILABLE,
    "10008": Prompt.TOO_LARGE,
}
RETRY_CODES = frozenset({"10006", "10007"})


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str | None  # set when delivered
    prompt: str = ""  # the agent-facing text of a failure
    retry: bool = False


def _errors(body: bytes) -> list[dict[str, Any]] | None:
    """The PBX-format ``errors`` array of a body, None when the body is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list) or not errors or \
            not all(isinstance(e, dict) and isinstance(e.get("code"), str) for e in errors):
        return None
    return errors


def classify(status: int | None, body: bytes) -> SendResult:
    """One answer to a send request (None: no HTTP answer at all), §3.9.4."""
    if status is None:
        return SendResult(None, Prompt.UNAVAILABLE.value, retry=True)
    if status == 200:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        inner = data.get("data") if isinstance(data, dict) else None
        pid = inner.get("id") if isinstance(inner, dict) else None
        if isinstance(pid, str) and pid:
            return SendResult(pid)
        return SendResult(None, Prompt.SEND_FAILED.value)
    if status == 401:
        return SendResult(None, Prompt.AUTH_FAILED.value)
    if status == 403:
        return SendResult(None, Prompt.UNAVAILABLE.value)
    if status == 404:
        return SendResult(None, Prompt.SEND_FAILED.value)
    errors = _errors(body)
    if errors is not None:
        first = errors[0]
        code = first["code"]
        prompt = CODE_PROMPTS.get(code)
        if prompt is not None:
            return SendResult(None, prompt.value, retry=code in RETRY_CODES)
        detail = first.get("detail") or first.get("title") or code
        return SendResult(None, f"{Prompt.SEND_FAILED.value}: {detail}")
    return SendResult(None, Prompt.SEND_FAILED.value, retry=status >= 500 or status == 429)


class ChannelStatus(Enum):
    """§3.9.3 / §2.5."""

    UNKNOWN = "unknown"  # not verified (yet, or no verify_url)
    CONNECTED = "connected"
    UNAUTHORIZED = "unauthorized"
    SERVICE_UNAVAILABLE = "service_unavailable"
    UNKNOWN_SOURCE = "unknown_source"
    REQUEST_FAILED = "request_failed"


def verify_status(status: int | None, body: bytes, challenge: str) -> ChannelStatus:
    if status is None:
        return ChannelStatus.REQUEST_FAILED
    if status == 200:
        return (ChannelStatus.CONNECTED if body == challenge.encode()
                else ChannelStatus.UNAUTHORIZED)
    if status in (401, 403, 404):
        return ChannelStatus.UNAUTHORIZED
    if status == 500:
        return ChannelStatus.SERVICE_UNAVAILABLE
    if _errors(body) is not None:
        return ChannelStatus.UNKNOWN_SOURCE
    return ChannelStatus.REQUEST_FAILED


# --- inbound -----------------------------------------------------------------------------


class WebhookError(Exception):
    """A refused webhook (400): the reason is logged and returned."""


@dataclass(frozen=True, slots=True)
class Inbound:
    provider_id: str
    source: str  # the customer
    to: str  # the channel number
    text: str
    media: tuple[str, ...]
    received_at: str


_SIG = re.compile(r"^sha256=([0-9a-f]{64})$")


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if header is None:
        return False
    match = _SIG.match(header.strip())
    if match is None:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1))


def sign(secret: str, body: bytes) -> str:
    """The header value a provider sends (tests, and the fake providers)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _number(value: object, where: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("phone_number"), str):
        raise WebhookError(f"{where}.phone_number is required")
    number = str(value["phone_number"])
    if not E164.match(number):
        raise WebhookError(f"{where}.phone_number must be E.164, got {number!r}")
    return number


def parse_webhook(body: bytes) -> Inbound:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError("the body is not JSON") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise WebhookError("data is required")
    if data.get("event_type") != "message.received":
        raise WebhookError("data.event_type must be message.received")
    p = data.get("payload")
    if not isinstance(p, dict):
        raise WebhookError("data.payload is required")
    if p.get("record_type") != "message":
        raise WebhookError("data.payload.record_type must be message")
    pid = p.get("id")
    if not isinstance(pid, str) or not 1 <= len(pid) <= MAX_ID:
        raise WebhookError(f"data.payload.id must be a string of 1 to {MAX_ID} characters")
    source = _number(p.get("from"), "data.payload.from")
    to_raw = p.get("to")
    if isinstance(to_raw, list):
        if len(to_raw) != 1:
            raise WebhookError("data.payload.to must name one number")
        to_raw = to_raw[0]
    to = _number(to_raw, "data.payload.to")
    text = p.get("text")
    if text is not None and not isinstance(text, str):
        raise WebhookError("data.payload.text must be a string")
    media_raw = p.get("media")
    media: list[str] = []
    if media_raw is not None:
        if not isinstance(media_raw, list):
            raise WebhookError("data.payload.media must be a list")
        for i, item in enumerate(media_raw):
            url = item.get("url") if isinstance(item, dict) else None
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise WebhookError(f"data.payload.media[{i}].url must be an http(s) URL")
            media.append(url)
    if not text and not media:
        raise WebhookError("data.payload needs text or media")
    received = p.get("received_at")
    try:
        if not isinstance(received, str):
            raise ValueError
        datetime.fromisoformat(received)
    except ValueError:
        raise WebhookError("data.payload.received_at must be an ISO 8601 time") from None
    return Inbound(pid, source, to, text or "", tuple(media), received)


# --- outbound ----------------------------------------------------------------------------


class GeneralSmsClient:
    """Requests to one channel's provider (one aiohttp session per channel)."""

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self._http: aiohttp.ClientSession | None = None
        self.status = ChannelStatus.UNKNOWN

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT),
                headers={"Authorization": f"Bearer {self.config.api_key}"})
        return self._http

    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult:
        body: dict[str, Any] = {"from": source, "to": to}
        if text:
            body["text"] = text
        if media:
            body["media_urls"] = list(media)
        try:
            async with self._session().post(self.config.send_url, json=body) as resp:
                return classify(resp.status, await resp.read())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("provider unreachable", channel=self.config.name, error=repr(exc))
            return classify(None, b"")

    async def verify(self) -> ChannelStatus:
        assert self.config.verify_url is not None
        challenge = secrets.token_urlsafe(24)
        try:
            async with self._session().get(self.config.verify_url,
                                           params={"challenge": challenge}) as resp:
                self.status = verify_status(resp.status, await resp.read(), challenge)
        except (aiohttp.ClientError, TimeoutError, OSError):
            self.status = verify_status(None, b"", challenge)
        return self.status

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


@dataclass(eq=False)
class Job:
    message: int
    session: int
    channel: str
    source: str
    to: str
    text: str
    media: tuple[str, ...]
    first_try: float  # monotonic
    attempts: int = 0


Deliver = Callable[[Job], Awaitable[SendResult]]
Done = Callable[[Job, SendResult, bool], None]  # (job, result, final)


class Outbox:
    """Outbound messages in order of their next attempt, sent one at a time per switch,
    each channel at most at its send rate, retried with back-off on the injected clock (its
    timers wake the worker)."""

    def __init__(self, deliver: Deliver, done: Done, clock: Clock,
                 interval: Callable[[str], float] = lambda channel: 0.0) -> None:
        self._deliver = deliver
        self._done = done
        self._clock = clock
        # §2.4.1: at least this many seconds between two sends of a channel (1 / its
        # send_rate); more is queued, never dropped
        self._interval = interval
        self._next_slot: dict[str, float] = {}
        self._heap: list[tuple[float, int, Job]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._timer: TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending: Job | None = None  # the job on the wire
        self._cancelled: set[int] = set()  # message ids cancelled while on the wire

    def add(self, job: Job, due: float | None = None) -> None:
        heapq.heappush(self._heap, (self._clock.monotonic() if due is None else due,
                                    next(self._order), job))
        self._wake.set()

    def __len__(self) -> int:
        return len(self._heap)

    def media(self) -> set[str]:
        """The media URLs of the messages not yet sent (queued, waiting for a retry, or on
        the wire): the files they refer to must stay (softswitch.messaging.files)."""
        jobs = [job for _, _, job in self._heap]
        if self._sending is not None:
            jobs.append(self._sending)
        return {url for job in jobs for url in job.media}

    def cancel(self, session: int, messages: frozenset[int] | None = None) -> list[int]:
        """Drop the session's pending jobs (``messages`` None) or these messages' of it
        (see the module's decision): the message ids cancelled, in-flight ones included."""
        def hit(job: Job) -> bool:
            return job.session == session and (messages is None or job.message in messages)

        gone = [job.message for _, _, job in self._heap if hit(job)]
        if gone:
            self._heap = [entry for entry in self._heap if not hit(entry[2])]
            heapq.heapify(self._heap)
        if self._sending is not None and hit(self._sending):
            self._cancelled.add(self._sending.message)
            gone.append(self._sending.message)
        if gone:
            log.info("outbound messages cancelled", session=session, messages=sorted(gone))
        return gone

    @property
    def sending(self) -> Job | None:
        """The job whose request is on the wire now, if any."""
        return self._sending

    @property
    def slots(self) -> dict[str, float]:
        """Each channel's next free send slot (monotonic), shared with the campaigns'
        sender (softswitch.messaging.campaigns) so that both together keep the rate."""
        return self._next_slot

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sms-outbox")

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._heap and self._heap[0][0] <= self._clock.monotonic():
                _, _, job = heapq.heappop(self._heap)
                slot = self._next_slot.get(job.channel, float("-inf"))
                if slot > self._clock.monotonic():
                    heapq.heappush(self._heap, (slot, next(self._order), job))
                    continue
                self._next_slot[job.channel] = self._clock.monotonic() + \
                    self._interval(job.channel)
                job.attempts += 1
                self._sending = job
                try:
                    result = await self._deliver(job)
                except Exception as exc:  # noqa: BLE001 - a bug must not stop the outbox
                    log.exception("send failed", error=repr(exc))
                    result = SendResult(None, Prompt.SEND_FAILED.value)
                finally:
                    self._sending = None
                if job.message in self._cancelled:  # deleted meanwhile: not retried
                    self._cancelled.discard(job.message)
                    continue
                now = self._clock.monotonic()
                if result.retry and now - job.first_try < GIVE_UP:
                    delay = min(2.0 ** (job.attempts - 1), BACKOFF_MAX)
                    heapq.heappush(self._heap, (now + delay, next(self._order), job))
                    self._done(job, result, False)
                else:
                    self._done(job, result, True)
            if self._heap:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self._clock.call_at(self._heap[0][0], self._wake.set)
