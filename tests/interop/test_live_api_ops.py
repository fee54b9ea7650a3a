"""The live API's call operations on real calls of pjsua2 phones (softswitch.web.callops,
softswitch.calls.monitor): monitoring lets the manager's phone hear the caller and agent
(listen), be heard by the agent only (whisper) or by both (barge); a transfer sends the
caller to another phone; a park moves the caller into a slot another phone retrieves; a
hang-up ends the call on both phones; a recording start writes the call's WAV. An
answered queue call parked from the panel: the caller hears music in the slot, the agent is
free, and another phone dialling the slot (or the agent rung back at the timeout) talks with
the caller."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import audio
import numpy as np
import pytest
from phones import Phone, wait_wav_complete
from queue_support import assert_music, phone, poll_rows, queue_config

from benchmarks.peers.switch import Extension, RunningSwitch

CALLER = ("3000", "caller-pw")
AGENT = ("2000", "agent-pw")
MANAGER = ("2900", "manager-pw")
TARGET = ("2100", "target-pw")
EXTENSIONS = [Extension(*x) for x in (CALLER, AGENT, MANAGER, TARGET)]
QUEUE = queue_config("6471", "Ops", static_agents=[AGENT[0]], managers=[MANAGER[0]])
CONFIG = {"extensions": EXTENSIONS, "queues": [QUEUE],
          "overrides": {"recording": {"queues": False, "extensions": False}}}
CALLER_TONE, AGENT_TONE, MANAGER_TONE, TARGET_TONE = 440, 1000, 1800, 700


class Api:
    """REST as one extension."""

    def __init__(self, switch: RunningSwitch, who: tuple[str, str]) -> None:
        self.base = switch.http_url + "/api/v1"
        status, body = self.post("/login", {"extension": who[0], "password": who[1]},
                                 auth=False)
        assert status == 200, body
        self.token = body["token"]

    def post(self, path: str, body: Any = None, auth: bool = True) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, method="POST", headers=headers,
                                     data=json.dumps(body).encode() if body is not None
                                     else None)
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def get(self, path: str) -> Any:
        req = urllib.request.Request(self.base + path,
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as reply:
            return json.loads(reply.read())


def dial(p: Phone, number: str, switch: RunningSwitch) -> int:
    return p.call(f"sip:{number}@{switch.host}:{switch.port}")


def answered_queue_call(switch: RunningSwitch, caller: Phone, agent: Phone,
                        api: Api) -> tuple[int, int, str]:
    """The caller's call into the queue, answered by the agent; (caller call, agent call,
    the queue call's id from the panel)."""
    call = dial(caller, QUEUE["number"], switch)
    caller.wait_call_state(call, "CONFIRMED")
    incoming = agent.wait_incoming(timeout=15)
    agent.answer(incoming)
    agent.wait_call_state(incoming, "CONFIRMED")
    agent.wait_media(incoming)
    caller.wait_media(call)
    for _ in range(100):
        active = api.get(f"/queues/{QUEUE['number']}")["active"]
        if active:
            return call, incoming, active[0]["id"]
        time.sleep(0.05)
    raise AssertionError("the answered call is not on the panel")


def tones(caller: Phone, call: int, agent: Phone, incoming: int, tmp_path: Path) -> None:
    caller.play(call, audio.tone_wav(tmp_path / "caller.wav", CALLER_TONE))
    agent.play(incoming, audio.tone_wav(tmp_path / "agent.wav", AGENT_TONE))


def monitoring(api: Api, path: str, mode: str, manager: Phone, tmp_path: Path) -> int:
    """The manager asks to monitor in ``mode``; its phone answers and plays its tone."""
    status, body = api.post(path, {"mode": mode})
    assert status == 200, body
    mon = manager.wait_incoming(timeout=10)
    manager.answer(mon)
    manager.wait_call_state(mon, "CONFIRMED")
    manager.wait_media(mon)
    manager.play(mon, audio.tone_wav(tmp_path / "manager.wav", MANAGER_TONE))
    return mon


def heard(tmp_path: Path, name: str, seconds: float,
          **calls: tuple[Phone, int]) -> dict[str, Path]:
    """What each phone (by name: (phone, call)) heard during ``seconds``."""
    for who, (p, c) in calls.items():
        p.record(c, tmp_path / f"{who}-{name}.wav")
    time.sleep(seconds)
    return {who: p.stop_record(c) for who, (p, c) in calls.items()}


