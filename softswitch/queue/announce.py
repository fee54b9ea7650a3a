"""What a queue caller hears, as prompt-id lists for `media.PromptLibrary.sequence`
(spec/queue-admin.md §2.5 Prompts, §4.2 callback, §11.1 destinations).

Decisions:
- A queue's prompt names (``join_announcement``, ``queue_announcement``, an agent
  announcement, a ``prompt`` destination, a holiday prompt, the satisfaction survey's
  prompts) are looked up as ``<queue language>/<name>`` in the prompt library first, then
  as a full library id (``en/welcome-to-queue``), then as a WAV file path (absolute, or
  relative to the configured prompts directory): :func:`find_prompt`, the one home of these
  rules, which `softswitch check` also applies (a config naming a prompt found nowhere is
  refused there). A name found nowhere at run time (a file removed since) is logged and
  skipped: the caller keeps waiting with music rather than losing the call.
- Music names (``ringback_tone``, ``hold_music``) are ``moh/<name>`` in the library, or
  ``ringback``: :func:`music_exists`.
- The position announcement says how many callers are AHEAD of the caller, as the manual
  words it (§2.5 播报当前等待位置: 前方等待人数): "there are currently N callers ahead of
  you" / "您前面还有N位来电者在等待"; one ahead: "there is one caller ahead of you". The
  caller first in line (position 1, nobody ahead) hears Asterisk's "your call is now first
  in line and will be answered by the next available representative" / "您已排在第一位，
  下一位空闲坐席将为您接听" rather than "zero callers ahead".
- Announcement order: callers ahead, then "the estimated hold time is currently N
  minutes" (estimated wait, rounded up to minutes; not said when the ACD has nothing to
  base it on), then "thank you for your patience".
"""

from __future__ import annotations

from pathlib import Path

from media.player import (
    Prompt,
    PromptError,
    PromptLibrary,
    announce_agent_id,
    announce_position,
    announce_wait,
    load_wav,
    say_digits,
)
from softswitch.apps.music import RINGBACK_MUSIC

Part = str | list[str] | Prompt


def position_parts(position: int | None, estimated_wait: float | None, thank_you: bool,
                   lang: str) -> list[Part]:
    parts: list[Part] = []
    if position is not None and position >= 1:
        parts.append(announce_position(position, lang))
    if estimated_wait is not None and estimated_wait > 0:
        parts.append(announce_wait(estimated_wait, lang))
    if thank_you:
        parts.append("thank-you-for-patience")
    return parts


def callback_confirm_parts(number: str, lang: str) -> list[Part]:
    """"Your callback number is 1 0 0 2. Press 1 to confirm or 2 to change." (or, without a
    usable number, "Please enter your callback number, followed by the pound key.")"""
    if not number.isdigit():
        return ["enter-callback-number"]
    return ["callback-number-confirm-prefix", say_digits(number, lang),
            "press-1-to-confirm-or-2-to-change"]


def agent_id_parts(agent_id: str, lang: str) -> list[Part]:
    try:
        return [announce_agent_id(agent_id, lang)]
    except PromptError:
        return []




def music_exists(library: PromptLibrary, name: str) -> bool:
    """Whether a ``ringback_tone`` / ``hold_music`` name stands for something to play."""
    return name in ("", *RINGBACK_MUSIC) or library.has(f"moh/{name}")


def find_prompt(library: PromptLibrary, name: str, lang: str,
                prompts_dir: Path | None = None) -> str | Path | None:
    """The library id or the WAV file a configured prompt name stands for (see the module
    docstring), or None when it stands for nothing."""
    if not name:
        return None
    for pid in (f"{lang}/{name}", name):
        if library.has(pid):
            return pid
    for path in (Path(name), (prompts_dir / name) if prompts_dir else None):
        if path is not None and path.suffix.lower() == ".wav" and path.is_file():
            return path
    return None


def resolve_prompt(library: PromptLibrary, name: str, lang: str,
                   prompts_dir: Path | None = None) -> Prompt | None:
    """The recording a configured prompt name stands for (see the module docstring)."""
    found = find_prompt(library, name, lang, prompts_dir)
    try:
        if isinstance(found, str):
            return library.get(found)
        if found is not None:
            return load_wav(found, name)
    except (PromptError, OSError, ValueError):
        return None
    return None
