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

from media.g711 import Codec

FRAME = 160
_EMPTY: npt.NDArray[np.int16] = np.zeros(0, np.int16)


class FrameQueue:
    def __init__(self, max_frames: int = 5) -> None:
        self._frames: deque[npt.NDArray[np.int16]] = deque(maxlen=max_frames)
        self._partial: npt.NDArray[np.int16] = _EMPTY

    def push(self, audio: npt.NDArray[np.int16]) -> None:
        if len(self._partial):
            audio = np.concatenate([self._partial, audio])
        elif len(audio) == FRAME:  # the common 20 ms packet: nothing to join or split
            self._frames.append(audio)
            return
        whole = len(audio) - len(audio) % FRAME
        for i in range(0, whole, FRAME):
            self._frames.append(audio[i:i + FRAME])
        self._partial = audio[whole:].copy() if whole < len(audio) else _EMPTY

    def pop(self) -> npt.NDArray[np.int16] | None:
        """The oldest complete frame, or None when nothing (whole) has arrived."""
        return self._frames.popleft() if self._frames else None

    def __len__(self) -> int:
        return len(self._frames)


class PayloadQueue:
    """`FrameQueue` for G.711 payloads as received (one byte per sample, so a frame is 160
    bytes): frames are kept as bytes with their codec and decoded later, many at once (the
    recorder decodes a second of a channel with one table lookup instead of one per packet).
    A codec change (a re-INVITE) drops a partial frame of the old codec."""

    def __init__(self, max_frames: int = 5) -> None:
        self._frames: deque[tuple[Codec, bytes]] = deque(maxlen=max_frames)
        self._partial = b""
        self._codec: Codec | None = None

    def push(self, payload: bytes, codec: Codec) -> None:
        if codec is not self._codec:
            self._codec, self._partial = codec, b""
        if self._partial:
            payload = self._partial + payload
            self._partial = b""
        n = len(payload)
        if n == FRAME:
            self._frames.append((codec, payload))
            return
        whole = n - n % FRAME
        for i in range(0, whole, FRAME):
            self._frames.append((codec, payload[i:i + FRAME]))
        self._partial = payload[whole:]

    def pop(self) -> tuple[Codec, bytes] | None:
        """The oldest complete frame with its codec, or None."""
        return self._frames.popleft() if self._frames else None

    def __len__(self) -> int:
        return len(self._frames)
