"""Call recording hook (issue 3 "Recorder: WAV per call, caller and agent on separate
channels, path recorded with the call"; DESIGN.md "records every call and chat").

Both call paths use one :class:`CallRecordings`: the B2BUA when an extension call is
answered, the queue-call shell when the caller is bridged to the agent, when a callback's
customer answers the agent (kind "queue": the customer left, the agent right, the queue
row's ``recording``), and when a queue caller sent to an extension (key press, failover) is
answered there (kind "extension": the caller's CDR row names the file). ``start`` opens
``<path>/<YYYY>/<MM>/<DD>/<call-id-safe>.wav`` through ``MediaEngine.record`` (channel 1 =
left = caller, channel 2 = right = callee / agent; each channel is what that party said,
media.recorder) and returns the path the call's CDR row (``cdr.recording``) and queue report
row (``queue_calls.recording``, through the :class:`RecordingStarted` event) carry. ``stop``
closes the file at hang-up; ``close_all`` at shutdown (SIGTERM).

Decisions:
- The date directories are the wall-clock (local time) date of the ANSWER, so a call over
  midnight is filed under the day it was answered.
- ``call-id-safe``: the caller's Call-ID with every character other than ``A-Za-z0-9._-``
  replaced by ``_`` (``@`` and ``/`` would make a path), cut to 120 characters; a name
  already used (a Call-ID re-used by a later call, RFC 3261 allows one after the first ends)
  gets ``-2``, ``-3``... so an earlier recording is never overwritten.
- A recording that cannot be opened or written is logged once (``recording failed``) and
  the call goes on without it; the row's ``recording`` is then NULL (not opened) or still
  names the file, which keeps what was written before the failure (disk full mid-call).
  A write failure mid-call is contained by the media engine (``media.engine.Recording``):
  that recording ends, logged once, and the media clock goes on for every other call.
- Recording starts at the answer (what the parties say from then on); ringing, queue
  prompts and music before it are not recorded.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from softswitch.clock import Clock
from softswitch.log import get_logger

log = get_logger("recording")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME = 120


@dataclass(frozen=True, slots=True)
class RecordingConfig:
    """The top-level ``recording`` section (softswitch.config)."""

    enabled: bool = True
    path: str = "var/recordings"  # made absolute against the config file's directory
    extensions: bool = True  # extension-to-extension calls
    queues: bool = True  # queue calls (caller and the agent who answered)


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    """A call's recording file was opened (published on the switch's event bus; the queue
    report rows store ``path`` in ``queue_calls.recording``). ``task`` is the caller's
    Call-ID, ``queue`` the queue number ("" for an extension call)."""

    at: float
    task: str
    queue: str
    path: str


@dataclass(frozen=True, slots=True)
class RecordingChanged:
    """A running recording was paused (``state`` "paused") or resumed ("recording"), on the
    switch's event bus: the live feed's ``call.recording`` delta (queue-manager-agent.md
    §3.3.3 recording icon). ``task`` and ``queue`` as in RecordingStarted."""

    at: float
    task: str
    queue: str
    state: str


def safe_name(call_id: str) -> str:
    """A file name (without extension) for a Call-ID (see the module docstring)."""
    name = _UNSAFE.sub("_", call_id)[:MAX_NAME].strip(".")
    return name or "call"


class CallRecorder(Protocol):
    """The seam the call shells (the B2BUA, the queue controller) record through."""

    def start(self, kind: str, key: str, caller_leg: Any, callee_leg: Any, *,
              queue: str = "", at: float | None = None) -> str | None: ...

    def stop(self, key: str) -> None: ...


class CallRecordings:
    """The recordings of all running calls, keyed by the caller's Call-ID."""

    def __init__(self, media: Any, config: RecordingConfig, *, clock: Clock,
                 events: Any = None) -> None:
        self.media = media
        self.config = config
        self.events = events
        self.clock = clock  # its wall time names the date directories (softswitch.clock)
        self._active: dict[str, Any] = {}  # key -> media.Recording
        self._queue: dict[str, str] = {}  # key -> its queue ("" for an extension call)
        self._paths: set[Path] = set()  # their files (a new name must not reuse one)
        self._sweep_at = 64  # len(_active) that triggers the next sweep of finished ones

    def wanted(self, kind: str) -> bool:
        """``kind``: "extension" or "queue"."""
        c = self.config
        return c.enabled and (c.extensions if kind == "extension" else c.queues)

    def path_for(self, call_id: str) -> Path:
        day = time.localtime(self.clock.wall())
        folder = Path(self.config.path) / f"{day.tm_year:04d}" / f"{day.tm_mon:02d}" / \
            f"{day.tm_mday:02d}"
        base = safe_name(call_id)
        path = folder / f"{base}.wav"
        n = 1
        while path in self._paths or path.exists():
            n += 1
            path = folder / f"{base}-{n}.wav"
        return path

    def start(self, kind: str, key: str, caller_leg: Any, callee_leg: Any, *,
              queue: str = "", at: float | None = None, force: bool = False) -> str | None:
        """Record ``caller_leg`` (left) and ``callee_leg`` (right) until ``stop(key)`` or
        until either leg closes. Returns the file's path, or None (disabled for ``kind``,
        or the file cannot be opened: logged, the call goes on). ``force``: record although
        the configuration does not record ``kind`` calls (a start from the live API; a
        switch whose recording is not ``enabled`` records nothing)."""
        wanted = self.wanted(kind) or (force and self.config.enabled)
        if not wanted or caller_leg is None or callee_leg is None:
            return None
        if key in self._active:
            self.stop(key)
        # files the media engine already finished (a leg closed) on a path that never
        # called stop(): forgotten here, so nothing accumulates over months of calls. The
        # sweep runs when the table doubled since the last one: O(1) per call on average.
        if len(self._active) >= self._sweep_at:
            for done in [k for k, r in self._active.items() if not r.active]:
                self._paths.discard(self._active.pop(done).path)
                self._queue.pop(done, None)
            self._sweep_at = max(64, 2 * len(self._active))
        try:
            path = self.path_for(key)
            rec = self.media.record([caller_leg, callee_leg], path)
        except Exception as exc:  # noqa: BLE001 - never break a call over its recording
            log.error("recording failed", call_id=key, error=str(exc))
            return None
        self._active[key] = rec
        self._queue[key] = queue
        self._paths.add(rec.path)
        log.debug("recording started", call_id=key, path=str(path))  # "finished" has it all
        if self.events is not None:
            self.events.publish(RecordingStarted(self.clock.monotonic() if at is None else at,
                                                 key, queue, str(path)))
        return str(path)

    def stop(self, key: str) -> None:
        """Finish the WAV of ``key`` (idempotent). Synchronous: the file is complete when this
        returns, before the legs close."""
        rec = self._active.pop(key, None)
        self._queue.pop(key, None)
        if rec is None:
            return
        self._paths.discard(rec.path)
        if not rec.active:
            return
        rec.close()  # synchronous; a failing last write is logged by the media engine
        if rec.error is not None:
            return
        log.info("recording finished", call_id=key, path=str(rec.path),
                 seconds=round(rec.duration, 2))

    def state(self, key: str) -> str | None:
        """"recording", "paused", or None (no running recording of ``key``)."""
        rec = self._active.get(key)
        if rec is None or not rec.active:
            return None
        return "paused" if rec.paused else "recording"

    def pause(self, key: str) -> bool:
        """Pause the running recording of ``key`` (the file gets silence meanwhile, as
        media.recorder writes a paused channel; queue-manager-agent §4.6)."""
        rec = self._active.get(key)
        if rec is None or not rec.active:
            return False
        rec.pause()
        self._changed(key, "paused")
        return True

    def resume(self, key: str) -> bool:
        rec = self._active.get(key)
        if rec is None or not rec.active:
            return False
        rec.resume()
        self._changed(key, "recording")
        return True

    def _changed(self, key: str, state: str) -> None:
        if self.events is not None:
            self.events.publish(RecordingChanged(self.clock.monotonic(), key,
                                                 self._queue.get(key, ""), state))

    def active(self) -> list[str]:
        return [k for k, r in self._active.items() if r.active]

    def close_all(self) -> None:
        """Shutdown (SIGTERM): finish every open file."""
        for key in list(self._active):
            self.stop(key)
