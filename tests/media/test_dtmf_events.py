"""DTMF event sequences in virtual time: RFC 4733 with redundancy and lost packets, INFO
bodies, Goertzel detection on generated tones with noise."""

from __future__ import annotations

import numpy as np
import pytest

from media.dtmf import (
    EVENT_TIMEOUT,
    DtmfError,
    GoertzelDetector,
    TelephoneEvent,
    TelephoneEventReceiver,
    dtmf_tone,
    parse_info_body,
    telephone_event_frames,
)
from media.events import DtmfSource


def ev(event: int, end: bool, duration: int) -> bytes:
    return bytes(TelephoneEvent(event, end, 10, duration))


def test_one_press_with_triple_end_is_one_digit():
    rx = TelephoneEventReceiver()
    out = []
    for i, d in enumerate((160, 320, 480)):
        out += rx.handle_packet(ev(1, False, d), 8000, i * 0.02)
    for i in range(3):
        out += rx.handle_packet(ev(1, True, 640), 8000, 0.06 + i * 0.02)
    assert [(d.digit, d.duration_ms) for d in out] == [("1", 80)]
    assert rx.next_deadline() is None


def test_lost_start_packets_do_not_matter():
    rx = TelephoneEventReceiver()
    out = rx.handle_packet(ev(2, True, 800), 1600, 0.0)
    assert [d.digit for d in out] == ["2"]


def test_lost_end_recovered_by_next_event():
    rx = TelephoneEventReceiver()
    assert rx.handle_packet(ev(3, False, 160), 1000, 0.0) == []
    out = rx.handle_packet(ev(4, False, 160), 3000, 0.2)
    assert [d.digit for d in out] == ["3"]
    out = rx.handle_packet(ev(4, True, 480), 3000, 0.3)
    assert [d.digit for d in out] == ["4"]


def test_lost_end_recovered_by_timeout_in_virtual_time():
    rx = TelephoneEventReceiver()
    rx.handle_packet(ev(10, False, 160), 1000, 1.0)
    rx.handle_packet(ev(10, False, 320), 1000, 1.02)
    assert rx.next_deadline() == pytest.approx(1.02 + EVENT_TIMEOUT)
    assert rx.handle_timeout(1.2) == []
    out = rx.handle_timeout(1.02 + EVENT_TIMEOUT)
    assert [d.digit for d in out] == ["*"]
    # A late end packet of that same event is not a second press.
    assert rx.handle_packet(ev(10, True, 480), 1000, 1.5) == []


def test_same_key_twice_is_two_presses():
    rx = TelephoneEventReceiver()
    out = rx.handle_packet(ev(5, True, 800), 1000, 0.0)
    out += rx.handle_packet(ev(5, True, 800), 1000, 0.02)  # redundancy
    out += rx.handle_packet(ev(5, True, 800), 3000, 0.3)  # a new press (new timestamp)
    assert [d.digit for d in out] == ["5", "5"]


def test_non_dtmf_events_and_short_payloads():
    rx = TelephoneEventReceiver()
    assert rx.handle_packet(ev(70, True, 800), 1000, 0.0) == []  # a tone event, not a key
    with pytest.raises(DtmfError, match="need 4"):
        rx.handle_packet(b"\x01", 5, 0.0)


def test_sender_frames_follow_rfc4733():
    frames = list(telephone_event_frames("#", 100))
    assert frames[0][1] is True and all(not f[1] for f in frames[1:])
    ends = [f for f in frames if f[2]]
    assert len(ends) == 3 and len({f[0] for f in ends}) == 1
    assert TelephoneEvent.parse(ends[0][0]) == TelephoneEvent(11, True, 10, 800)
    with pytest.raises(DtmfError):
        list(telephone_event_frames("x"))


@pytest.mark.parametrize("ctype,body,digit", [
    ("application/dtmf-relay", "Signal=1\r\nDuration=160\r\n", "1"),
    ("application/dtmf-relay", "Signal= #\nDuration=100", "#"),
    ("application/dtmf-relay; charset=x", "Signal=11\r\n", "#"),
    ("application/dtmf", "9", "9"),
])
def test_info_bodies(ctype, body, digit):
    d = parse_info_body(ctype, body, 0.0)
    assert d.digit == digit and d.source is DtmfSource.INFO


