"""BLF of an extension in the running switch (RFC 4235 dialog package): a sipp key of 1001
watching 1002 sees 1002 idle, busy while 1002 is on a call through the switch (pjsua2 phones),
and idle again after the hang-up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from blf_keys import lamp_history, start_keys, wait_until
from phones import Phone

from benchmarks.peers.sipp import Sipp
from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

ALICE = ("1001", "alice-1001-secret")  # config.example.yaml
BOB = ("1002", "bob-1002-secret")


@pytest.mark.switch_config(overrides={"sip": {"auth": {"algorithms": ["MD5"]}}, "smtp": None})
def test_extension_key_shows_a_call_through_the_switch(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    keys = start_keys(sipp, switch, tmp_path, ALICE[0], ALICE[1], ["1002"])

    def lamps() -> list[tuple[str, bool]]:
        return lamp_history(keys.messages(), ["1002"])["1002"]

    try:
        wait_until(lambda: len(lamps()) >= 1, what="first NOTIFY")
        assert lamps()[-1][0] == "terminated"  # idle: no call
        alice, bob = phone_factory("alice"), phone_factory("bob")
        assert alice.register(*ALICE, switch.host, switch.port).ok
        assert bob.register(*BOB, switch.host, switch.port).ok
        call = alice.call(f"sip:1002@{switch.host}:{switch.port}")
        incoming = bob.wait_incoming()
        bob.answer(incoming)
        alice.wait_call_state(call, "CONFIRMED")
        wait_until(lambda: lamps()[-1][0] == "confirmed", what="1002 busy on the key")
        alice.hangup(call)
        bob.wait_call_state(incoming, "DISCONNECTED")
        wait_until(lambda: lamps()[-1][0] == "terminated", what="1002 idle again")
    finally:
        keys.stop(grace=2)
    states = [s for s, _ in lamps()]
    assert states[0] == "terminated" and "confirmed" in states and states[-1] == "terminated"
