"""What a person checks on an established two-phone call, whoever sits between the phones
(Kamailio in the harness self-test, the switch in its own tests)."""

from __future__ import annotations

import time
from pathlib import Path

import audio
from phones import Phone


def exercise_answered_call(alice: Phone, call: int, bob: Phone, incoming: int,
                           tmp_path: Path) -> None:
    """A different tone each way, each heard only at the far end; DTMF both ways (RFC 4733
    from Alice, INFO from Bob); hold and unhold seen by both phones; Bob hangs up and Alice
    sees the 200. Leaves the call ended."""
    alice.play(call, audio.tone_wav(tmp_path / "a.wav", 440))
    bob.play(incoming, audio.tone_wav(tmp_path / "b.wav", 1000))
    alice.record(call, tmp_path / "heard-by-alice.wav")
    bob.record(incoming, tmp_path / "heard-by-bob.wav")
    time.sleep(2.0)  # real audio has to flow for a while; nothing to poll
    heard_by_alice = alice.stop_record(call)
    heard_by_bob = bob.stop_record(incoming)
    audio.wav_has_tone(heard_by_alice, 1000, min_seconds=1.0)
    audio.wav_has_tone(heard_by_bob, 440, min_seconds=1.0)
    assert audio.detect_tone(*audio.read_wav(heard_by_bob), 1000).frames_with_tone == 0

    alice.send_dtmf(call, "159#", method="rfc2833")
    assert bob.wait_dtmf("159#", incoming).endswith("159#")
    bob.send_dtmf(incoming, "7", method="info")
    alice.wait_dtmf("7", call)
    assert alice.dtmf_methods(call)[-1] == "info"

    mark_a, mark_b = alice.mark(), bob.mark()
    alice.hold(call)
    alice.wait_media(call, "LOCAL_HOLD", since=mark_a)
    bob.wait_media(incoming, "REMOTE_HOLD", since=mark_b)
    mark_a, mark_b = alice.mark(), bob.mark()
    alice.unhold(call)
    alice.wait_media(call, "ACTIVE", since=mark_a)
    bob.wait_media(incoming, "ACTIVE", since=mark_b)

    bob.hangup(incoming)
    ended = alice.wait_call_state(call, "DISCONNECTED")
    assert ended["code"] == 200
