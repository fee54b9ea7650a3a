"""Calls through the switch between clients nobody here wrote: sipp (uac -> switch -> uas,
CANCEL during ringing, BYE from the callee), pjsua2 (audio both ways, DTMF, hold/unhold),
baresip (a tone sent by one phone detected at the other), and SIGTERM during a call."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import audio
import pytest
from baresip import Baresip, BaresipAccount
from call_checks import exercise_answered_call
from phones import Phone

from benchmarks.peers.net import free_port
from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

CALLERS = [(f"40{i:02d}", f"caller-{i}-pw") for i in range(10)]
CALLEES = [(f"50{i:02d}", f"callee-{i}-pw") for i in range(10)]
EXTENSIONS = [Extension(u, p) for u, p in CALLERS + CALLEES]
# sipp and baresip 1.0 compute MD5 digests only and answer the first challenge they see
# (RFC 8760 says to skip unknown algorithms), so the switch offers them MD5 alone.
MD5_ONLY = {"sip": {"auth": {"algorithms": ["MD5"]}}}


def cdr(switch: RunningSwitch, want: int, timeout: float = 5.0) -> list[tuple]:
    """CDR rows (caller, callee, disposition, hangup_side, sip_code), polled from the file
    until `want` rows are there (the writer task commits in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(switch.db_path)
        try:
            rows = con.execute("SELECT caller, callee, disposition, hangup_side, sip_code"
                               " FROM cdr WHERE state='closed' ORDER BY id").fetchall()
        finally:
            con.close()
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def register_callees(sipp: Callable[..., Sipp], switch: RunningSwitch, tmp_path: Path,
                     contact_port: int) -> None:
    inf = injection_file(tmp_path / "callees.csv",
                         [(u, p, switch.domain, f"127.0.0.1:{contact_port}")
                          for u, p in CALLEES])
    res = sipp("register_auth.xml", switch.address, inf=inf, rate=50,
               max_calls=len(CALLEES)).run(30)
    assert (res.successful, res.failed) == (len(CALLEES), 0), res.output


def calls_file(tmp_path: Path, switch: RunningSwitch) -> Path:
    return injection_file(tmp_path / "calls.csv",
                          [(u, p, switch.domain, CALLEES[i][0])
                           for i, (u, p) in enumerate(CALLERS)])


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=MD5_ONLY)
def test_sipp_calls_uac_switch_uas(switch: RunningSwitch, sipp: Callable[..., Sipp],
                                   tmp_path: Path) -> None:
    uas_port = free_port()
    uas = sipp("uas.xml", None, local_port=uas_port).start()
    register_callees(sipp, switch, tmp_path, uas_port)
    calls = sipp("uac_auth.xml", switch.address, inf=calls_file(tmp_path, switch), rate=20,
                 max_calls=20).run(60)
    answered = uas.stop()
    assert (calls.successful, calls.failed) == (20, 0), calls.output
    assert (answered.successful, answered.failed) == (20, 0), answered.output
    rows = cdr(switch, 20)
    assert len(rows) == 20
    assert {r[2:] for r in rows} == {("ANSWERED", "caller", 200)}
    assert rows[0][:2] == (CALLERS[0][0], CALLEES[0][0])


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=MD5_ONLY)
def test_sipp_cancel_during_ringing(switch: RunningSwitch, sipp: Callable[..., Sipp],
                                    tmp_path: Path) -> None:
    uas_port = free_port()
    uas = sipp("uas_ring_cancel.xml", None, local_port=uas_port).start()
    register_callees(sipp, switch, tmp_path, uas_port)
    calls = sipp("uac_auth_cancel.xml", switch.address, inf=calls_file(tmp_path, switch),
                 rate=5, max_calls=3).run(60)
    callee = uas.stop()
    assert (calls.successful, calls.failed) == (3, 0), calls.output
    assert (callee.successful, callee.failed) == (3, 0), callee.output
    assert {r[2:] for r in cdr(switch, 3)} == {("CANCELLED", "caller", 487)}


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=MD5_ONLY)
def test_sipp_bye_from_callee(switch: RunningSwitch, sipp: Callable[..., Sipp],
                              tmp_path: Path) -> None:
    uas_port = free_port()
    uas = sipp("uas_bye.xml", None, local_port=uas_port).start()
    register_callees(sipp, switch, tmp_path, uas_port)
    calls = sipp("uac_auth_wait_bye.xml", switch.address, inf=calls_file(tmp_path, switch),
                 rate=5, max_calls=3).run(60)
    callee = uas.stop()
    assert (calls.successful, calls.failed) == (3, 0), calls.output
    assert (callee.successful, callee.failed) == (3, 0), callee.output
    assert {r[2:] for r in cdr(switch, 3)} == {("ANSWERED", "callee", 200)}


