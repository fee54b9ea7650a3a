"""Self-tests of the interop harness against peers nobody here wrote (Kamailio as registrar
and proxy, Sippy B2BUA, sipp, pjsua2, baresip). They prove that the tools the switch's interop
tests rely on really register, call, cancel, hang up and carry audio, so a failure in a
switch test points at the switch and not at the harness."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import audio
import numpy as np
import pytest
from baresip import Baresip, BaresipAccount
from call_checks import exercise_answered_call
from phones import Phone

from benchmarks.peers.kamailio import Kamailio
from benchmarks.peers.net import free_port, sip_options
from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import RunningSwitch, SwitchStartError, build_config, start_switch

pytestmark = pytest.mark.interop

CALLERS = [(f"10{i:02d}", f"caller-{i}-pw") for i in range(10)]
CALLEES = [(f"20{i:02d}", f"callee-{i}-pw") for i in range(10)]


def _register_callees(sipp: Callable[..., Sipp], kam: Kamailio, tmp_path: Path,
                      contact_port: int) -> None:
    inf = injection_file(tmp_path / "callees.csv",
                         [(u, p, "127.0.0.1", f"127.0.0.1:{contact_port}") for u, p in CALLEES])
    res = sipp("register_auth.xml", kam.address, inf=inf, rate=50,
               max_calls=len(CALLEES)).run(30)
    assert (res.successful, res.failed) == (len(CALLEES), 0), res.output


def test_sipp_register_with_digest_auth_counts_successes(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    inf = injection_file(tmp_path / "reg.csv",
                         [(u, p, "127.0.0.1", "127.0.0.1:5999") for u, p in CALLERS])
    res = sipp("register_auth.xml", kam.address, inf=inf, rate=100, max_calls=50).run(30)
    assert res.successful == 50 and res.failed == 0, res.output
    assert res.returncode == 0
    assert len(res.rtt_ms) == 50  # one response-time sample per REGISTER
    assert res.percentile(99) < 1000


def test_sipp_register_with_wrong_password_is_counted_as_failed(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    inf = injection_file(tmp_path / "bad.csv",
                         [(u, "wrong-" + p, "127.0.0.1", "127.0.0.1:5999") for u, p in CALLERS])
    res = sipp("register_auth.xml", kam.address, inf=inf, rate=50, max_calls=5,
               recv_timeout_ms=2000).run(30)
    assert res.successful == 0 and res.failed == 5, res.output
    assert res.returncode != 0


def test_sipp_call_with_407_through_kamailio_to_sipp_uas(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS + CALLEES)
    uas_port = free_port()
    uas = sipp("uas.xml", None, local_port=uas_port).start()
    _register_callees(sipp, kam, tmp_path, uas_port)
    inf = injection_file(tmp_path / "calls.csv",
                         [(u, p, "127.0.0.1", CALLEES[i][0]) for i, (u, p) in enumerate(CALLERS)])
    calls = sipp("uac_auth.xml", kam.address, inf=inf, rate=20, max_calls=20).run(60)
    answered = uas.stop()
    assert (calls.successful, calls.failed) == (20, 0), calls.output
    assert (answered.successful, answered.failed) == (20, 0), answered.output


def test_sipp_cancel_during_ringing_through_kamailio(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS + CALLEES)
    uas_port = free_port()
    uas = sipp("uas_ring_cancel.xml", None, local_port=uas_port).start()
    _register_callees(sipp, kam, tmp_path, uas_port)
    inf = injection_file(tmp_path / "calls.csv",
                         [(u, p, "127.0.0.1", CALLEES[i][0]) for i, (u, p) in enumerate(CALLERS)])
    calls = sipp("uac_auth_cancel.xml", kam.address, inf=inf, rate=5, max_calls=3).run(60)
    callee = uas.stop()
    assert (calls.successful, calls.failed) == (3, 0), calls.output
    assert (callee.successful, callee.failed) == (3, 0), callee.output


def test_sipp_bye_from_callee_through_kamailio(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS + CALLEES)
    uas_port = free_port()
    uas = sipp("uas_bye.xml", None, local_port=uas_port).start()
    _register_callees(sipp, kam, tmp_path, uas_port)
    inf = injection_file(tmp_path / "calls.csv",
                         [(u, p, "127.0.0.1", CALLEES[i][0]) for i, (u, p) in enumerate(CALLERS)])
    calls = sipp("uac_auth_wait_bye.xml", kam.address, inf=inf, rate=5, max_calls=3).run(60)
    callee = uas.stop()
    assert (calls.successful, calls.failed) == (3, 0), calls.output
    assert (callee.successful, callee.failed) == (3, 0), callee.output


# --- audio helpers --------------------------------------------------------------------------

def _mulaw_roundtrip(signal: np.ndarray) -> np.ndarray:
    """G.711 mu-law compand/expand (continuous form), to test detection after a codec."""
    mu = 255.0
    y = np.sign(signal) * np.log1p(mu * np.abs(signal)) / np.log1p(mu)
    y = np.round(y * 127) / 127  # 8-bit quantisation
    return np.sign(y) * (np.expm1(np.abs(y) * np.log1p(mu))) / mu


def test_tone_detection_finds_the_sent_tone_and_not_others() -> None:
    rng = np.random.default_rng(1)
    sig = np.concatenate([np.zeros(800), audio.tone(1000, 2.0), np.zeros(800)])
    sig = _mulaw_roundtrip(sig + rng.normal(0, 0.01, len(sig)))
    hit = audio.detect_tone(sig, audio.RATE, 1000)
    assert 1.9 <= hit.seconds_with_tone <= 2.05
    assert hit.longest_run_s >= 1.9
    assert audio.detect_tone(sig, audio.RATE, 440).frames_with_tone == 0
    assert abs(audio.dominant_frequency(sig, audio.RATE) - 1000) < 5
    assert audio.detect_tone(np.zeros(8000), audio.RATE, 1000).frames_with_tone == 0


def test_dtmf_decoder_reads_every_key_after_g711() -> None:
    keys = "0123456789*#ABCD"
    sig = _mulaw_roundtrip(audio.dtmf_signal(keys, on_s=0.08, off_s=0.06))
    assert audio.decode_dtmf(sig, audio.RATE) == keys
    assert audio.decode_dtmf(audio.tone(1000, 1.0), audio.RATE) == ""
    assert audio.decode_dtmf(_mulaw_roundtrip(audio.dtmf_signal("55")), audio.RATE) == "55"


def test_prompt_is_found_at_its_offset_and_unrelated_audio_is_not(tmp_path: Path) -> None:
    prompt_wav = _spoken_prompt(tmp_path)
    prompt, rate = audio.read_wav(prompt_wav)
    rng = np.random.default_rng(2)
    rec = np.concatenate([rng.normal(0, 0.02, rate), prompt * 0.7, rng.normal(0, 0.02, rate)])
    m = audio.find_prompt(_mulaw_roundtrip(rec), prompt, rate)
    assert m.score > 0.9 and abs(m.lag_s - 1.0) < 0.01
    # a recording that starts 0.3 s into the prompt and ends before it does (hang-up)
    cut = _mulaw_roundtrip(prompt[int(0.3 * rate): int(0.8 * len(prompt))])
    part = audio.find_prompt(cut, prompt, rate)
    assert part.score > 0.9 and abs(part.lag_s + 0.3) < 0.01
    assert audio.find_prompt(cut, prompt, rate, segment_s=None).score == 0.0  # whole: too long
    other = audio.tone(440, 3.0) + rng.normal(0, 0.05, 3 * rate)
    assert audio.find_prompt(other, prompt, rate).score < 0.3
    with pytest.raises(AssertionError, match="not found"):
        audio.wav_contains_prompt(audio.write_wav(tmp_path / "o.wav", other), prompt_wav)


def test_prompt_heard_through_jitter_buffer_slips_is_recognised_by_its_pieces(
        tmp_path: Path) -> None:
    """A phone's jitter buffer that drops a 20 ms frame every half second (what pjsua2 did
    to welcome-sales in the shipped-config queue test): the correlation over seconds falls
    below 0.5, the quarter-second pieces agree on where the prompt starts; another prompt is
    still not found; a recording still being written is read up to its last buffer."""
    prompts = Path(__file__).resolve().parents[2] / "prompts" / "en"
    prompt, rate = audio.read_wav(prompts / "welcome-sales.wav")
    frame, every = 160, rate // 2
    slipped = np.concatenate([prompt[i:i + every - frame] for i in range(0, len(prompt), every)])
    rec = _mulaw_roundtrip(np.concatenate([np.zeros(rate // 10), slipped[:int(3.5 * rate)]]))
    heard = audio.write_wav(tmp_path / "slipped.wav", rec)
    assert audio.find_prompt(rec, prompt, rate).score < 0.5  # one segment across slips
    match = audio.wav_contains_prompt(heard, prompts / "welcome-sales.wav")
    assert abs(match.lag_s - 0.1) < 0.1 and match.matched_s >= 3.0
    with pytest.raises(AssertionError, match="quarter-second pieces"):
        audio.wav_contains_prompt(heard, prompts / "survey-question.wav")
    # pjmedia's header says 0 bytes of data until the recording stops
    data = heard.read_bytes()
    tag = data.find(b"data")
    growing = tmp_path / "growing.wav"
    growing.write_bytes(data[:tag + 4] + bytes(4) + data[tag + 8:tag + 8 + 2 * rate])
    part, part_rate = audio.read_partial_wav(growing)
    assert part_rate == rate and np.array_equal(part, audio.read_wav(heard)[0][:rate])


def _spoken_prompt(tmp_path: Path, text: str = "Please hold, an agent will be with you") -> Path:
    """A speech prompt from espeak-ng (Debian), resampled to 8 kHz mono."""
    raw = tmp_path / "prompt-raw.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    sig, rate = audio.read_wav(raw)
    return audio.write_wav(tmp_path / "prompt.wav",
                           audio.resample(sig, rate, audio.RATE) * 0.8)


# --- pjsua2 phones ----------------------------------------------------------------------------

def test_pjsua2_registers_with_digest_over_udp_and_tcp_and_wrong_password_is_refused(
        phone_factory: Callable[..., Phone], kamailio_factory: Callable[..., Kamailio]) -> None:
    kam = kamailio_factory(CALLERS)
    phone = phone_factory("alice")
    (u1, p1), (u2, p2) = CALLERS[0], CALLERS[1]
    assert phone.register(u1, p1, kam.host, kam.port, transport="udp").ok
    assert phone.register(u2, p2, kam.host, kam.port, transport="tcp").ok
    bad = phone.register(CALLERS[2][0], "not-the-password", kam.host, kam.port)
    assert bad.code in (401, 403) and not bad.ok
    assert phone.unregister(u1).code == 200


def test_two_pjsua2_phones_call_through_kamailio_with_audio_dtmf_and_hold(
        phone_factory: Callable[..., Phone], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    alice, bob = phone_factory("alice"), phone_factory("bob")
    (ua, pa), (ub, pb) = CALLERS[0], CALLERS[1]
    assert alice.register(ua, pa, kam.host, kam.port).ok
    assert bob.register(ub, pb, kam.host, kam.port, transport="tcp").ok

    call = alice.call(f"sip:{ub}@{kam.host}:{kam.port}")
    incoming = bob.wait_incoming()
    assert f"sip:{ua}@" in bob.incoming(incoming)["from"]
    alice.wait_call_state(call, "EARLY")  # bob's phone sends 180 by itself
    bob.answer(incoming)
    alice.wait_call_state(call, "CONFIRMED")
    alice.wait_media(call)
    bob.wait_media(incoming)

    exercise_answered_call(alice, call, bob, incoming, tmp_path)


def test_prompt_played_by_one_phone_is_recognised_at_the_other(
        phone_factory: Callable[..., Phone], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    alice, bob = phone_factory("alice"), phone_factory("bob")
    (ua, pa), (ub, pb) = CALLERS[0], CALLERS[1]
    assert alice.register(ua, pa, kam.host, kam.port).ok
    assert bob.register(ub, pb, kam.host, kam.port).ok
    prompt = _spoken_prompt(tmp_path)
    call = alice.call(f"sip:{ub}@{kam.host}:{kam.port}")
    incoming = bob.wait_incoming()
    bob.record(incoming, tmp_path / "bob.wav")
    bob.answer(incoming)
    alice.wait_media(call)
    alice.play(call, prompt, loop=False)
    time.sleep(4.0)  # the prompt is ~3 s long
    match = audio.wav_contains_prompt(bob.stop_record(incoming), prompt, min_score=0.6)
    assert match.lag_s > 0
    alice.hangup(call)
    bob.wait_call_state(incoming, "DISCONNECTED")


# --- baresip ---------------------------------------------------------------------------------

def test_baresip_calls_pjsua2_through_kamailio_and_tones_cross_both_ways(
        phone_factory: Callable[..., Phone], baresip_factory: Callable[..., Baresip],
        kamailio_factory: Callable[..., Kamailio], tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    (ua, pa), (ub, pb) = CALLERS[0], CALLERS[1]
    bs = baresip_factory("bs", audio.tone_wav(tmp_path / "bs.wav", 1000, seconds=20),
                         [BaresipAccount(ub, pb, kam.host, kam.port)])
    assert bs.wait_registered() == {ub: "OK"}
    alice = phone_factory("alice")
    assert alice.register(ua, pa, kam.host, kam.port).ok

    bs.dial(f"sip:{ua}@{kam.host}:{kam.port}")
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


def test_baresip_with_wrong_password_does_not_register(
        baresip_factory: Callable[..., Baresip], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    bs = baresip_factory("bad", audio.tone_wav(tmp_path / "t.wav", 1000, seconds=1),
                         [BaresipAccount(CALLERS[0][0], "wrong", kam.host, kam.port,
                                         transport="tcp")])
    with pytest.raises(AssertionError, match="registration failed"):
        bs.wait_registered()


def test_sipp_uas_answers_a_retransmitted_invite_with_its_200_again(
        sipp: Callable[..., Sipp]) -> None:
    uas_port = free_port()
    uas = sipp("uas.xml", None, local_port=uas_port, trace_msg=True).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        port = sock.getsockname()[1]

        def request(method: str, cseq: int, branch: str, to_tag: str = "") -> bytes:
            return (f"{method} sip:uas@127.0.0.1:{uas_port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\n"
                    f"From: <sip:a@127.0.0.1>;tag=abc\r\nTo: <sip:uas@127.0.0.1>{to_tag}\r\n"
                    f"Call-ID: retrans-test\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
                    f"Contact: <sip:a@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n").encode()

        def until(code: str) -> str:
            while True:
                msg = sock.recv(65535).decode()
                if msg.startswith(f"SIP/2.0 {code}"):
                    return msg

        invite = request("INVITE", 1, "inv1")
        sock.sendto(invite, ("127.0.0.1", uas_port))
        first = until("200")
        sock.sendto(invite, ("127.0.0.1", uas_port))  # as if the 200 was late
        again = until("200")
        to_tag = ";tag=" + first.split("To:")[1].split("tag=")[1].split("\r\n")[0]
        assert to_tag in again
        sock.sendto(request("ACK", 1, "ack1", to_tag), ("127.0.0.1", uas_port))
        sock.sendto(request("BYE", 2, "bye1", to_tag), ("127.0.0.1", uas_port))
        until("200")
    res = uas.stop()
    assert (res.successful, res.failed) == (1, 0), res.output


# --- the switch fixture -------------------------------------------------------------------------

def test_switch_fixture_starts_on_free_ports_and_answers_sip(switch: RunningSwitch) -> None:
    assert switch.ready_event["event"] == "switch ready"
    assert f"udp:{switch.address}" in switch.ready_event["sip"]
    assert f"tcp:{switch.host}:{switch.sip_port('tcp')}" in switch.ready_event["sip"]
    reply = sip_options(switch.host, switch.port, timeout=2.0)
    assert reply is not None and reply.startswith(b"SIP/2.0 ")
    assert switch.db_path.parent == switch.workdir
    assert any(line.get("event") == "switch ready" for line in switch.log_lines())


def test_a_switch_that_cannot_start_reports_its_own_error(tmp_path: Path) -> None:
    config = build_config(tmp_path, extensions=[{"number": "12a", "password": "x"}])
    with pytest.raises(SwitchStartError) as err:
        start_switch(tmp_path, config, timeout=30)
    message = str(err.value)
    assert "softswitch exited with status" in message
    assert "extensions[3].number" in message  # the switch's own complaint, naming the key


def test_stopping_the_switch_with_sigterm_exits_cleanly(tmp_path: Path) -> None:
    running = start_switch(tmp_path, build_config(tmp_path), timeout=30)
    assert running.alive()
    assert running.stop() == 0
    assert not running.alive()


def test_sipp_registers_over_tcp(sipp: Callable[..., Sipp],
                                 kamailio_factory: Callable[..., Kamailio],
                                 tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    inf = injection_file(tmp_path / "reg-tcp.csv",
                         [(u, p, "127.0.0.1", "127.0.0.1:5999") for u, p in CALLERS])
    res = sipp("register_auth.xml", kam.address, inf=inf, rate=20, max_calls=10,
               transport="t1", trace_msg=True).run(30)
    assert (res.successful, res.failed) == (10, 0), res.output
    sent = sipp_messages(tmp_path)
    assert "TCP message sent" in sent and "Via: SIP/2.0/TCP" in sent


def sipp_messages(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace")
                     for p in (tmp_path / "sipp").glob("*/messages.log"))
