"""Queue calls over real sockets with pjsua2 phones (issue 5; spec/queue-admin.md §2-§9):
what the caller hears (join announcement, music, position), which agent rings, the bridge,
hang-up and wrap-up."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import audio
import numpy as np
import pytest
from phones import Phone

from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
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


def assert_music(recording: Path, start: float, end: float) -> None:
    """The recording between start and end s is a piece of the music-on-hold track (the
    shared stream runs on its own, so the piece is searched for anywhere in the track)."""
    rec, rate = audio.read_wav(recording)
    moh, moh_rate = audio.read_wav(PROMPTS / "moh" / "default.wav")
    moh = audio.resample(moh, moh_rate, rate)
    piece = rec[int(start * rate):int(end * rate)]
    match = audio.find_prompt(np.concatenate([moh, moh]), piece, rate)
    assert match.score > 0.8, f"no music on hold in {recording} at {start}-{end} s: {match}"


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
    time.sleep(4.0)  # agent ID announcement (~2.5 s) then the bridge
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

    agent.hangup(incoming)
    assert caller.wait_call_state(call, "DISCONNECTED")["code"] == 200

    # wrap-up (3 s): a new caller waits; the agent rings only when it is over
    call2 = dial(caller, "6450", switch)
    caller.wait_call_state(call2, "CONFIRMED")
    started = time.monotonic()
    second = agent.wait_incoming(timeout=10)
    assert time.monotonic() - started >= 1.5
    agent.answer(second, 486)
    caller.hangup(call2)
    caller.wait_call_state(call2, "DISCONNECTED")
