"""Agents' replies with a file (omnichannel.md §3.1, §3.2, §3.12): MMS, WhatsApp and
Messenger media, Live Chat images.

    POST /api/v1/messaging/sessions/{id}/files?text=...   the file as the raw body, its
                                                          type as Content-Type
    GET  /messaging/reply-files/{32 hex}.{ext}            the file, for the provider (no
                                                          log-in; the name is unguessable)

Everything that can refuse the reply is checked before the body is read, so a refused file
is neither read nor stored: the session (404 when the caller does not see it, 409 when it is
closed), the channel (SIP MESSAGE carries no files: 409 ``no_files``), the type (415
``unsupported_type``), the declared ``Content-Length`` against the channel's limit (413
``too_large``), the channel's own rules (WhatsApp's and Messenger's windows: 409
``window_closed``). The body is then streamed to a part file in chunks (never held whole in
memory: the API's 64 KiB body limit is for JSON; a file is bounded by its channel's limit,
counted while it streams, 413 and the part deleted past it), its first bytes checked against
the type for images (a "PNG" that is not one is 415), renamed into place, and the reply is
queued with the file's URL as its one media entry (202, like a text reply).

Limits (§3.1): SMS (every provider) and WhatsApp 100 MB, Messenger 25 MB, Live Chat 10 MB
and images only (png, jpg/jpeg, §3.12).

Decisions:

* Types: images (png, jpeg, gif), video (mp4, 3gpp), audio (mpeg, ogg, amr, aac, mp4),
  pdf, plain text; Live Chat: png and jpeg. The file's extension follows its type: the
  Meta adapters choose the attachment type by it (providers.meta.media_type); which types a
  provider really takes is its own (§3.2), and its refusal reaches the agent as for any
  reply ("This message type cannot be sent ...").
* The URL the provider fetches is the address the agent reached the switch at (the upload
  request's scheme and Host), so a switch reachable by its providers is reachable by that
  URL; a Live Chat image is the path alone (the widget resolves it against the switch it
  loaded from).
* Retention 72 hours (§3.2, §3.12): a file older than that answers 404 at once, and an
  hourly sweep on the injected clock deletes it (like Live Chat's visitors' images).
  Except while its message is not yet sent (queued or retried: a provider down for
  days): the file is kept and served until the provider took the message (or refused it
  for good, or it was deleted), then it goes at the next sweep (the 72 hours count from
  the upload, so that sweep deletes it). ``in_use`` gives those files' names (the
  messaging service's outbox, `softswitch.messaging.general.Outbox.media`).
* ``text`` (optional, up to 2000 characters) goes with the file in the same message.
* These files are the agents' replies, apart from the campaigns' (softswitch.messaging
  .campaign_files: ``var/campaign-files``, ``/messaging/files/{hex}/{name}``): here
  ``var/messaging-files`` under the configuration's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from aiohttp import web

from softswitch.clock import Clock, TimerHandle
from softswitch.log import get_logger
from softswitch.messaging.appkey import MESSAGING
from softswitch.messaging.providers import ReplyRefused
from softswitch.messaging.sessions import Refused
from softswitch.web.api import Endpoint, add_routes, principal
from softswitch.web.errors import ApiError

log = get_logger("messaging")

MB = 1024 * 1024
LIMITS = {"sms": 100 * MB, "whatsapp": 100 * MB, "messenger": 25 * MB, "livechat": 10 * MB}
TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "video/mp4": "mp4",
         "video/3gpp": "3gp", "audio/mpeg": "mp3", "audio/ogg": "ogg", "audio/amr": "amr",
         "audio/aac": "aac", "audio/mp4": "m4a", "application/pdf": "pdf",
         "text/plain": "txt"}
LIVECHAT_TYPES = ("image/png", "image/jpeg")
MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
         "image/gif": (b"GIF87a", b"GIF89a"), "application/pdf": (b"%PDF-",)}
RETENTION = 72 * 3600.0
SWEEP_EVERY = 3600.0
CHUNK = 64 * 1024
TEXT_MAX = 2000
PATH = "/messaging/reply-files"
NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{2,4}$")


def _mb(n: int) -> str:
    return f"{n // MB} MB"


class OutboundFiles:
    """The files agents send, under ``directory``, kept ``RETENTION`` seconds."""

    def __init__(self, directory: Path, clock: Clock,
                 in_use: Callable[[], Iterable[str]] = tuple) -> None:
        self.directory = directory
        self.clock = clock
        self.in_use = in_use  # the media URLs of the messages not yet sent
        self._sweeper = HourlySweep(clock, self.sweep)

    def start(self) -> None:
        self._sweeper.start()

    def stop(self) -> None:
        self._sweeper.stop()

    def _kept(self) -> set[str]:
        return {url.rpartition("/")[2] for url in self.in_use() if PATH + "/" in url}

    async def sweep(self) -> list[str]:
        gone = await asyncio.to_thread(expire, self.directory, self.clock.wall(),
                                       keep=self._kept())
        if gone:
            log.info("outbound files expired", files=len(gone))
        return gone

    def path(self, name: str) -> Path | None:
        """The file of that name while it is kept, else None."""
        if not NAME.match(name):
            return None
        target = self.directory / name
        try:
            written = target.stat().st_mtime
        except FileNotFoundError:
            return None
        if written >= self.clock.wall() - RETENTION or name in self._kept():
            return target
        return None

    async def store(self, request: web.Request, name: str, ctype: str, limit: int) -> int:
        """Stream the request's body into ``name``; its size. 413 past ``limit``, 415 when
        an image's (or a PDF's) first bytes are not of its type, 400 when empty; nothing
        is left behind then."""
        part = self.directory / f"{name}.part"
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        out: BinaryIO = await asyncio.to_thread(open, part, "wb")  # noqa: SIM115
        size = 0
        head = b""
        try:
            try:
                async for chunk in request.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, "too_large", f"the file is over this channel's "
                                                         f"limit of {_mb(limit)}", "file")
                    if len(head) < 16:
                        head = (head + chunk)[:16]
                    await asyncio.to_thread(out.write, chunk)
            finally:
                await asyncio.to_thread(out.close)
            if size == 0:
                raise ApiError(400, "invalid_field", "the file is empty", "file")
            magic = MAGIC.get(ctype)
            if magic is not None and not head.startswith(magic):
                raise ApiError(415, "unsupported_type", f"the content is not {ctype}",
                               "Content-Type")
            await asyncio.to_thread(os.replace, part, self.directory / name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(part.unlink)
            raise
        return size

    def discard(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / name).unlink()


class HourlySweep:
    """A retention sweep (``run``) now and every ``SWEEP_EVERY`` seconds after, on the
    injected clock; each run is a task (the file work goes to a thread inside it). Used by
    the agents' reply files here and by Live Chat's visitor images."""

    def __init__(self, clock: Clock, run: Callable[[], Awaitable[object]]) -> None:
        self.clock = clock
        self.run = run
        self._timer: TimerHandle | None = None
        self._tasks: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        self._tick()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = self.clock.call_later(SWEEP_EVERY, self._tick)
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(self._once())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _once(self) -> object:
        return await self.run()


def expire(directory: Path, now: float, keep_seconds: float = RETENTION,
           keep: Iterable[str] = ()) -> list[str]:
    """Delete the files of ``directory`` written more than ``keep_seconds`` before ``now``
    (wall epoch), except those named in ``keep``; their names."""
    kept = set(keep)
    gone: list[str] = []
    if not directory.is_dir():
        return gone
    for f in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if f.is_file() and f.name not in kept and f.stat().st_mtime < now - keep_seconds:
                f.unlink()
                gone.append(f.name)
    return gone


async def send_file(request: web.Request, service: Any, files: OutboundFiles) -> web.Response:
    """``POST /messaging/sessions/{session}/files`` (module docstring)."""
    me = principal(request).extension
    raw = request.match_info["session"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "not_found", f"no session {raw}")
    sid = int(raw)
    unknown = sorted(set(request.query) - {"text"})
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown parameter(s): {', '.join(unknown)}",
                       unknown[0])
    text = request.query.get("text", "")
    if len(text) > TEXT_MAX:
        raise ApiError(400, "invalid_field", f"text is at most {TEXT_MAX} characters", "text")
    await service.recall(sid)  # a closed one is read back: 409 below, not 404
    inbox = service.inbox
    s = inbox.sessions.get(sid)
    if s is None or not inbox.sees(s, me):
        raise ApiError(404, "not_found", f"no session {sid} you can see")
    if not s.open:
        raise ApiError(409, "closed", f"session {sid} is closed")
    channel = service.channels.get(s.channel)
    limit = LIMITS.get(channel.type) if channel is not None else None
    if channel is None or limit is None:
        raise ApiError(409, "no_files", "this channel carries text only")
    ctype = request.content_type
    allowed = LIVECHAT_TYPES if channel.type == "livechat" else tuple(TYPES)
    if ctype not in allowed:
        raise ApiError(415, "unsupported_type", f"Content-Type must be one of "
                                                f"{', '.join(allowed)}, got {ctype!r}",
                       "Content-Type")
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"the file is over this channel's limit of "
                                         f"{_mb(limit)}", "file")
    name = f"{secrets.token_hex(16)}.{TYPES[ctype]}"
    url = f"{PATH}/{name}" if channel.type == "livechat" else \
        f"{request.scheme}://{request.host}{PATH}/{name}"
    try:  # the channel's rules before anything is read
        text, media = service.prepare_reply(sid, text, (url,), None)
    except ReplyRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    size = await files.store(request, name, ctype, limit)
    try:
        m = service.run(lambda inbox, now: inbox.reply(sid, me, text, media, now))
    except Refused as exc:
        files.discard(name)
        raise ApiError(exc.status, exc.code, exc.message) from None
    body = m.as_json()  # as queued: the outbox may deliver it before the commit
    await service.store.flush()
    log.info("file sent", session=sid, agent=me, size=size, type=ctype)
    return web.json_response({"message": body, "file": {
        "url": url, "type": ctype, "size": size,
        "expires": files.clock.wall() + RETENTION}}, status=202)


FILES = web.AppKey("messaging_files", OutboundFiles)


async def upload(request: web.Request) -> web.Response:
    return await send_file(request, request.app[MESSAGING], request.app[FILES])


ENDPOINTS = [Endpoint(
    "POST", "/messaging/sessions/{session}/files", upload,
    "Reply with a file: the raw body, its type as Content-Type (§3.1 limits: SMS and "
    "WhatsApp 100 MB, Messenger 25 MB, Live Chat 10 MB png/jpeg); 202 like a reply",
    query=(("text", "optional text sent with the file (up to 2000 characters)"),),
    tag="messaging")]


def attach(app: web.Application, directory: Path, clock: Clock,
           in_use: Callable[[], Iterable[str]] = tuple) -> OutboundFiles:
    """The upload endpoint and the files' public URL on the switch's app; ``in_use``:
    the media URLs of the messages not yet sent (kept past the 72 hours)."""
    files = OutboundFiles(directory, clock, in_use)
    app[FILES] = files

    async def serve(request: web.Request) -> web.StreamResponse:
        target = files.path(request.match_info["name"])
        if target is None:
            raise web.HTTPNotFound()
        return web.FileResponse(target, headers={"Cache-Control": "private, max-age=3600",
                                                 "X-Content-Type-Options": "nosniff"})

    add_routes(app, ENDPOINTS)
    app.router.add_get(f"{PATH}/{{name}}", serve)

    async def on_startup(app: web.Application) -> None:
        files.start()

    async def on_cleanup(app: web.Application) -> None:
        files.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return files
