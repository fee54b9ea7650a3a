"""What a queue caller hears, as prompt-id lists for `media.PromptLibrary.sequence`
(spec/queue-admin.md §2.5 Prompts, §4.2 callback, §11.1 destinations).

Decisions:
- A queue's prompt names (``join_announcement``, ``queue_announcement``, an agent
  announcement, a ``prompt`` destination, a holiday prompt) are looked up as
  ``<queue language>/<name>`` in the prompt library first, then as a full library id
  (``en/welcome-to-queue``), then as a WAV file path (absolute, or relative to the configured
  prompts directory). A name found nowhere is logged and skipped: the caller keeps waiting
  with music rather than losing the call over a missing recording.
- Position announcements say "you are caller number N" (position), then "your estimated
  wait time is about N minutes" (estimated wait, rounded up to minutes; not said when the
  ACD has nothing to base it on), then "thank you for your patience", in that order.
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


def resolve_prompt(library: PromptLibrary, name: str, lang: str,
                   prompts_dir: Path | None = None) -> Prompt | None:
    """The recording a configured prompt name stands for (see the module docstring)."""
    if not name:
        return None
    for pid in (f"{lang}/{name}", name):
        if library.has(pid):
            return library.get(pid)
    for path in (Path(name), (prompts_dir / name) if prompts_dir else None):
        if path is not None and path.suffix.lower() == ".wav" and path.is_file():
            try:
                return load_wav(path, name)
            except (PromptError, OSError, ValueError):
                return None
    return None