@pytest.mark.switch_config(extensions=EXTENSIONS)
def test_two_pjsua2_phones_audio_dtmf_hold_unhold(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    alice, bob = phone_factory("alice"), phone_factory("bob")
    (ua, pa), (ub, pb) = CALLERS[0], CALLEES[0]
    assert alice.register(ua, pa, switch.host, switch.sip_port("udp")).ok
    assert bob.register(ub, pb, switch.host, switch.sip_port("tcp"), transport="tcp").ok

    call = alice.call(f"sip:{ub}@{switch.host}:{switch.port}")
    incoming = bob.wait_incoming()
    assert f"sip:{ua}@" in bob.incoming(incoming)["from"]
    alice.wait_call_state(call, "EARLY")  # bob's 180 relayed by the switch
    bob.answer(incoming)
    alice.wait_call_state(call, "CONFIRMED")
    alice.wait_media(call)
    bob.wait_media(incoming)

    exercise_answered_call(alice, call, bob, incoming, tmp_path)
    assert cdr(switch, 1)[0] == (ua, ub, "ANSWERED", "callee", 200)
    # the CDR carries each leg's RTP statistics from the relay
    con = sqlite3.connect(switch.db_path)
    caller_rtp, callee_rtp = (json.loads(v) for v in con.execute(
        "SELECT caller_rtp, callee_rtp FROM cdr").fetchone())
    con.close()
    for stats in (caller_rtp, callee_rtp):
        assert stats["packets_received"] > 50 and stats["packets_sent"] > 50


@pytest.mark.switch_config(extensions=EXTENSIONS)
def test_pjsua2_busy_and_unknown_number(
        switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
    alice, bob = phone_factory("alice"), phone_factory("bob")
    (ua, pa), (ub, pb) = CALLERS[0], CALLEES[0]
    assert alice.register(ua, pa, switch.host, switch.port).ok
    assert bob.register(ub, pb, switch.host, switch.port).ok
    call = alice.call(f"sip:{ub}@{switch.host}:{switch.port}")
    incoming = bob.wait_incoming()
    bob.answer(incoming, 486)
    assert alice.wait_call_state(call, "DISCONNECTED")["code"] == 486
    call = alice.call(f"sip:4999@{switch.host}:{switch.port}")
    assert alice.wait_call_state(call, "DISCONNECTED")["code"] == 404
    call = alice.call(f"sip:{CALLEES[1][0]}@{switch.host}:{switch.port}")
    assert alice.wait_call_state(call, "DISCONNECTED")["code"] == 480
    assert [r[2] for r in cdr(switch, 3)] == ["BUSY", "FAILED", "FAILED"]


@pytest.mark.switch_config(extensions=EXTENSIONS)
def test_echo_test_number_returns_the_callers_audio(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    alice = phone_factory("alice")
    ua, pa = CALLERS[0]
    assert alice.register(ua, pa, switch.host, switch.port).ok
    call = alice.call(f"sip:*43@{switch.host}:{switch.port}")
    alice.wait_call_state(call, "CONFIRMED")
    alice.wait_media(call)
    alice.play(call, audio.tone_wav(tmp_path / "a.wav", 700))
    alice.record(call, tmp_path / "echo.wav")
    time.sleep(2.0)  # audio has to go round
    audio.wav_has_tone(alice.stop_record(call), 700, min_seconds=1.0)
    alice.hangup(call)
    alice.wait_call_state(call, "DISCONNECTED")


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=MD5_ONLY)
def test_baresip_and_pjsua2_tones_cross_both_ways_through_the_relay(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        baresip_factory: Callable[..., Baresip], tmp_path: Path) -> None:
    (ua, pa), (ub, pb) = CALLERS[0], CALLEES[0]
    bs = baresip_factory("bs", audio.tone_wav(tmp_path / "bs.wav", 1000, seconds=20),
                         [BaresipAccount(ub, pb, switch.host, switch.port)])
    assert bs.wait_registered() == {ub: "OK"}
    alice = phone_factory("alice")
    assert alice.register(ua, pa, switch.host, switch.port).ok

    bs.dial(f"sip:{ua}@{switch.host}:{switch.port}")
    call = alice.wait_incoming()
    alice.play(call, audio.tone_wav(tmp_path / "alice.wav", 440))
    alice.record(call, tmp_path / "heard-by-alice.wav")
    alice.answer(call)
    bs.wait_call_event("CALL_ESTABLISHED")
    time.sleep(2.0)  # let audio flow
    audio.wav_has_tone(alice.stop_record(call), 1000, min_seconds=1.0)
    bs.hangup()
    alice.wait_call_state(call, "DISCONNECTED")
    bs.wait_call_event("CALL_CLOSED")
    heard_by_bs = bs.received_wav()
    audio.wav_has_tone(heard_by_bs, 440, min_seconds=1.0)
    assert audio.detect_tone(*audio.read_wav(heard_by_bs), 1000).frames_with_tone == 0
    assert cdr(switch, 1)[0][:4] == (ub, ua, "ANSWERED", "caller")


def test_sigterm_during_a_call_sends_bye_to_both_phones_and_keeps_the_cdr(
        phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    # our own process handle: the harness fixture treats a switch that exits during a test
    # as a failure, and exiting is the point here
    here = Path(__file__).resolve().parents[1]
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    import switchproc

    cfg = switchproc.base_config(tmp_path)
    cfg["extensions"] = [{"number": u, "password": p} for u, p in CALLERS[:1] + CALLEES[:1]]
    sw = switchproc.start(tmp_path, cfg)
    host, port = sw.udp
    try:
        alice, bob = phone_factory("alice"), phone_factory("bob")
        (ua, pa), (ub, pb) = CALLERS[0], CALLEES[0]
        assert alice.register(ua, pa, host, port).ok
        assert bob.register(ub, pb, host, port).ok
        call = alice.call(f"sip:{ub}@{host}:{port}")
        incoming = bob.wait_incoming()
        bob.answer(incoming)
        alice.wait_call_state(call, "CONFIRMED")
        bob.wait_call_state(incoming, "CONFIRMED")
        sw.proc.send_signal(signal.SIGTERM)
        assert alice.wait_call_state(call, "DISCONNECTED")["code"] == 200  # BYE from switch
        assert bob.wait_call_state(incoming, "DISCONNECTED")["code"] == 200
        assert sw.proc.wait(15) == 0
    finally:
        if sw.proc.poll() is None:
            sw.proc.kill()
    con = sqlite3.connect(tmp_path / "switch.sqlite3")
    assert con.execute("SELECT caller, callee, disposition, hangup_side, hangup_cause FROM cdr"
                       ).fetchall() == [(ua, ub, "ANSWERED", "switch", "shutdown")]
    # a clean stop leaves nothing for the next start-up to sweep (softswitch.calls.records)
    assert con.execute("SELECT COUNT(*) FROM call_dialogs").fetchone() == (0,)
