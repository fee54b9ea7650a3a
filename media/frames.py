"""Received audio regrouped into 20 ms frames for the clock (sans-IO).

Phones packetize at 10, 20, 30 ms or more; the mixer and the recorder take exactly one
160-sample frame per leg per tick. :class:`FrameQueue` joins and splits what arrives and
keeps at most ``max_frames`` frames: that is the jitter it absorbs (5 frames = 100 ms);
beyond, the oldest audio is dropped so a leg's delay cannot grow without bound.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

FRAME = 160


class FrameQueue:
    def __init__(self, max_frames: int = 5) -> None:
        self._frames: deque[npt.NDArray[np.int16]] = deque(maxlen=max_frames)
        self._partial: npt.NDArray[np.int16] = np.zeros(0, np.int16)

    def push(self, audio: npt.NDArray[np.int16]) -> None:
        if len(self._partial):
            audio = np.concatenate([self._partial, audio])
        whole = len(audio) - len(audio) % FRAME
        for i in range(0, whole, FRAME):
            self._frames.append(audio[i:i + FRAME])
        self._partial = audio[whole:].copy() if whole < len(audio) else np.zeros(0, np.int16)

    def pop(self) -> npt.NDArray[np.int16] | None:
        """The oldest complete frame, or None when nothing (whole) has arrived."""
        return self._frames.popleft() if self._frames else None

    def __len__(self) -> int:
        return len(self._frames)
