"""Shared pieces of the queue-call interop tests (tests/interop/test_queue_*.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import audio
import numpy as np
from phones import Phone

from benchmarks.peers.switch import RunningSwitch

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
EN = PROMPTS / "en"


def queue_config(number: str, name: str, **kw: Any) -> dict[str, Any]:
    """A queue section with short timers for tests; ``kw`` adds or replaces keys."""
    d: dict[str, Any] = {"number": number, "name": name, "strategy": "ring_all",
                         "ring_timeout": 15, "retry_interval": 1, "wrapup": 0}
    d.update(kw)
    return d


def phone(factory: Callable[..., Phone], who: tuple[str, str], sw: RunningSwitch) -> Phone:
    """A pjsua2 phone registered as extension ``who`` = (number, password)."""
    p = factory(f"ext{who[0]}")
    assert p.register(who[0], who[1], sw.host, sw.port).ok
    return p


def call_and_press(caller: Phone, sw: RunningSwitch, queue: str, key: str) -> int:
    """``caller`` calls ``queue``, is answered, and presses ``key`` (e.g. the callback key)
    half a second into the call; returns the call."""
    call = caller.call(f"sip:{queue}@{sw.host}:{sw.port}")
    caller.wait_call_state(call, "CONFIRMED")
    caller.wait_media(call)
    time.sleep(0.5)
    caller.send_dtmf(call, key)
    return call


def assert_music(recording: Path, start: float, end: float) -> None:
    """The recording between start and end s is a piece of the music-on-hold track (the
    shared stream runs on its own, so the piece is searched for anywhere in the track), by
    its whole waveform or, across a jitter-buffer slip, by its quarter-second pieces."""
    rec, rate = audio.read_wav(recording)
    moh, moh_rate = audio.read_wav(PROMPTS / "moh" / "default.wav")
    moh = audio.resample(moh, moh_rate, rate)
    piece = rec[int(start * rate):int(end * rate)]
    track = np.concatenate([moh, moh])
    match = audio.find_prompt(track, piece, rate)
    if match.score > 0.8:
        return
    # A jitter-buffer slip of the phone inside the piece (audio.find_prompt_pieces) lowers
    # the whole piece's score (and may put its best match elsewhere in the track): then its
    # quarter-second pieces, each found on its own, must agree on one place in the looping
    # track, give or take 0.1 s.
    period = len(moh) / rate
    q = rate // 4
    offsets = range(0, len(piece) - q + 1, q)
    starts = []
    for o in offsets:
        m = audio.find_prompt(track, piece[o:o + q], rate, segment_s=None)
        if m.score > 0.8:
            starts.append((m.lag_s - o / rate) % period)

    def near(a: float, b: float) -> bool:
        return min(abs(a - b), period - abs(a - b)) <= 0.1

    agree = max((sum(near(a, b) for b in starts) for a in starts), default=0)
    assert agree >= max(4, 0.75 * len(offsets)), \
        f"no music on hold in {recording} at {start}-{end} s: {match}; " \
        f"{agree} of {len(offsets)} quarter-second pieces agree"


def assert_prompt_pieces(recording: Path, prompt: Path, seconds: float) -> None:
    """The first ``seconds`` of ``prompt`` are heard, judged by quarter-second pieces (a
    prompt that follows a bridge is heard through a jitter buffer that re-syncs and drifts a
    little, which lowers the whole-waveform correlation but not the pieces')."""
    rec, rate = audio.read_wav(recording)
    ref, ref_rate = audio.read_wav(prompt)
    ref = audio.resample(ref, ref_rate, rate)
    q = rate // 4
    scores = [audio.find_prompt(rec, ref[i:i + q], rate).score
              for i in range(0, int(seconds * rate), q)]
    found = sum(score > 0.5 for score in scores)
    if found >= 0.75 * len(scores):
        return
    # A piece that straddles a jitter-buffer slip scores lower (0.4 seen on a heard prompt):
    # then the pieces must agree on where the prompt starts (audio.find_prompt_pieces,
    # within 0.1 s), which words of another prompt do not.
    pieces = audio.find_prompt_pieces(rec, ref[: int(seconds * rate)], rate, min_score=0.35)
    assert pieces.inside == pieces.pieces and pieces.heard(0.75), \
        f"{prompt.name} not heard in {recording}: {scores}; agreeing pieces " \
        f"{pieces.agreeing} of {pieces.pieces}"


def wait_prompt_heard(recording: Path, prompt: Path, seconds: float,
                      timeout: float = 15.0) -> None:
    """Wait until a phone's recording in progress holds the first ``seconds`` of ``prompt``
    (the caller has heard them): the growing WAV is read every 0.1 s and judged by
    quarter-second pieces (audio.find_prompt_pieces). A fixed sleep would assume when the
    switch starts the prompt; under CPU load it starts later."""
    ref, ref_rate = audio.read_wav(prompt)
    deadline = time.monotonic() + timeout
    while True:
        rec, rate = audio.read_partial_wav(recording)
        part = audio.resample(ref, ref_rate, rate)[: int(seconds * rate)]
        found = audio.find_prompt_pieces(rec, part, rate)
        if found.heard() and found.inside == found.pieces:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the first {seconds} s of {prompt.name} not heard in "
                                 f"{recording} within {timeout} s ({len(rec) / rate:.2f} s "
                                 f"recorded; {found.agreeing} of {found.pieces} pieces)")
        time.sleep(0.1)


def poll_rows(db: Path, sql: str, timeout: float = 5.0) -> list[tuple[Any, ...]]:
    """Rows of `sql` in the switch's database once there are some (the store commits in
    batches; WAL makes the file readable while the switch runs)."""
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(db)
        try:
            rows = con.execute(sql).fetchall()
        finally:
            con.close()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)
