"""What a Live Chat visitor sees of the agent: "Show agent info" (omnichannel.md §3.12,
展示客服信息). With ``name`` or ``name_and_avatar`` the visitor sees the real name (and the
avatar) of the agent who handles the chat or the call; otherwise a default agent name and
avatar.

YAML: on a livechat channel ``show_agent_info: none | name | name_and_avatar`` (default
``none``); on an extension ``avatar: <an http(s) URL, or a PNG/JPEG file>``.

Decisions:

* Default ``none``: an agent's real name reaches the public only when an admin chose so.
* "The agent who handles the chat": on an agent's reply, its sender; on the system
  messages the visitor sees (greetings, first reply, session end), the session's owner
  (the extension it is routed to, or the agent who took it over), else the last agent who
  replied (a no-take-over queue), else nobody (the default card). A greeting before any
  session names the channel's extension destination, if it is one. For a call
  (softswitch.webrtc.calls): the extension that answered (an extension destination's
  phone, the queue's agent, the new party after a transfer), or the agent who called.
* The default card: the widget language's "Agent" / "客服" and the switch's built-in avatar
  (``/livechat/avatar.svg``); an agent without an ``avatar`` shows the built-in one.
* ``avatar``: an ``http(s)://`` URL is used as it is (the company's CDN or intranet); a
  file (relative to the configuration file's folder, ``.png``/``.jpg``/``.jpeg``, a PNG or
  JPEG by its content, at most 1 MB) is served by the switch at
  ``/livechat/avatars/{key}``, the key a hash of the extension and the file, so that the
  URL does not disclose the extension number. ``softswitch check`` reports a missing,
  oversized or non-image file, or a malformed URL, at its line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SHOW_AGENT_INFO = ("none", "name", "name_and_avatar")
AVATAR_MAX = 1024 * 1024
DEFAULT_AVATAR = "/livechat/avatar.svg"
AVATARS = "/livechat/avatars"
DEFAULT_NAMES = {"en": "Agent", "zh": "客服"}
SUFFIXES = (".png", ".jpg", ".jpeg")


def image_kind(data: bytes) -> str | None:
    """``png`` or ``jpg`` by the content (the magic numbers), None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    return None


def check_avatar(value: str, config_dir: Path) -> str:
    """An extension's ``avatar`` as the switch keeps it: the URL, or the file's absolute
    path; ValueError with the message for the admin."""
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        if not parts.hostname or len(value) > 2000 or any(c in value for c in ' "<>\\'):
            raise ValueError(f"expected an image URL like https://cdn.example.com/ann.png, "
                             f"got {value[:80]!r}")
        return value
    path = Path(value)
    if not path.is_absolute():
        path = config_dir / path
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"expected a .png, .jpg or .jpeg file (or an http(s) URL), got "
                         f"{value!r}")
    try:
        with path.open("rb") as f:
            head = f.read(AVATAR_MAX + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the avatar {value!r}: {exc.strerror}") from None
    if len(head) > AVATAR_MAX:
        raise ValueError(f"the avatar {value!r} is larger than 1 MB")
    if image_kind(head) is None:
        raise ValueError(f"the avatar {value!r} is not a PNG or JPEG image")
    return str(path.resolve())


def avatar_key(number: str, path: str) -> str:
    return hashlib.sha256(f"{number}\0{path}".encode()).hexdigest()[:32]


class AgentCards:
    """The cards of the agents: ``extension(number)`` the configuration's Extension (the
    one in force, after a reload too) or None."""

    def __init__(self, extension: Callable[[str], Any]) -> None:
        self.extension = extension
        self._files: dict[str, Path] = {}  # the avatar files shown so far, by key

    def card(self, show: str, language: str, agent: str | None) -> dict[str, str]:
        """``{"name", "avatar"}`` as the visitor sees the agent ``agent`` (an extension
        number, None: nobody known) under the channel's ``show_agent_info``."""
        default = {"name": DEFAULT_NAMES.get(language, DEFAULT_NAMES["en"]),
                   "avatar": DEFAULT_AVATAR}
        ext = self.extension(agent) if agent and show != "none" else None
        if ext is None:
            return default
        card = {"name": ext.name, "avatar": DEFAULT_AVATAR}
        avatar = getattr(ext, "avatar", "")
        if show == "name_and_avatar" and avatar:
            if avatar.startswith(("http://", "https://")):
                card["avatar"] = avatar
            else:
                key = avatar_key(ext.number, avatar)
                self._files[key] = Path(avatar)
                card["avatar"] = f"{AVATARS}/{key}"
        return card

    def file(self, key: str) -> Path | None:
        """The avatar file behind ``/livechat/avatars/{key}`` (shown by a card before)."""
        return self._files.get(key)