@pytest.mark.parametrize("ctype,body", [
    ("application/dtmf-relay", "Duration=100"),
    ("application/dtmf-relay", "Signal=Q"),
    ("application/dtmf-relay", "Signal=1\nDuration=abc"),
    ("text/plain", "1"),
])
def test_bad_info_bodies(ctype, body):
    with pytest.raises(DtmfError):
        parse_info_body(ctype, body, 0.0)


def run_detector(signal: np.ndarray) -> list[str]:
    det = GoertzelDetector()
    out = []
    for i in range(0, len(signal) - 159, 160):
        out += det.process(signal[i:i + 160], i / 8000)
    out += det.process(np.zeros(160, np.int16), 99.0)
    return [d.digit for d in out]


def test_goertzel_finds_every_key_in_noise():
    rng = np.random.default_rng(1)
    keys = "0123456789*#ABCD"
    parts = []
    for k in keys:
        parts += [dtmf_tone(k, 60, amplitude=6000), np.zeros(400, np.int16)]
    sig = np.concatenate(parts).astype(float)
    sig += rng.standard_normal(len(sig)) * 300  # about 20 dB SNR
    assert run_detector(np.clip(sig, -32768, 32767).astype(np.int16)) == list(keys)


def test_goertzel_ignores_speechlike_noise_single_tones_and_short_blips():
    rng = np.random.default_rng(2)
    noise = (rng.standard_normal(8000) * 3000).astype(np.int16)
    assert run_detector(noise) == []
    t = np.arange(8000) / 8000
    single = (np.sin(2 * np.pi * 770 * t) * 8000).astype(np.int16)
    assert run_detector(single) == []
    blip = np.concatenate([np.zeros(160, np.int16), dtmf_tone("5", 20),
                           np.zeros(800, np.int16)])
    assert run_detector(blip) == []  # 20 ms is below the 40 ms minimum


def test_goertzel_long_press_is_one_digit_with_duration():
    det = GoertzelDetector()
    tone = np.concatenate([dtmf_tone("8", 500), np.zeros(320, np.int16)])
    out = []
    for i in range(0, len(tone), 160):
        out += det.process(tone[i:i + 160], i / 8000)
    assert [d.digit for d in out] == ["8"] and out[0].duration_ms == 500


def red(blocks: list[tuple[int, int, bytes]], primary: tuple[int, bytes]) -> bytes:
    """An RFC 2198 payload: redundant (pt, ts offset, data) blocks then the primary."""
    head = b"".join(((0x80 | pt) << 24 | off << 10 | len(data)).to_bytes(4, "big")
                    for pt, off, data in blocks)
    return head + bytes([primary[0]]) + b"".join(d for _, _, d in blocks) + primary[1]


def test_red_redundancy_recovers_a_lost_packet_without_double_digits():
    from media.dtmf import parse_red

    rx = TelephoneEventReceiver()
    # Key 7 (ts 1000) ended; its end packet was lost but rides as redundancy in the
    # first packet of key 8 (ts 2600), 1600 samples later.
    out = rx.handle_packet(ev(7, False, 160), 1000, 0.0)
    pkt = red([(101, 1600, ev(7, True, 800))], (101, ev(8, False, 160)))
    assert [(p, t) for p, t, _ in parse_red(pkt, 2600)] == [(101, 1000), (101, 2600)]
    out += rx.handle_red_packet(pkt, 2600, 101, 0.2)
    out += rx.handle_red_packet(red([(101, 0, ev(8, True, 480))], (101, ev(8, True, 480))),
                                2600, 101, 0.26)
    assert [(d.digit, d.duration_ms) for d in out] == [("7", 100), ("8", 60)]


def test_red_garbage_is_a_dtmf_error():
    from media.dtmf import parse_red

    for bad in (b"", b"\x80\x00", b"\xe5\x00\x04\x10\x65"):
        with pytest.raises(DtmfError):
            parse_red(bad, 0)


def test_goertzel_takes_30ms_and_10ms_packets():
    tone = np.concatenate([np.zeros(240, np.int16), dtmf_tone("6", 120),
                           np.zeros(960, np.int16)])
    for size in (240, 80):
        det = GoertzelDetector()
        out = []
        for i in range(0, len(tone) - size + 1, size):
            out += det.process(tone[i:i + size], 0.0)
        assert [d.digit for d in out] == ["6"], size
