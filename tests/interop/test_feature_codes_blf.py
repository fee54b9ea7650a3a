"""Agent feature codes and BLF keys in the running switch, over real sockets
(queue-admin.md §6.1, §6.2, §6.7, §6.8; RFC 4235 dialog event package).

A pjsua2 softphone registered as dynamic agent 1001 dials the codes; for each it hears the
confirmation prompt (found by cross-correlation in what it recorded) and the switch hangs up.
Three sipp BLF keys of the same phone (digest-authenticated SUBSCRIBEs) watch `*76400`
(sign-in), `*076400` (pause) and `*071001*6400*01` (paused with reason Lunch); their NOTIFY
bodies must follow every change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from audio import wav_contains_prompt
from blf_keys import lamp_history, start_keys, wait_until
from phones import Phone, wait_wav_complete

from benchmarks.peers.sipp import Sipp
from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
PROMPTS = REPO / "prompts" / "en"
PASSWORD = "alice-1001-secret"  # config.example.yaml
QUEUES = [{"number": "6400", "name": "Sales", "strategy": "ring_all",
           "static_agents": ["1002"], "dynamic_agents": ["1001"]}]
OVERRIDES = {"sip": {"auth": {"algorithms": ["MD5"]}}, "smtp": None}
KEYS = ["*76400", "*076400", "*071001*6400*01"]


def notifies(messages: str) -> dict[str, list[tuple[str, bool]]]:
    return lamp_history(messages, KEYS)


def dial(phone: Phone, switch: RunningSwitch, code: str, tmp_path: Path, prompt: str) -> None:
    """Dial a feature code, hear `prompt`, and see the switch hang up (BYE)."""
    call = phone.call(f"sip:{code}@{switch.host}:{switch.sip_port()}")
    wav = tmp_path / f"heard-{len(list(tmp_path.glob('heard-*')))}-{prompt}.wav"
    phone.record(call, wav)
    phone.wait_call_state(call, "CONFIRMED")
    ended = phone.wait_call_state(call, "DISCONNECTED", timeout=15)
    assert ended["code"] == 200, ended  # the switch's BYE, answered by the phone
    wait_wav_complete(wav)
    wav_contains_prompt(wav, PROMPTS / f"{prompt}.wav", min_score=0.5)


@pytest.mark.switch_config(queues=QUEUES, overrides=OVERRIDES)
def test_agent_dials_feature_codes_and_blf_keys_follow(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    host, port = switch.host, switch.sip_port()
    keys = start_keys(sipp, switch, tmp_path, "1001", PASSWORD, KEYS)
    try:
        # every key gets its first NOTIFY: 1001 is signed out, not paused
        wait_until(lambda: all(len(v) == 1 for v in notifies(keys.messages()).values()),
                   what="the first NOTIFY of every key")
        assert notifies(keys.messages()) == {
            "*76400": [("confirmed", False)],        # red: signed out
            "*076400": [("terminated", False)],      # green: not paused
            "*071001*6400*01": [("terminated", False)],
        }
        phone = phone_factory("agent1001")
        assert phone.register("1001", PASSWORD, host, port).code == 200

        dial(phone, switch, "*76400", tmp_path, "agent-signed-in")
        wait_until(lambda: notifies(keys.messages())["*76400"][-1] == ("terminated", False),
                   what="sign-in key green")
        dial(phone, switch, "*76400", tmp_path, "agent-signed-out")
        wait_until(lambda: notifies(keys.messages())["*76400"][-1] == ("confirmed", False),
                   what="sign-in key red again")
        dial(phone, switch, "*076400", tmp_path, "agent-not-signed-in")  # refused, no change
        dial(phone, switch, "*76400", tmp_path, "agent-signed-in")
        dial(phone, switch, "*076400", tmp_path, "agent-paused")
        wait_until(lambda: notifies(keys.messages())["*076400"][-1] == ("confirmed", True),
                   what="pause key blinking (held)")
        dial(phone, switch, "*076400*03", tmp_path, "agent-paused")  # reason: Wrap up
        dial(phone, switch, "*071001*6400*01", tmp_path, "agent-paused")  # reason: Lunch
        wait_until(lambda: notifies(keys.messages())["*071001*6400*01"][-1]
                   == ("confirmed", True), what="Lunch key blinking")
        dial(phone, switch, "*076400", tmp_path, "agent-resumed")
        wait_until(lambda: notifies(keys.messages())["*076400"][-1] == ("terminated", False)
                   and notifies(keys.messages())["*071001*6400*01"][-1]
                   == ("terminated", False), what="pause keys green after resume")
        dial(phone, switch, "*076400*99", tmp_path, "feature-code-invalid")
        dial(phone, switch, "*071002*6400*01", tmp_path, "feature-not-permitted")
        # the rows of the agent login and pause reports (§8.10, §8.11) are in the database
        db = sqlite3.connect(switch.db_path)

        def report_rows() -> tuple[list[Any], list[Any]]:
            sessions = db.execute("SELECT agent, queue, signed_out_at IS NOT NULL FROM "
                                  "agent_sessions WHERE agent='1001' ORDER BY id").fetchall()
            pauses = db.execute("SELECT reason, counted, ended_by FROM agent_pauses WHERE "
                                "agent='1001' ORDER BY id").fetchall()
            return sessions, pauses

        expected = ([("1001", "6400", 1), ("1001", "6400", 0)],
                    [("", 1, "reason_changed"), ("Wrap up", 0, "reason_changed"),
                     ("Lunch", 0, "resumed")])
        wait_until(lambda: report_rows() == expected, what=f"report rows {report_rows()}")
        db.close()
        # sign out of all queues (*077), then back in to the last signed-in ones (*78)
        dial(phone, switch, "*077", tmp_path, "agent-signed-out")
        wait_until(lambda: notifies(keys.messages())["*76400"][-1] == ("confirmed", False),
                   what="sign-in key red after *077")
        dial(phone, switch, "*78", tmp_path, "agent-signed-in")
        wait_until(lambda: notifies(keys.messages())["*76400"][-1] == ("terminated", False),
                   what="sign-in key green after *78")
    finally:
        keys.stop(grace=2)
    seen = notifies(keys.messages())
    # sign-in key: red, green, red, green, red (*077), green (*78); pause key: green,
    # blinking, green
    assert [s for s, _ in seen["*76400"]] == ["confirmed", "terminated", "confirmed",
                                              "terminated", "confirmed", "terminated"], seen
    assert seen["*076400"][0] == ("terminated", False)
    assert ("confirmed", True) in seen["*076400"] and seen["*076400"][-1][0] == "terminated"
    # the Lunch key lit only while paused with Lunch (not for no reason, nor Wrap up)
    lunch = seen["*071001*6400*01"]
    assert lunch[0] == ("terminated", False) and lunch[-1] == ("terminated", False)
    assert lunch.count(("confirmed", True)) == 1, lunch
