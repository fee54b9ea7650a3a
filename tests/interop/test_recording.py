"""Call recording over real sockets (issue 3 "Recorder: WAV per call, caller and agent on
separate channels, path recorded with the call"): two pjsua2 phones each send their own tone
through `softswitch run`; the WAV named in the call's row has the caller's tone on the left
channel only, the callee's (or agent's) on the right only, and lasts as long as the talk."""

from __future__ import annotations

import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import audio
import pytest
from phones import Phone
from queue_support import poll_rows as poll
from queue_support import queue_config

from benchmarks.peers.switch import Extension, RunningSwitch
from softswitch.calls.recording import safe_name

pytestmark = pytest.mark.interop

CALLER = ("4101", "rec-caller-pw")
CALLEE = ("5101", "rec-callee-pw")
AGENT = ("2101", "rec-agent-pw")
EXTENSIONS = [Extension(*CALLER), Extension(*CALLEE), Extension(*AGENT)]
CALLER_HZ, CALLEE_HZ = 600, 1400
TALK = 3.0


def assert_channels(path: Path, left_hz: float, right_hz: float, seconds: float) -> float:
    return audio.assert_stereo_channels(path, left_hz, right_hz, seconds)


def expected_path(workdir: Path, call_id: str, answered_at: float) -> Path:
    day = time.localtime(answered_at)
    return (workdir / "var" / "recordings" / f"{day.tm_year:04d}" / f"{day.tm_mon:02d}" /
            f"{day.tm_mday:02d}" / f"{safe_name(call_id)}.wav")


def talk(a: Phone, a_call: int, b: Phone, b_call: int, tmp_path: Path) -> None:
    a.wait_media(a_call)
    b.wait_media(b_call)
    a.play(a_call, audio.tone_wav(tmp_path / "caller.wav", CALLER_HZ))
    b.play(b_call, audio.tone_wav(tmp_path / "callee.wav", CALLEE_HZ))
    time.sleep(TALK)


@pytest.mark.switch_config(extensions=EXTENSIONS)
def test_extension_call_recorded_caller_left_callee_right(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    alice, bob = phone_factory("alice"), phone_factory("bob")
    assert alice.register(*CALLER, switch.host, switch.port).ok
    assert bob.register(*CALLEE, switch.host, switch.port).ok
    call = alice.call(switch.uri(CALLEE[0]))
    incoming = bob.wait_incoming()
    bob.answer(incoming)
    alice.wait_call_state(call, "CONFIRMED")
    talk(alice, call, bob, incoming, tmp_path)
    alice.hangup(call)
    bob.wait_call_state(incoming, "DISCONNECTED")

    rows = poll(switch.db_path, "SELECT call_id, answer_time, billsec, recording FROM cdr"
                " WHERE state='closed'")
    assert len(rows) == 1, rows
    call_id, answered_at, billsec, recording = rows[0]
    assert recording is not None, "the CDR row names no recording"
    path = Path(recording)
    assert path == expected_path(switch.workdir, call_id, answered_at)
    duration = assert_channels(path, CALLER_HZ, CALLEE_HZ, TALK)
    assert abs(duration - billsec) < 0.6, (duration, billsec)


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[queue_config(
    "6460", "Support", static_agents=[AGENT[0]],
    prompts={"ringback_tone": "default", "language": "en"})])
def test_queue_call_recorded_caller_left_agent_right(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    caller, agent = phone_factory("caller"), phone_factory("agent")
    assert caller.register(*CALLER, switch.host, switch.port).ok
    assert agent.register(*AGENT, switch.host, switch.port).ok
    call = caller.call(switch.uri("6460"))
    incoming = agent.wait_incoming(timeout=20)
    caller.wait_call_state(call, "CONFIRMED")
    time.sleep(1.0)  # the caller waits in the queue (music): not in the recording
    agent.answer(incoming)
    agent.wait_call_state(incoming, "CONFIRMED")
    talk(caller, call, agent, incoming, tmp_path)
    caller.hangup(call)
    agent.wait_call_state(incoming, "DISCONNECTED")

    cdr = poll(switch.db_path, "SELECT call_id, recording FROM cdr WHERE state='closed'")
    assert len(cdr) == 1, cdr
    call_id, recording = cdr[0]
    row = poll(switch.db_path, "SELECT task, answered_at, recording, talk FROM queue_calls"
                               " WHERE ended_at IS NOT NULL")
    assert len(row) == 1, row
    task, answered_at, queue_recording, talked = row[0]
    assert (task, queue_recording) == (call_id, recording)
    assert recording is not None, "the queue call's rows name no recording"
    path = Path(recording)
    assert path == expected_path(switch.workdir, call_id, answered_at)
    duration = assert_channels(path, CALLER_HZ, CALLEE_HZ, TALK)
    # from the agent's answer to the hang-up, not from when the caller joined the queue
    assert abs(duration - talked) < 0.6, (duration, talked)


@pytest.mark.parametrize("target", ["extension", "queue"])
def test_sigterm_during_a_call_finishes_the_recording(
        target: str, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    # our own process handle: the `switch` fixture fails a test whose switch exits
    here = Path(__file__).resolve().parents[1]
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    import switchproc

    cfg = switchproc.base_config(tmp_path)
    cfg["extensions"] = [{"number": u, "password": p} for u, p in (CALLER, CALLEE)]
    dialled = CALLEE[0]
    if target == "queue":
        cfg["queues"] = [queue_config("6460", "Support", static_agents=[CALLEE[0]])]
        dialled = "6460"
    sw = switchproc.start(tmp_path, cfg)
    host, port = sw.udp
    try:
        alice, bob = phone_factory("alice"), phone_factory("bob")
        assert alice.register(*CALLER, host, port).ok
        assert bob.register(*CALLEE, host, port).ok
        call = alice.call(f"sip:{dialled}@{host}:{port}")
        incoming = bob.wait_incoming(timeout=20)
        bob.answer(incoming)
        alice.wait_call_state(call, "CONFIRMED")
        bob.wait_call_state(incoming, "CONFIRMED")
        talk(alice, call, bob, incoming, tmp_path)
        sw.proc.send_signal(signal.SIGTERM)
        assert alice.wait_call_state(call, "DISCONNECTED")["code"] == 200
        assert sw.proc.wait(15) == 0
    finally:
        if sw.proc.poll() is None:
            sw.proc.kill()
    con = sqlite3.connect(tmp_path / "switch.sqlite3")
    (recording, billsec), = con.execute("SELECT recording, billsec FROM cdr").fetchall()
    assert recording is not None
    # a complete WAV (header finalised): readable, both channels, as long as the talk
    duration = assert_channels(Path(recording), CALLER_HZ, CALLEE_HZ, TALK)
    if target == "extension":
        assert abs(duration - billsec) < 0.6, (duration, billsec)
    else:
        assert con.execute("SELECT recording FROM queue_calls").fetchall() == [(recording,)]
        assert TALK - 0.2 < duration < billsec + 0.1, (duration, billsec)  # 20 ms frames
