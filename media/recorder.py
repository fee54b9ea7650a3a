"""Call recording: one WAV per call, one channel per leg (caller left, agent right).

Core: :class:`ChannelRecorder` takes each leg's received audio as it arrives (G.711 payloads
as received, `push_payload`, or linear frames, `push`) and, once per 20 ms tick, takes one
frame per channel (silence when a leg sent nothing, so the channels stay aligned in time).
About once a second (`flush`) the ticks taken so far are decoded, a channel with one lookup,
interleaved and written; ``close()`` writes the rest and finalises the WAV header. Work per
packet and per tick is a few Python operations (benchmarks/recording.py: 7-11 us per
recorded call per tick before, 3-4 us after, measured back to back).

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

from media import g711
from media.frames import FRAME, FrameQueue, PayloadQueue


class RecordingError(Exception):
    """The recording file cannot be written."""


Frame = npt.NDArray[np.int16] | tuple[g711.Codec, bytes]


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
        # a channel's queue is made by its first push: linear frames or G.711 payloads
        self._queues: list[FrameQueue | PayloadQueue | None] = [None] * channels
        # per channel, the frame taken at each tick since the last flush (None = silence)
        self._pending: list[list[Frame | None]] = [[] for _ in range(channels)]
        self._ticks = 0
        self._flush_every = flush_every
        self.frames_written = 0
        self.closed = False
        self.paused = False

    def push(self, channel: int, frame: npt.NDArray[np.int16]) -> None:
        """Linear audio received from the leg of ``channel`` (any length)."""
        q = self._queues[channel]
        if not isinstance(q, FrameQueue):
            q = self._queues[channel] = FrameQueue()
        q.push(frame)

    def push_payload(self, channel: int, payload: bytes, codec: g711.Codec) -> None:
        """A G.711 packet received from the leg of ``channel`` (any length); it is decoded
        at the next flush, with the rest of the channel's second."""
        q = self._queues[channel]
        if not isinstance(q, PayloadQueue):
            q = self._queues[channel] = PayloadQueue()
        q.push(payload, codec)

    def tick(self) -> None:
        """Take one 20 ms frame per channel (None: silence). Only references are kept
        here; `flush` turns up to ``flush_every`` ticks into the file's interleaved samples
        at once (per packet and per tick, numpy's per-call cost was most of the recording's
        CPU: benchmarks/recording.py)."""
        if self.closed:
            return
        paused = self.paused
        for q, frames in zip(self._queues, self._pending, strict=True):
            frame = q.pop() if q is not None else None
            frames.append(None if paused else frame)
        self.frames_written += 1
        self._ticks += 1
        if self._ticks >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._ticks or self.closed:
            return
        block = np.zeros((self._ticks * FRAME, self.channels), dtype="<i2")
        for c, frames in enumerate(self._pending):
            _fill(block[:, c], frames)
            frames.clear()
        self._ticks = 0
        try:
            self._wav.writeframes(block.tobytes())
        except OSError as exc:
            raise RecordingError(f"writing {self.path}: {exc}") from exc

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
        for frames in self._pending:
            frames.clear()
        self._ticks = 0
        self.closed = True
        with contextlib.suppress(Exception):
            self._wav.close()


def _fill(column: npt.NDArray[np.int16], frames: list[Frame | None]) -> None:
    """Write one channel's frames into its column of a flush block (zeros already)."""
    codecs = {f[0] for f in frames if isinstance(f, tuple)}
    if len(codecs) == 1 and not any(isinstance(f, np.ndarray) for f in frames):
        # the usual second: G.711 of one codec, decoded with one lookup
        [codec] = codecs
        silence = bytes(FRAME)  # any byte: the gaps are zeroed after decoding
        column[:] = g711.decode(b"".join(silence if f is None else f[1]
                                         for f in frames), codec)
        for i, f in enumerate(frames):
            if f is None:
                column[i * FRAME:(i + 1) * FRAME] = 0
        return
    for i, f in enumerate(frames):
        if f is None:
            continue
        column[i * FRAME:(i + 1) * FRAME] = g711.decode(f[1], f[0]) if isinstance(f, tuple) \
            else f
