"""N-party mixing with per-participant minus-one mixes (sans-IO, numpy).

Who hears whom is a matrix ``H`` (N x N, 0/1, zero diagonal: nobody hears themselves); one
tick's mix for everyone is ``clip(H @ X)`` with ``X`` the N x 160 int16 frames widened to
int32, so each participant gets the sum of what they may hear, clipped to int16.

Supervisor modes (manual: queue-manager-agent "monitor" functions; Asterisk ChanSpy terms):

* ``LISTEN``  -- the supervisor hears both caller and agent; nobody hears the supervisor.
* ``WHISPER`` -- the supervisor hears both; only the whisper target (the agent) hears the
  supervisor, the caller does not.
* ``BARGE``   -- a full participant: all hear all.

Decision: listeners and whisperers hear each other's targets but not each other (two
supervisors listening to the same call do not hear one another).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class Role(StrEnum):
    PARTICIPANT = "participant"
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


def hearing_matrix(roles: Sequence[Role], whisper_targets: Sequence[frozenset[int]]) -> (
        npt.NDArray[np.int32]):
    """``H[i, j] == 1`` when participant i hears participant j."""
    n = len(roles)
    h = np.zeros((n, n), dtype=np.int32)
    for j, role in enumerate(roles):
        if role in (Role.PARTICIPANT, Role.BARGE):
            h[:, j] = 1
        elif role is Role.WHISPER:
            for i in whisper_targets[j]:
                h[i, j] = 1
        # LISTEN: a silent column
    np.fill_diagonal(h, 0)
    return h


def mix(frames: npt.NDArray[np.int16], matrix: npt.NDArray[np.int32]) -> npt.NDArray[np.int16]:
    """Minus-one mixes for all participants: int16 in, int32 sums, clipped to int16."""
    wide = frames.astype(np.int32)
    out = matrix @ wide
    np.clip(out, -32768, 32767, out=out)
    return out.astype(np.int16)
