"""Hostile SIP datagrams during a call: two pjsua2 phones talk through the switch while
another socket throws 64 KB datagrams at its SIP port (a header line without a colon, and
64 KB of short headers: the shapes that used to cost the parser seconds of CPU, stalling
the event loop that also relays the call's RTP). Each phone must hear the other's tone
without a gap over 100 ms, and OPTIONS from a third address must be answered 200
meanwhile."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import audio
import pytest
from phones import Phone
from sipua import final_response, options_probe

from benchmarks.peers.switch import Extension, RunningSwitch
from benchmarks.sip_hostile import MAX_UDP_PAYLOAD, hostile

pytestmark = pytest.mark.interop

ALICE, BOB = ("6101", "alice-pw-6101"), ("6102", "bob-pw-6102")
MAX_GAP_S = 0.100


def longest_gap_s(path: Path, freq: float) -> float:
    """The longest run of 20 ms frames without `freq` between the first and the last frame
    with it (a stalled relay shows as such a run; PLC fills no more than a frame or two)."""
    signal, rate = audio.read_wav(path)
    n = int(audio.FRAME_S * rate)
    hits = [audio.detect_tone(signal[i : i + n], rate, freq).frames_with_tone > 0
            for i in range(0, len(signal) - n + 1, n)]
    assert any(hits), f"{path}: no {freq:g} Hz at all"
    first = hits.index(True)
    last = len(hits) - 1 - hits[::-1].index(True)
    longest = run = 0
    for hit in hits[first : last + 1]:
        run = 0 if hit else run + 1
        longest = max(longest, run)
    return longest * audio.FRAME_S


def ask_options(sock: socket.socket, target: tuple[str, int], call_id: str) -> int:
    sock.sendto(options_probe(sock, call_id), target)
    return final_response(sock, call_id).status


@pytest.mark.switch_config(extensions=[Extension(*ALICE), Extension(*BOB)])
def test_call_audio_has_no_gap_while_hostile_datagrams_arrive(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    alice, bob = phone_factory("alice"), phone_factory("bob")
    assert alice.register(*ALICE, switch.host, switch.sip_port("udp")).ok
    assert bob.register(*BOB, switch.host, switch.sip_port("udp")).ok
    call = alice.call(f"sip:{BOB[0]}@{switch.host}:{switch.port}")
    incoming = bob.wait_incoming()
    bob.answer(incoming)
    alice.wait_call_state(call, "CONFIRMED")
    alice.wait_media(call)
    bob.wait_media(incoming)

    alice.play(call, audio.tone_wav(tmp_path / "a.wav", 440))
    bob.play(incoming, audio.tone_wav(tmp_path / "b.wav", 1000))
    alice.record(call, tmp_path / "heard-by-alice.wav")
    bob.record(incoming, tmp_path / "heard-by-bob.wav")
    target = (switch.host, switch.sip_port("udp"))
    attack = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    monitor = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attack.bind(("127.0.0.1", 0))
    monitor.bind(("127.0.0.2", 0))  # another address, as a monitoring system would be
    monitor.settimeout(2.0)
    datagrams = [hostile("long line", MAX_UDP_PAYLOAD), hostile("many headers", MAX_UDP_PAYLOAD)]
    assert all(len(d) > 60_000 for d in datagrams)
    answers = []
    try:
        time.sleep(0.5)  # audio flowing before the attack; nothing to poll
        for i in range(20):  # 40 hostile datagrams over ~2 s, an OPTIONS after each pair
            for data in datagrams:
                attack.sendto(data, target)
            answers.append(ask_options(monitor, target, f"monitor-{i}"))
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        attack.close()
        monitor.close()
    heard_by_alice = alice.stop_record(call)
    heard_by_bob = bob.stop_record(incoming)
    assert answers == [200] * 20

    audio.wav_has_tone(heard_by_alice, 1000, min_seconds=2.5)
    audio.wav_has_tone(heard_by_bob, 440, min_seconds=2.5)
    gaps = {"alice": longest_gap_s(heard_by_alice, 1000),
            "bob": longest_gap_s(heard_by_bob, 440)}
    print(f"longest audio gaps during the attack: {gaps}")
    assert max(gaps.values()) <= MAX_GAP_S, gaps

    bob.hangup(incoming)
    assert alice.wait_call_state(call, "DISCONNECTED")["code"] == 200
