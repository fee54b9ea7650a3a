"""Call recording: one WAV per call, one channel per leg (caller left, agent right).

Sans-IO core: :class:`ChannelRecorder` takes each leg's received frames as they arrive and,
once per 20 ms tick, takes one frame per channel (silence when a leg sent nothing, so the
channels stay aligned in time) and appends the interleaved frame. Writing is buffered and
flushed about once a second; ``close()`` finalises the WAV header.

Decision: each channel holds what that party SAID (their received RTP), not what they heard;
prompts and music the switch played are not in the recording.

Decision (pause/resume recording, manual queue-manager-agent §4.6): while paused the file
gets silence, so the recording keeps the call's timeline and a listener hears where it was
paused; nothing said meanwhile is stored, not even in a buffer.
"""

from __future__ import annotations

import contextlib
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from media.frames import FRAME, FrameQueue


class RecordingError(Exception):
    """The recording file cannot be written."""


class ChannelRecorder:
    def __init__(self, path: str | Path, channels: int, flush_every: int = 50) -> None:
        if channels < 1:
            raise RecordingError("a recording needs at least one channel")
        self.path = Path(path)
        self.channels = channels
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._wav = wave.open(str(self.path), "wb")
        except OSError as exc:
            raise RecordingError(f"cannot write recording {self.path}: {exc}") from exc
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(8000)
        self._queues = [FrameQueue() for _ in range(channels)]
        self._pending: list[bytes] = []
        self._flush_every = flush_every
        self.frames_written = 0
        self.closed = False
        self.paused = False

    def push(self, channel: int, frame: npt.NDArray[np.int16]) -> None:
        """Audio received from the leg of ``channel`` (any packet length)."""
        self._queues[channel].push(frame)

    def tick(self) -> None:
        """Append one 20 ms frame per channel."""
        if self.closed:
            return
        block = np.zeros((FRAME, self.channels), dtype="<i2")
        for c, q in enumerate(self._queues):
            frame = q.pop()
            if frame is not None and not self.paused:
                block[:, c] = frame
        self._pending.append(block.tobytes())
        self.frames_written += 1
        if len(self._pending) >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if self._pending and not self.closed:
            try:
                self._wav.writeframes(b"".join(self._pending))
            except OSError as exc:
                raise RecordingError(f"writing {self.path}: {exc}") from exc
            self._pending.clear()

    @property
    def duration(self) -> float:
        return self.frames_written * FRAME / 8000

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        except RecordingError:
            self.abandon()
            raise
        self.closed = True
        self._wav.close()

    def abandon(self) -> None:
        """After a write failure: drop what is pending, close the file with what it has
        (its header sizes are fixed up as far as the disk allows), record nothing more."""
        self._pending.clear()
        self.closed = True
        with contextlib.suppress(Exception):
            self._wav.close()