MIXED = 0.2  # a tone's share of a frame's power when two or three are mixed


def absent(path: Path, freq: float) -> None:
    signal, rate = audio.read_wav(path)
    rep = audio.detect_tone(signal, rate, freq, min_share=MIXED)
    assert rep.seconds_with_tone < 0.3, (path, freq, rep)


def present(path: Path, freq: float, seconds: float = 1.5) -> None:
    audio.wav_has_tone(path, freq, min_seconds=seconds, min_share=MIXED)


@pytest.mark.switch_config(**CONFIG)
def test_listen_whisper_barge(switch: RunningSwitch, phone_factory: Callable[..., Phone],
                              tmp_path: Path) -> None:
    caller, agent = phone(phone_factory, CALLER, switch), phone(phone_factory, AGENT, switch)
    manager = phone(phone_factory, MANAGER, switch)
    api = Api(switch, MANAGER)
    call, incoming, call_id = answered_queue_call(switch, caller, agent, api)
    tones(caller, call, agent, incoming, tmp_path)
    path = f"/queues/{QUEUE['number']}/calls/{call_id}/monitor"
    heard: dict[str, dict[str, Path]] = {}
    for mode in ("listen", "whisper", "barge"):
        mon = monitoring(api, path, mode, manager, tmp_path)
        time.sleep(0.5)  # the mix is in place
        caller.record(call, tmp_path / f"caller-{mode}.wav")
        agent.record(incoming, tmp_path / f"agent-{mode}.wav")
        manager.record(mon, tmp_path / f"manager-{mode}.wav")
        time.sleep(3.0)
        heard[mode] = {"caller": caller.stop_record(call), "agent": agent.stop_record(incoming),
                       "manager": manager.stop_record(mon)}
        manager.hangup(mon)
        manager.wait_call_state(mon, "DISCONNECTED")
    for files in heard.values():
        # the manager hears both parties in every mode; caller and agent hear each other
        present(files["manager"], CALLER_TONE)
        present(files["manager"], AGENT_TONE)
        present(files["caller"], AGENT_TONE)
        present(files["agent"], CALLER_TONE)
    absent(heard["listen"]["agent"], MANAGER_TONE)
    absent(heard["listen"]["caller"], MANAGER_TONE)
    present(heard["whisper"]["agent"], MANAGER_TONE)
    absent(heard["whisper"]["caller"], MANAGER_TONE)
    present(heard["barge"]["agent"], MANAGER_TONE)
    present(heard["barge"]["caller"], MANAGER_TONE)
    # after the manager left, the two still talk (the bridge is back)
    caller.record(call, tmp_path / "caller-after.wav")
    time.sleep(2.0)
    present(caller.stop_record(call), AGENT_TONE, 1.0)
    caller.hangup(call)
    agent.wait_call_state(incoming, "DISCONNECTED")


