"""The files SMS campaigns send (omnichannel.md §7.3, content type "File" / 文件).

The manual's SMS campaign offers the content types File and Text and describes only Text;
its SMS channel pages say the rest: a file goes out as a multimedia message (MMS) that the
SMS provider downloads "through a link the PBX provides", at most 100 MB, kept 72 hours.
So a campaign file is uploaded to the switch first, ``POST
/api/v1/messaging/campaigns/files?file_name=F`` (the body is the file), stored under
``{config dir}/var/campaign-files/{32 hex digits}/{file name}`` and served without a
log-in at ``/messaging/files/{hex}/{file name}`` (the hex part is random: unguessable);
the campaign then sends that URL to each contact as the message's media.

Decisions:

* The URL's scheme and host are those the admin uploaded through (the switch's address
  as its users reach it, which the provider must reach too: the manual's "the PBX provides
  a link"); behind a proxy, upload through the public name.
* Limits: at most 100 MB (413 beyond, nothing kept), a file name of 1 to 127 characters
  without ``/``, ``\\`` or control characters and not starting with a dot.
* Retention (§3.2's 72 hours, which a scheduled campaign may outlast): a file stays while
  a campaign refers to it; one no campaign refers to is deleted 72 hours after its upload
  (swept at start-up and at each upload, on the injected clock: the upload time is the
  directory's modification time as the clock gave it).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web

from softswitch.log import get_logger
from softswitch.messaging.sessions import Refused

log = get_logger("messaging")

MAX_BYTES = 100 * 1024 * 1024
MAX_NAME = 127
FILES = "/messaging/files"
RETENTION = 72 * 3600.0
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


class FileRefused(Refused):
    """A file refused (bad name, too large, unknown): the API's status and code."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    token: str
    name: str
    size: int
    url: str

    def as_json(self) -> dict[str, object]:
        return {"url": self.url, "name": self.name, "size": self.size}


def check_name(name: str) -> str:
    if not name or len(name) > MAX_NAME or _BAD_NAME.search(name) or name.startswith("."):
        raise FileRefused(400, "file_name", f"the file name must be 1 to {MAX_NAME} "
                                            "characters, without / \\ or control "
                                            "characters, not starting with a dot")
    return name


def parts_of(url: str) -> tuple[str, str] | None:
    """(token, file name) of a campaign file's URL; None for any other URL."""
    path = urlsplit(url).path
    if not path.startswith(FILES + "/"):
        return None
    token, _, name = path[len(FILES) + 1:].partition("/")
    name = unquote(name)
    if not _TOKEN.match(token) or not name or "/" in name:
        return None
    return token, name


class CampaignFiles:
    """The stored files; ``wall()``: the injected clock's wall time."""

    def __init__(self, root: Path, wall: Callable[[], float]) -> None:
        self.root = root
        self.wall = wall

    def path(self, token: str, name: str) -> Path | None:
        if not _TOKEN.match(token):
            return None
        target = self.root / token / name
        return target if target.is_file() and target.parent.parent == self.root else None

    def exists(self, url: str) -> bool:
        parts = parts_of(url)
        return parts is not None and self.path(*parts) is not None

    async def save(self, name: str, chunks: AsyncIterator[bytes], base: str,
                   limit: int = MAX_BYTES) -> StoredFile:
        """Store an upload read from ``chunks``; `FileRefused` (413) past ``limit`` bytes
        (the part written is removed)."""
        check_name(name)
        token = secrets.token_hex(16)
        folder = self.root / token
        await asyncio.to_thread(folder.mkdir, parents=True)
        target = folder / name
        size = 0
        try:
            with target.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise FileRefused(413, "file_size",
                                          f"the file is larger than {limit // 2**20} MB")
                    await asyncio.to_thread(out.write, chunk)
            if size == 0:
                raise FileRefused(400, "file_empty", "the file is empty")
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, folder, True)
            raise
        now = self.wall()
        os.utime(folder, (now, now))
        log.info("campaign file stored", token=token, size=size)
        return StoredFile(token, name, size, f"{base}{FILES}/{token}/{quote(name)}")

    def sweep(self, used: Iterable[str]) -> int:
        """Delete the files no campaign refers to (``used``: the media URLs of every
        campaign) uploaded more than 72 hours ago; how many."""
        if not self.root.is_dir():
            return 0
        keep = {p[0] for p in map(parts_of, used) if p is not None}
        now, gone = self.wall(), 0
        for folder in self.root.iterdir():
            if folder.name in keep or not _TOKEN.match(folder.name):
                continue
            if now - folder.stat().st_mtime > RETENTION:
                shutil.rmtree(folder, ignore_errors=True)
                gone += 1
        return gone

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """``GET /messaging/files/{token}/{name}``: the provider's download (no log-in)."""
        target = self.path(request.match_info["token"], request.match_info["name"])
        if target is None:
            raise web.HTTPNotFound()
        return web.FileResponse(target, headers={"Cache-Control": "private, max-age=3600",
                                                 "X-Content-Type-Options": "nosniff"})
