"""Mixer matrices checked on samples (who hears whom in each mode) and recorder channels."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from media.mixer import Role, hearing_matrix, mix
from media.recorder import ChannelRecorder, RecordingError

CALLER, AGENT, SUP = 0, 1, 2


def distinct_frames(n: int) -> np.ndarray:
    # Each party "says" a constant of its own so each output reveals exactly whom it heard.
    values = [100, 1000, 10000, 3][:n]
    return np.array([np.full(160, v, np.int16) for v in values])


def heard(out: np.ndarray) -> list[int]:
    return [int(row[0]) for row in out]


def run(roles, targets=None):
    targets = targets or [frozenset()] * len(roles)
    return heard(mix(distinct_frames(len(roles)), hearing_matrix(roles, targets)))


def test_two_party_minus_one():
    assert run([Role.PARTICIPANT, Role.PARTICIPANT]) == [1000, 100]


def test_listen_supervisor_hears_both_nobody_hears_supervisor():
    caller, agent, sup = run([Role.PARTICIPANT, Role.PARTICIPANT, Role.LISTEN])
    assert caller == 1000 and agent == 100 and sup == 1100


def test_whisper_agent_hears_supervisor_caller_does_not():
    caller, agent, sup = run([Role.PARTICIPANT, Role.PARTICIPANT, Role.WHISPER],
                             [frozenset(), frozenset(), frozenset({AGENT})])
    assert caller == 1000 and agent == 100 + 10000 and sup == 1100


def test_barge_all_hear_all():
    caller, agent, sup = run([Role.PARTICIPANT, Role.PARTICIPANT, Role.BARGE])
    assert caller == 11000 and agent == 10100 and sup == 1100


def test_two_listeners_do_not_hear_each_other():
    out = run([Role.PARTICIPANT, Role.PARTICIPANT, Role.LISTEN, Role.LISTEN])
    assert out == [1000, 100, 1100, 1100]


def test_sum_is_clipped_not_wrapped():
    frames = np.array([np.full(160, 30000, np.int16)] * 3)
    out = mix(frames, hearing_matrix([Role.PARTICIPANT] * 3, [frozenset()] * 3))
    assert np.all(out == 32767)
    frames = -frames
    assert np.all(mix(frames, hearing_matrix([Role.PARTICIPANT] * 3,
                                             [frozenset()] * 3)) == -32768)


def test_recorder_two_channels_aligned_with_silence_for_gaps(tmp_path):
    rec = ChannelRecorder(tmp_path / "calls" / "c1.wav", 2, flush_every=3)
    caller = np.full(160, 111, np.int16)
    agent = np.full(160, -222, np.int16)
    for i in range(10):
        rec.push(0, caller)
        if i % 2:
            rec.push(1, agent)
        rec.tick()
    rec.close()
    with wave.open(str(tmp_path / "calls" / "c1.wav"), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    assert len(data) == 1600
    assert np.all(data[:, 0] == 111)
    per_frame = data[:, 1].reshape(10, 160)[:, 0]
    assert list(per_frame) == [0, -222] * 5
    assert rec.duration == pytest.approx(0.2)


def test_recorder_bad_path_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordingError, match="cannot write recording"):
        ChannelRecorder(tmp_path / "file" / "sub" / "x.wav", 2)


def test_paused_recording_keeps_the_timeline_with_silence(tmp_path):
    rec = ChannelRecorder(tmp_path / "p.wav", 2)
    talk = np.full(160, 500, np.int16)
    for i in range(9):
        rec.paused = 3 <= i < 6  # e.g. while the caller reads a card number
        rec.push(0, talk)
        rec.push(1, talk)
        rec.tick()
    rec.close()
    with wave.open(str(tmp_path / "p.wav"), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    per_frame = data[:, 0].reshape(9, 160)[:, 0]
    assert list(per_frame) == [500] * 3 + [0] * 3 + [500] * 3
    assert np.array_equal(data[:, 0], data[:, 1])


def test_frame_queue_regroups_10_and_30_ms_packets_and_bounds_delay():
    from media.frames import FrameQueue

    q = FrameQueue(max_frames=5)
    for _ in range(3):
        q.push(np.arange(240, dtype=np.int16))  # 3 x 30 ms = 720 samples = 4.5 frames
    got = [q.pop() for _ in range(4)]
    assert all(f is not None and len(f) == 160 for f in got)
    assert np.array_equal(np.concatenate(got), np.tile(np.arange(240, dtype=np.int16), 3)[:640])
    assert q.pop() is None  # the half frame waits for more
    q.push(np.zeros(80, np.int16))
    assert q.pop() is not None
    for _ in range(20):
        q.push(np.zeros(160, np.int16))
    assert len(q) == 5  # at most 100 ms queued


def test_recorder_with_10ms_packets_keeps_all_audio(tmp_path):
    rec = ChannelRecorder(tmp_path / "ten.wav", 1)
    for _ in range(10):
        rec.push(0, np.full(80, 7, np.int16))
        rec.push(0, np.full(80, 7, np.int16))
        rec.tick()
    rec.close()
    with wave.open(str(tmp_path / "ten.wav"), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert len(data) == 1600 and np.all(data == 7)


def _read(path):
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())


def test_recorder_decodes_received_payloads_of_either_law_exactly(tmp_path):
    """G.711 packets are kept as received and decoded a second at a time: the file holds
    exactly what decoding each packet would give, for PCMU and PCMA, across a codec change
    (a re-INVITE), with 10 ms packets, gaps and a pause as silence."""
    from media import g711

    tone = (np.sin(np.arange(160) / 3) * 9000).astype(np.int16)
    mu, a = g711.encode(tone, g711.Codec.PCMU), g711.encode(tone, g711.Codec.PCMA)
    rec = ChannelRecorder(tmp_path / "g711.wav", 2, flush_every=4)
    expected0, expected1 = [], []
    for i in range(12):
        codec, payload = (g711.Codec.PCMU, mu) if i < 6 else (g711.Codec.PCMA, a)
        if i != 3:  # a lost packet: silence on the caller's channel
            rec.push_payload(0, payload[:80], codec)  # 10 ms packets
            rec.push_payload(0, payload[80:], codec)
        rec.push_payload(1, payload, codec)
        rec.paused = i == 9
        rec.tick()
        decoded = g711.decode(payload, codec)
        expected0.append(np.zeros(160, np.int16) if i in (3, 9) else decoded)
        expected1.append(np.zeros(160, np.int16) if i == 9 else decoded)
    rec.close()
    data = _read(tmp_path / "g711.wav")
    assert np.array_equal(data[:, 0], np.concatenate(expected0))
    assert np.array_equal(data[:, 1], np.concatenate(expected1))
    assert rec.duration == pytest.approx(12 * 0.02)


def test_recorder_channels_may_mix_payloads_and_linear_frames(tmp_path):
    from media import g711

    rec = ChannelRecorder(tmp_path / "mixed.wav", 2, flush_every=50)
    linear = np.full(160, 1234, np.int16)
    for _ in range(3):
        rec.push(0, linear)
        rec.push_payload(1, bytes([0xFF]) * 160, g711.Codec.PCMU)  # mu-law zero
        rec.tick()
    rec.close()
    data = _read(tmp_path / "mixed.wav")
    assert len(data) == 480 and np.all(data[:, 0] == 1234) and np.all(data[:, 1] == 0)
