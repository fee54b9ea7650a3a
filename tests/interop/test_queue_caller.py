"""What a queue caller hears and can do over real SIP (spec/queue-admin.md §2.5, §4, §9.7):
position announcements, a key press to a destination, the callback (manual §4.2: the agent
is called first, then the customer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import audio
import numpy as np
import pytest
from phones import Phone, wait_wav_complete
from queue_support import (
    EN,
    call_and_press,
    phone,
    poll_rows,
    queue_config,
    wait_prompt_heard,
)

from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

CALLER = ("3000", "caller-pw")
OTHER = ("3001", "other-pw")  # key-press destination
CUSTOMER = ("30010", "customer-pw")  # the callback number the caller types
AGENT = ("2000", "agent-pw")
EXTENSIONS = [Extension(*x) for x in (CALLER, OTHER, CUSTOMER, AGENT)]


def queue(number: str, **kw: Any) -> dict[str, Any]:
    return queue_config(number, "Support", **{"static_agents": [AGENT[0]], **kw})


ANNOUNCING = queue("6460", prompts={
    "ringback_tone": "default", "announce_position": True, "play_thank_you": True,
    "position_announcement_frequency": 8, "language": "en"},
    key_press_events=[{"key": "5", "destination": {"type": "extension", "target": OTHER[0]}}])
CALLBACK = queue("6461", callback={"method": "press_key", "key": "1"})


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[ANNOUNCING])
def test_position_announcement_and_key_press(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Nobody can answer: 8 s after joining, the only caller (nobody ahead) hears "your call
    is now first in line and will be answered by the next available representative. Thank
    you for your patience" between music; pressing 5 (sent as SIP INFO) takes the caller
    to extension 3001."""
    caller, other = phone(phone_factory, CALLER, switch), phone(phone_factory, OTHER, switch)
    call = caller.call(f"sip:6460@{switch.host}:{switch.port}")
    caller.wait_call_state(call, "CONFIRMED")
    caller.wait_media(call)
    caller.record(call, tmp_path / "heard.wav")
    # the whole first-in-line sentence heard (its last part ends it), not a fixed sleep
    thank_you = EN / "thank-you-for-patience.wav"
    wait_prompt_heard(tmp_path / "heard.wav", thank_you, _seconds(thank_you),
                      timeout=30)
    heard = caller.stop_record(call)
    first = audio.wav_contains_prompt(heard, EN / "no-callers-ahead.wav")
    assert 7.0 < first.lag_s < 9.0  # the first announcement after 8 s
    thanks = audio.wav_contains_prompt(heard, EN / "thank-you-for-patience.wav")
    assert thanks.lag_s > first.lag_s + 5.0  # after the whole first-in-line sentence

    caller.send_dtmf(call, "5", method="info")  # SIP INFO (application/dtmf-relay)
    incoming = other.wait_incoming(timeout=10)
    assert f"sip:{CALLER[0]}@" in other.incoming(incoming)["from"]
    other.answer(incoming)
    other.wait_call_state(incoming, "CONFIRMED")
    other.wait_media(incoming)
    other.play(incoming, audio.tone_wav(tmp_path / "other.wav", 1000))
    caller.play(call, audio.tone_wav(tmp_path / "caller.wav", 600))
    caller.record(call, tmp_path / "transferred.wav")
    time.sleep(2.5)
    audio.wav_has_tone(caller.stop_record(call), 1000, min_seconds=1.0)
    other.hangup(incoming)
    assert caller.wait_call_state(call, "DISCONNECTED")["code"] == 200
    # the transferred call is recorded like an extension call (caller left, 3001 right);
    # the caller's call record names the file
    [(recording,)] = poll_rows(switch.db_path,
                               "SELECT recording FROM cdr WHERE recording IS NOT NULL")
    audio.assert_stereo_channels(recording, 600, 1000, 2.5)


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[CALLBACK])
def test_callback_agent_first_then_customer(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Manual §4.2: no idle agent; the caller presses 1, hears their number read back, presses
    2 and types 123# (too short: "invalid number", still waiting), then 1, 2 and 30010#; the
    switch confirms and hangs up. When the agent's phone registers, the AGENT rings first;
    on answer the customer's phone (30010) rings; both talk."""
    caller = phone(phone_factory, CALLER, switch)
    customer = phone(phone_factory, CUSTOMER, switch)
    call = caller.call(f"sip:6461@{switch.host}:{switch.port}")
    caller.wait_call_state(call, "CONFIRMED")
    caller.wait_media(call)
    recording = tmp_path / "callback.wav"
    caller.record(call, recording)
    time.sleep(0.5)
    caller.send_dtmf(call, "1")
    time.sleep(4.5)  # "your callback number is 3 0 0 0; press 1 to confirm or 2 to change"
    caller.send_dtmf(call, "2")
    time.sleep(1.0)
    caller.send_dtmf(call, "123#")
    time.sleep(2.5)  # "invalid number"
    caller.send_dtmf(call, "1")
    time.sleep(1.0)
    caller.send_dtmf(call, "2")
    time.sleep(0.5)
    caller.send_dtmf(call, "30010#")
    # "your callback has been confirmed ... goodbye", then the switch hangs up
    assert caller.wait_call_state(call, "DISCONNECTED", timeout=15)["code"] == 200
    wait_wav_complete(recording)
    heard = recording
    audio.wav_contains_prompt(heard, EN / "callback-number-confirm-prefix.wav")
    audio.wav_contains_prompt(heard, EN / "invalid-number.wav")
    audio.wav_contains_prompt(heard, EN / "callback-confirmed.wav")

    agent = phone(phone_factory, AGENT, switch)  # an agent becomes available
    ring = agent.wait_incoming(timeout=10)
    assert "callback" in agent.incoming(ring)["from"]
    time.sleep(1.0)
    with pytest.raises(AssertionError):
        customer.wait_incoming(timeout=0.5)  # the customer is called only after the agent
    agent.answer(ring)
    agent.wait_call_state(ring, "CONFIRMED")
    cust = customer.wait_incoming(timeout=10)
    customer.answer(cust)
    customer.wait_call_state(cust, "CONFIRMED")
    customer.wait_media(cust)
    agent.wait_media(ring)
    customer.play(cust, audio.tone_wav(tmp_path / "customer.wav", 1000))
    agent.play(ring, audio.tone_wav(tmp_path / "agent.wav", 440))
    agent.record(ring, tmp_path / "agent-heard.wav")
    customer.record(cust, tmp_path / "customer-heard.wav")
    time.sleep(4.0)  # the agent hears "please hold while we try to connect you" (2.2 s) first
    audio.wav_has_tone(agent.stop_record(ring), 1000, min_seconds=1.0)
    audio.wav_has_tone(customer.stop_record(cust), 440, min_seconds=1.0)
    customer.hangup(cust)
    assert agent.wait_call_state(ring, "DISCONNECTED")["code"] == 200
    # the callback conversation is recorded: the customer left, the agent right, and the
    # queue call's report row names the file
    [(recording,)] = poll_rows(switch.db_path, "SELECT recording FROM queue_calls"
                                       " WHERE callback = 1 AND recording IS NOT NULL")
    audio.assert_stereo_channels(recording, 1000, 440, 2.5)


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[CALLBACK])
def test_silent_caller_in_the_callback_dialogue_is_rung_when_an_agent_frees(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """The caller presses 1 and then nothing: after 15 s of silence the callback prompt is
    played again, after 15 s more the caller is back in line (§4.2: a callback *can* be
    requested). An agent who registers right after the repeat is rung only when the
    dialogue has ended, for the caller, who talks. Nothing here sleeps for the switch's
    timers: the test waits until the caller has heard the prompt again, and for the ring."""
    caller = phone(phone_factory, CALLER, switch)
    call = call_and_press(caller, switch, "6461", "1")
    pressed = time.monotonic()
    prompt = EN / "callback-number-confirm-prefix.wav"
    caller.record(call, tmp_path / "first.wav")
    wait_prompt_heard(tmp_path / "first.wav", prompt, 1.0, timeout=10)
    caller.stop_record(call)
    caller.record(call, tmp_path / "again.wav")  # a new file: the next time it is heard
    wait_prompt_heard(tmp_path / "again.wav", prompt, 1.0, timeout=30)
    repeated = time.monotonic()
    caller.stop_record(call)
    # 15 s after the key press, plus the second of it the wait needs to recognise it
    assert 14.0 < repeated - pressed < 21.0
    agent = phone(phone_factory, AGENT, switch)  # an agent becomes available now
    ring = agent.wait_incoming(timeout=30)
    # ... and rings only when the second silence (15 s from the repeat's start) has ended
    # the dialogue: a caller entering a number is not offered
    assert time.monotonic() - repeated > 11.0
    assert "callback" not in agent.incoming(ring)["from"]  # the caller is on the line
    agent.answer(ring)
    agent.wait_call_state(ring, "CONFIRMED")
    agent.wait_media(ring)
    agent.play(ring, audio.tone_wav(tmp_path / "agent.wav", 440))
    caller.record(call, tmp_path / "talk.wav")
    time.sleep(2.0)
    audio.wav_has_tone(caller.stop_record(call), 440, min_seconds=1.0)
    agent.hangup(ring)
    assert caller.wait_call_state(call, "DISCONNECTED")["code"] == 200


def _seconds(wav: Path) -> float:
    samples, rate = audio.read_wav(wav)
    return len(samples) / rate


CAROL = ("1003", "carol-1003-secret")  # config.example.yaml's demo extensions
ALICE = ("1001", "alice-1001-secret")  # a static agent of 6400 Sales


@pytest.mark.switch_config(overrides={"smtp": None})
def test_a_caller_to_sales_on_the_shipped_config_hears_the_welcome(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """config.example.yaml as shipped (only ports and files moved): a caller to 6400 hears
    its join announcement, welcome-sales, from the first second (the agent's phone rings
    meanwhile and is not answered).

    Once an open defect (a non-strict xfail: "fails after the whole suite"): the prompt was
    heard word for word, but the phone's jitter buffer slipped a frame now and then (the
    switch's 20 ms clock and the phone's nearly in phase: empty for a frame, a frame dropped
    later), and one correlation over 2 s across a slip scored 0.28-0.48. It failed alone as
    well, by chance of the phase, not by order. The prompt is now also recognised by its
    quarter-second pieces agreeing on one start (audio.wav_contains_prompt)."""
    agent = phone(phone_factory, ALICE, switch)  # a registered agent: the queue is not empty
    caller = phone(phone_factory, CAROL, switch)
    call = caller.call(f"sip:6400@{switch.host}:{switch.port}")
    caller.wait_call_state(call, "CONFIRMED")
    caller.wait_media(call)
    caller.record(call, tmp_path / "heard.wav")
    agent.wait_incoming(timeout=10)
    time.sleep(4.0)
    heard = caller.stop_record(call)
    rec, rate = audio.read_wav(heard)
    first_second = rec[: rate]
    assert 20 * np.log10(np.sqrt(np.mean(first_second ** 2)) + 1e-12) > -40  # not silence
    welcome = audio.wav_contains_prompt(heard, EN / "welcome-sales.wav")
    assert -1.0 < welcome.lag_s < 1.0  # the recording starts with it
    caller.hangup(call)