@pytest.mark.switch_config(**CONFIG)
def test_transfer_sends_the_caller_to_another_phone(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    caller, agent = phone(phone_factory, CALLER, switch), phone(phone_factory, AGENT, switch)
    target = phone(phone_factory, TARGET, switch)
    api = Api(switch, MANAGER)
    call, incoming, call_id = answered_queue_call(switch, caller, agent, api)
    status, body = api.post(f"/queues/{QUEUE['number']}/calls/{call_id}/transfer",
                            {"target": TARGET[0], "party": "caller"})
    assert status == 200, body
    agent.wait_call_state(incoming, "DISCONNECTED")
    ringing = target.wait_incoming(timeout=10)
    target.answer(ringing)
    target.wait_call_state(ringing, "CONFIRMED")
    talk(caller, call, CALLER_TONE, target, ringing, TARGET_TONE, tmp_path)
    assert caller.call_states(call)[-1] == "CONFIRMED"  # the same call, never dropped
    target.hangup(ringing)
    caller.wait_call_state(call, "DISCONNECTED")


@pytest.mark.switch_config(**CONFIG)
def test_park_moves_the_caller_to_a_slot_another_phone_retrieves(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """An extension call of agent 2000 (caller 3000 dialled it): the manager parks the
    caller; 2100 dials the slot and talks with the caller."""
    caller, agent = phone(phone_factory, CALLER, switch), phone(phone_factory, AGENT, switch)
    target = phone(phone_factory, TARGET, switch)
    api = Api(switch, MANAGER)
    call = dial(caller, AGENT[0], switch)
    incoming = agent.wait_incoming(timeout=10)
    agent.answer(incoming)
    caller.wait_call_state(call, "CONFIRMED")
    caller.wait_media(call)
    me = api.get("/agents")
    assert me["agents"][0]["agent"] == AGENT[0]
    sip_call_id = caller.calls()[str(call)]["call_id"]
    status, body = api.post(f"/queues/{QUEUE['number']}/calls/{sip_call_id}/park",
                            {"party": "caller"})
    assert status == 200, body
    agent.wait_call_state(incoming, "DISCONNECTED")
    retrieve_and_hang_up(switch, body["slot"], target, caller, call, tmp_path)


def retrieve_and_hang_up(switch: RunningSwitch, slot: str, target: Phone, caller: Phone,
                         call: int, tmp_path: Path) -> None:
    """``target`` dials the park slot, talks with the parked caller, and hangs up: the
    caller's call ends."""
    talk_and_hang_up(caller, call, target, dial(target, slot, switch), TARGET_TONE,
                     tmp_path)


def talk_and_hang_up(caller: Phone, call: int, other: Phone, other_call: int, tone: int,
                     tmp_path: Path) -> None:
    """``other``'s call with the caller is confirmed, they hear each other's tones, and
    ``other`` hangs up: the caller's call ends."""
    other.wait_call_state(other_call, "CONFIRMED")
    talk(caller, call, CALLER_TONE, other, other_call, tone, tmp_path)
    other.hangup(other_call)
    caller.wait_call_state(call, "DISCONNECTED")


@pytest.mark.switch_config(**CONFIG)
def test_hang_up_ends_the_call_on_both_phones_and_recording_writes_a_wav(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    caller, agent = phone(phone_factory, CALLER, switch), phone(phone_factory, AGENT, switch)
    api = Api(switch, MANAGER)
    call, incoming, call_id = answered_queue_call(switch, caller, agent, api)
    tones(caller, call, agent, incoming, tmp_path)
    base = f"/queues/{QUEUE['number']}/calls/{call_id}"
    status, body = api.post(base + "/recording", {"action": "start"})
    assert status == 200 and body["recording"] == "recording", body
    wav = Path(body["path"])
    time.sleep(2.0)
    status, body = api.post(base + "/recording", {"action": "pause"})
    assert (status, body["recording"]) == (200, "paused")
    time.sleep(1.5)
    status, body = api.post(base + "/hangup")
    assert status == 200, body
    assert caller.wait_call_state(call, "DISCONNECTED")["code"] == 200
    agent.wait_call_state(incoming, "DISCONNECTED")
    wait_wav_complete(wav)
    left, right, rate = channels(wav)  # the caller, the agent (softswitch.calls.recording)
    assert len(left) / rate >= 3.0  # the paused stretch is kept as silence
    heard_caller = audio.detect_tone(left, rate, CALLER_TONE)
    heard_agent = audio.detect_tone(right, rate, AGENT_TONE)
    assert heard_caller.seconds_with_tone >= 1.2 and heard_agent.seconds_with_tone >= 1.2, \
        (heard_caller, heard_agent)
    assert heard_caller.seconds_with_tone < len(left) / rate - 1.0  # nothing while paused


def channels(path: Path) -> tuple[Any, Any, int]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (2, 2)
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    data = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    return data[0::2], data[1::2], rate


@pytest.mark.switch_config(**CONFIG)
def test_call_an_agent_rings_the_manager_then_the_agent(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    agent, manager = phone(phone_factory, AGENT, switch), phone(phone_factory, MANAGER, switch)
    api = Api(switch, MANAGER)
    status, body = api.post(f"/queues/{QUEUE['number']}/agents/{AGENT[0]}/call")
    assert status == 200, body
    first = manager.wait_incoming(timeout=10)
    manager.answer(first)
    manager.wait_media(first)
    second = agent.wait_incoming(timeout=10)
    assert MANAGER[0] in agent.incoming(second)["from"]
    agent.answer(second)
    talk(manager, first, MANAGER_TONE, agent, second, AGENT_TONE, tmp_path)
    agent.hangup(second)
    assert manager.wait_call_state(first, "DISCONNECTED")["code"] == 200


def parked_queue_call(switch: RunningSwitch, caller: Phone, agent: Phone, api: Api,
                      tmp_path: Path) -> tuple[int, str, str]:
    """The answered queue call parked by the manager: (caller call, call id, slot); the
    agent's phone was hung up, the caller hears music on hold, the panel shows no call and
    the agent idle."""
    call, incoming, call_id = answered_queue_call(switch, caller, agent, api)
    status, body = api.post(f"/queues/{QUEUE['number']}/calls/{call_id}/park", {})
    assert status == 200, body
    assert body["parked"]["kind"] == "queue" and body["parked"]["agent"] == AGENT[0]
    agent.wait_call_state(incoming, "DISCONNECTED")
    caller.record(call, tmp_path / "parked.wav")
    time.sleep(2.0)
    assert_music(caller.stop_record(call), 0.5, 1.5)
    assert caller.call_states(call)[-1] == "CONFIRMED"  # the same call, never dropped
    state = api.get(f"/queues/{QUEUE['number']}")
    assert state["active"] == [] and state["waiting"] == [], state
    assert [a["current_calls"] for a in state["agents"]] == [0], state["agents"]
    return call, call_id, body["slot"]


def talk(a: Phone, a_call: int, a_tone: int, b: Phone, b_call: int, b_tone: int,
         tmp_path: Path) -> None:
    """Two connected phones hear each other's tones."""
    b.wait_media(b_call)
    a.play(a_call, audio.tone_wav(tmp_path / "a.wav", a_tone))
    b.play(b_call, audio.tone_wav(tmp_path / "b.wav", b_tone))
    a.record(a_call, tmp_path / "a-heard.wav")
    b.record(b_call, tmp_path / "b-heard.wav")
    time.sleep(2.5)
    audio.wav_has_tone(a.stop_record(a_call), b_tone, min_seconds=1.0)
    audio.wav_has_tone(b.stop_record(b_call), a_tone, min_seconds=1.0)


@pytest.mark.switch_config(**CONFIG)
def test_park_a_queue_call_another_phone_retrieves_it_by_the_slot(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """§4.5 on a queue call: the caller waits in the slot with music, the agent's call ends
    for the ACD (Answered, talk up to the park), 2100 dials the slot and talks with the
    caller; the queue call's CDR row says where it went, the parked call has its own."""
    caller, agent = phone(phone_factory, CALLER, switch), phone(phone_factory, AGENT, switch)
    target = phone(phone_factory, TARGET, switch)
    api = Api(switch, MANAGER)
    call, call_id, slot = parked_queue_call(switch, caller, agent, api, tmp_path)
    rows = poll_rows(switch.db_path, "SELECT status, agent, talk, ended_at FROM queue_calls "
                     f"WHERE task = '{call_id}' AND ended_at IS NOT NULL")
    assert len(rows) == 1 and rows[0][:2] == ("answered", AGENT[0]) and rows[0][2] > 0, rows
    retrieve_and_hang_up(switch, slot, target, caller, call, tmp_path)
    sql = ("SELECT callee, disposition, hangup_cause FROM cdr WHERE call_id = "
           f"'{call_id}' AND end_time IS NOT NULL ORDER BY start_time")
    deadline = time.monotonic() + 5.0
    while len(rows := poll_rows(switch.db_path, sql)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rows == [(QUEUE["number"], "ANSWERED", f"parked in slot {slot} by {MANAGER[0]} "
                     "(live API)"), (slot, "ANSWERED", "BYE")], rows


PARK_TIMEOUT_CONFIG = {**CONFIG, "overrides": {**CONFIG["overrides"],  # type: ignore[dict-item]
                                               "parking": {"timeout": 10, "ring_back": 20}}}


@pytest.mark.switch_config(**PARK_TIMEOUT_CONFIG)
def test_park_timeout_of_a_queue_call_rings_the_agent_back(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Nobody retrieves the parked caller: at the park timeout the agent (the parker) is
    rung back, answers, and talks with the caller again, as for a phone's park."""
    caller, agent = phone(phone_factory, CALLER, switch), phone(phone_factory, AGENT, switch)
    api = Api(switch, MANAGER)
    call, _, _ = parked_queue_call(switch, caller, agent, api, tmp_path)
    back = agent.wait_incoming(timeout=20)  # 10 s in the slot
    assert CALLER[0] in agent.incoming(back)["from"]
    agent.answer(back)
    talk_and_hang_up(caller, call, agent, back, AGENT_TONE, tmp_path)


@pytest.mark.switch_config(**CONFIG)
def test_monitor_survives_the_supervisors_hold_and_resume(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """The manager barges in, then puts the monitor call on hold and resumes it: the
    monitored call goes on meanwhile (caller and agent hear each other, the manager is not
    heard), and after the resume the manager hears both again and both hear it."""
    caller, agent = phone(phone_factory, CALLER, switch), phone(phone_factory, AGENT, switch)
    manager = phone(phone_factory, MANAGER, switch)
    api = Api(switch, MANAGER)
    call, incoming, call_id = answered_queue_call(switch, caller, agent, api)
    tones(caller, call, agent, incoming, tmp_path)
    mon = monitoring(api, f"/queues/{QUEUE['number']}/calls/{call_id}/monitor", "barge",
                     manager, tmp_path)
    mark = manager.mark()
    manager.hold(mon)
    manager.wait_media(mon, "LOCAL_HOLD", since=mark)
    time.sleep(0.5)
    held = heard(tmp_path, "held", 2.5, caller=(caller, call), agent=(agent, incoming))
    present(held["caller"], AGENT_TONE)
    present(held["agent"], CALLER_TONE)
    absent(held["caller"], MANAGER_TONE)  # the held supervisor only listens
    absent(held["agent"], MANAGER_TONE)
    mark = manager.mark()
    manager.unhold(mon)
    manager.wait_media(mon, "ACTIVE", since=mark)
    time.sleep(0.5)
    resumed = heard(tmp_path, "resumed", 3.0, caller=(caller, call), agent=(agent, incoming),
                    manager=(manager, mon))
    present(resumed["manager"], CALLER_TONE)
    present(resumed["manager"], AGENT_TONE)
    present(resumed["caller"], MANAGER_TONE)
    present(resumed["agent"], MANAGER_TONE)
    present(resumed["caller"], AGENT_TONE)
    assert caller.call_states(call)[-1] == "CONFIRMED"
    assert agent.call_states(incoming)[-1] == "CONFIRMED"
    manager.hangup(mon)
    manager.wait_call_state(mon, "DISCONNECTED")
    caller.hangup(call)
    agent.wait_call_state(incoming, "DISCONNECTED")


@pytest.mark.switch_config(**CONFIG)
def test_pickup_declined_leaves_the_call_waiting_then_a_pickup_takes_it(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """§4.2: the manager's phone declines the pickup: the caller still waits in the queue
    (its agent's phone still rings) and nothing hung up; a second pickup answered: the
    agent's phone stops ringing and the manager talks with the caller."""
    caller, agent = phone(phone_factory, CALLER, switch), phone(phone_factory, AGENT, switch)
    manager = phone(phone_factory, MANAGER, switch)
    api = Api(switch, MANAGER)
    call = dial(caller, QUEUE["number"], switch)
    caller.wait_call_state(call, "CONFIRMED")
    offer = agent.wait_incoming(timeout=15)  # the agent's phone rings; nobody answers it
    for _ in range(100):
        waiting = api.get(f"/queues/{QUEUE['number']}")["waiting"]
        if waiting:
            break
        time.sleep(0.05)
    call_id = waiting[0]["id"]
    path = f"/queues/{QUEUE['number']}/calls/{call_id}/pickup"
    status, body = api.post(path)
    assert status == 200 and body["pickup"]["state"] == "ringing", body
    first = manager.wait_incoming(timeout=10)
    manager.hangup(first, 603)
    manager.wait_call_state(first, "DISCONNECTED")
    time.sleep(0.5)
    waiting = api.get(f"/queues/{QUEUE['number']}")["waiting"]
    assert [w["id"] for w in waiting] == [call_id], waiting
    assert caller.call_states(call)[-1] == "CONFIRMED"
    status, body = api.post(path)
    assert status == 200, body
    second = manager.wait_incoming(timeout=10)
    manager.answer(second)
    agent.wait_call_state(offer, "DISCONNECTED")  # its ring CANCELled
    assert api.get(f"/queues/{QUEUE['number']}")["waiting"] == []
    talk_and_hang_up(caller, call, manager, second, MANAGER_TONE, tmp_path)
