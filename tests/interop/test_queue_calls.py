"""Queue calls over real sockets with pjsua2 phones (issue 5; spec/queue-admin.md §2-§9):
what the caller hears (join announcement, music, position), which agent rings, the bridge,
hang-up and wrap-up."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import audio
import pytest
from phones import Phone, wait_wav_complete
from queue_support import PROMPTS, assert_music, assert_prompt_pieces, wait_prompt_heard

from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

CALLERS = [(f"30{i:02d}", f"caller-{i}-pw") for i in range(4)]
AGENTS = [(f"20{i:02d}", f"agent-{i}-pw") for i in range(4)]
EXTENSIONS = [Extension(u, p) for u, p in CALLERS] + [
    Extension(u, p, agent_id=f"0{i}7") for i, (u, p) in enumerate(AGENTS)]


def queue(number: str = "6450", **kw: Any) -> dict[str, Any]:
    q: dict[str, Any] = {"number": number, "name": "Sales", "strategy": "ring_all",
                         "static_agents": [AGENTS[0][0]], "ring_timeout": 20,
                         "retry_interval": 1, "wrapup": 0, "alert_info": "sales-queue",
                         "prompts": {"join_announcement": "welcome-to-queue",
                                     "ringback_tone": "default", "language": "en"}}
    q.update(kw)
    return q


def register(phone: Phone, who: tuple[str, str], switch: RunningSwitch) -> None:
    assert phone.register(who[0], who[1], switch.host, switch.port).ok


def dial(phone: Phone, number: str, switch: RunningSwitch) -> int:
    return phone.call(f"sip:{number}@{switch.host}:{switch.port}")


FULL_PROMPT = {"join_announcement": "welcome-to-queue", "play_full_prompt_before_ringing": True,
               "ringback_tone": "default", "language": "en", "announce_agent_id": True}


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[queue(wrapup=3, prompts=FULL_PROMPT)])
def test_basic_queue_call(switch: RunningSwitch, phone_factory: Callable[..., Phone],
                          tmp_path: Path) -> None:
    """The caller hears the whole join announcement (5.9 s) before the agent's phone rings
    (with the queue name in the display), then music; on answer the agent ID is announced to
    both and both talk through the relay; the agent's BYE ends the caller's call; during
    wrap-up the next caller does not ring the agent."""
    caller, agent = phone_factory("caller"), phone_factory("agent")
    register(caller, CALLERS[0], switch)
    register(agent, AGENTS[0], switch)

    call = dial(caller, "6450", switch)
    caller.wait_call_state(call, "CONFIRMED")  # the switch answers the queue call
    caller.wait_media(call)
    caller.record(call, tmp_path / "caller-heard.wav")
    started = time.monotonic()
    incoming = agent.wait_incoming(timeout=15)
    assert time.monotonic() - started > 5.0  # "play the full prompt before ringing"
    assert agent.incoming(incoming)["from"].startswith(f'"Sales: {CALLERS[0][0]}"')
    time.sleep(2.0)  # music while the agent's phone rings
    agent.answer(incoming)
    agent.wait_call_state(incoming, "CONFIRMED")
    agent.wait_media(incoming)
    agent.play(incoming, audio.tone_wav(tmp_path / "agent.wav", 1000))
    caller.play(call, audio.tone_wav(tmp_path / "caller.wav", 440))
    agent.record(incoming, tmp_path / "agent-heard.wav")
    time.sleep(5.5)  # agent ID announcement ("Agent number 0 0 7", ~3.6 s) then the bridge
    heard = caller.stop_record(call)
    agent_heard = agent.stop_record(incoming)

    audio.wav_contains_prompt(heard, PROMPTS / "en" / "welcome-to-queue.wav")
    assert_music(heard, 6.2, 7.6)
    audio.wav_contains_prompt(heard, PROMPTS / "en" / "agent-id-prefix.wav")
    # "Agent number 0 0 7" (agent_id 007) to both sides; the agent's recording starts late
    audio.wav_contains_prompt(heard, PROMPTS / "en" / "num-7.wav")
    audio.wav_contains_prompt(agent_heard, PROMPTS / "en" / "num-7.wav")
    audio.wav_has_tone(heard, 1000, min_seconds=1.0)
    audio.wav_has_tone(agent_heard, 440, min_seconds=1.0)

    hung_up = time.monotonic()
    agent.hangup(incoming)
    assert caller.wait_call_state(call, "DISCONNECTED")["code"] == 200

    # wrap-up (3 s): a new caller waits; the agent rings only when it is over
    call2 = dial(caller, "6450", switch)
    caller.wait_call_state(call2, "CONFIRMED")
    second = agent.wait_incoming(timeout=10)
    assert agent.incoming(second)["t"] - hung_up >= 2.5
    agent.answer(second, 486)
    caller.hangup(call2)
    caller.wait_call_state(call2, "DISCONNECTED")
    # one CDR per queue call: callee = the queue, the agent's hang-up, then the caller's
    assert cdr_rows(switch, 2) == [
        (CALLERS[0][0], "6450", "ANSWERED", "callee", "agent hung up"),
        (CALLERS[0][0], "6450", "ANSWERED", "caller", "BYE (waiting)")]


SURVEY = {"prompt": "survey-question", "end_prompt": "survey-thanks", "scores": {"1": 5, "2": 1}}


def cdr_rows(switch: RunningSwitch, want: int, timeout: float = 5.0) -> list[tuple]:
    """(caller, callee, disposition, hangup_side, hangup_cause) of the CDRs, polled until
    ``want`` rows are written (the store commits in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(switch.db_path)
        try:
            rows = con.execute("SELECT caller, callee, disposition, hangup_side, hangup_cause"
                               " FROM cdr WHERE state='closed' ORDER BY id").fetchall()
        finally:
            con.close()
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def survey_rows(switch: RunningSwitch, want: int, timeout: float = 5.0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(switch.db_path)
        try:
            rows = con.execute("SELECT queue, agent, caller, key, score FROM surveys").fetchall()
        except sqlite3.OperationalError:
            rows = []
        finally:
            con.close()
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[queue(
    "6451", satisfaction_survey=SURVEY,
    prompts={"ringback_tone": "default", "hold_music": "default", "language": "en"})])
def test_hold_music_and_survey(switch: RunningSwitch, phone_factory: Callable[..., Phone],
                               tmp_path: Path) -> None:
    """Keys reach the other party (RFC 4733 relayed, SIP INFO relayed). The agent holds
    (re-INVITE sendonly): the caller hears the hold music, then the agent again after
    resuming. The agent hangs up: the caller hears the survey, presses 2, hears
    the thanks and the switch hangs up; the key and its score are stored."""
    caller, agent = phone_factory("caller"), phone_factory("agent")
    register(caller, CALLERS[0], switch)
    register(agent, AGENTS[0], switch)
    call = dial(caller, "6451", switch)
    incoming = agent.wait_incoming(timeout=10)
    agent.answer(incoming)
    agent.wait_call_state(incoming, "CONFIRMED")
    caller.wait_media(call)
    agent.wait_media(incoming)
    agent.play(incoming, audio.tone_wav(tmp_path / "agent.wav", 1000))

    # key presses between the talking parties: RFC 4733 through the relay, SIP INFO relayed
    caller.send_dtmf(call, "3", method="rfc2833")
    agent.wait_dtmf("3", incoming)
    caller.send_dtmf(call, "7", method="info")
    agent.wait_dtmf("37", incoming)
    assert agent.dtmf_methods(incoming)[-1] == "info"
    agent.send_dtmf(incoming, "9", method="info")
    caller.wait_dtmf("9", call)

    mark = agent.mark()
    agent.hold(incoming)
    agent.wait_media(incoming, "LOCAL_HOLD", since=mark)
    caller.record(call, tmp_path / "on-hold.wav")
    time.sleep(3.0)
    held = caller.stop_record(call)
    # the music is heard for seconds on end (its first 1.4 s are left to a switch that is
    # slow under load), and nothing of the agent's tone while on hold
    assert_music(held, 1.4, 2.8)
    assert audio.detect_tone(*audio.read_wav(held), 1000).frames_with_tone == 0
    mark = agent.mark()
    agent.unhold(incoming)
    agent.wait_media(incoming, "ACTIVE", since=mark)
    caller.record(call, tmp_path / "resumed.wav")
    time.sleep(2.5)
    audio.wav_has_tone(caller.stop_record(call), 1000, min_seconds=1.0)

    recording = tmp_path / "survey.wav"
    caller.record(call, recording)
    agent.hangup(incoming)
    # the survey question (8.7 s) is playing: the caller answers early, once its first 3 s
    # were heard (when the switch starts it is not assumed)
    wait_prompt_heard(recording, PROMPTS / "en" / "survey-question.wav", 3.0)
    caller.send_dtmf(call, "2")
    assert caller.wait_call_state(call, "DISCONNECTED", timeout=10)["code"] == 200
    wait_wav_complete(recording)
    assert_prompt_pieces(recording, PROMPTS / "en" / "survey-question.wav", 3.0)
    assert_prompt_pieces(recording, PROMPTS / "en" / "survey-thanks.wav", 1.75)
    assert survey_rows(switch, 1) == [("6451", AGENTS[0][0], CALLERS[0][0], "2", 1)]
    # the report row's hold duration (§8.2): the agent held for the ~2.3 s recorded above
    con = sqlite3.connect(switch.db_path)
    try:
        [(talk, hold)] = con.execute("SELECT talk, hold FROM queue_calls").fetchall()
    finally:
        con.close()
    assert 2.0 <= hold < talk
