"""Extension BLF keys in the running switch, over real sockets (RFC 4235 dialog package;
softswitch.presence.call_lamps). Phone 1003's keys (sipp, digest-authenticated SUBSCRIBEs)
watch extensions 1001 and 1002 while pjsua2 phones 1001 and 1002 call each other and a queue:
a rung key blinks ("early", recipient) with the caller's identity, a dialling one shows
"early" as initiator, a talking one "confirmed" (blinking while held), and an idle one its
one terminated dialog; an agent
rung and answering a queue call shows it the same way."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from blf_keys import DI, lamp_history, start_keys, wait_until
from phones import Phone

from benchmarks.peers.sipp import Sipp
from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

PASSWORDS = {"1001": "alice-1001-secret", "1002": "bob-1002-secret",
             "1003": "carol-1003-secret"}  # config.example.yaml
QUEUES = [{"number": "6400", "name": "Sales", "strategy": "ring_all",
           "static_agents": ["1002"], "dynamic_agents": []}]
OVERRIDES = {"sip": {"auth": {"algorithms": ["MD5"]}}, "smtp": None}
KEYS = ["1001", "1002"]

Lamp = tuple[str, str, str]  # (state, direction, remote identity) of the first dialog
IDLE: Lamp = ("terminated", "", "")  # no call: one terminated dialog (green)


def lamps(messages: str) -> dict[str, list[Lamp]]:
    """Per watched extension: its first dialog in every NOTIFY received."""
    out: dict[str, list[Lamp]] = {k: [] for k in KEYS}
    for block in re.split(r"-{20,}[^\n]*\n", messages):
        if not re.search(r"received.*\n\s*NOTIFY sip:", block) or "<?xml" not in block:
            continue
        root = ET.fromstring(block[block.index("<?xml"):
                                   block.index("</dialog-info>") + len("</dialog-info>")])
        entity = root.get("entity", "")
        key = entity[len("sip:"):entity.index("@")]
        d = root.find(f"{DI}dialog")
        if d is None:
            out.setdefault(key, []).append(("none", "", ""))
            continue
        remote = d.findtext(f"{DI}remote/{DI}identity") or ""
        out.setdefault(key, []).append((d.findtext(f"{DI}state") or "",
                                        d.get("direction", ""), remote.split("@")[0]))
    return out


@pytest.mark.switch_config(queues=QUEUES, overrides=OVERRIDES)
def test_extension_keys_show_ringing_talking_and_idle(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    host, port = switch.host, switch.sip_port()
    alice, bob = phone_factory("alice"), phone_factory("bob")
    assert alice.register("1001", PASSWORDS["1001"], host, port).code == 200
    assert bob.register("1002", PASSWORDS["1002"], host, port).code == 200
    keys = start_keys(sipp, switch, tmp_path, "1003", PASSWORDS["1003"], KEYS)

    def last(key: str) -> Lamp | None:
        seen = lamps(keys.messages())[key]
        return seen[-1] if seen else None

    def wait_both_idle(when: str) -> None:
        wait_until(lambda: last("1001") == IDLE and last("1002") == IDLE,
                   what=f"both keys idle {when}: {lamps(keys.messages())}")

    try:
        wait_both_idle("at first")
        # an extension call: ringing, then talking, then idle again
        call = alice.call(f"sip:1002@{host}:{port}")
        incoming = bob.wait_incoming(timeout=10)
        wait_until(lambda: last("1002") == ("early", "recipient", "sip:1001")
                   and last("1001") == ("early", "initiator", "sip:1002"),
                   what=f"1002 ringing, 1001 dialling: {lamps(keys.messages())}")
        bob.answer(incoming)
        alice.wait_call_state(call, "CONFIRMED")
        wait_until(lambda: last("1002") == ("confirmed", "recipient", "sip:1001")
                   and last("1001") == ("confirmed", "initiator", "sip:1002"),
                   what=f"both talking: {lamps(keys.messages())}")
        # hold (re-INVITE sendonly, passed through): both keys blink, then steady again
        mark = alice.mark()
        alice.hold(call)
        alice.wait_media(call, "LOCAL_HOLD", since=mark)

        def held(key: str) -> tuple[str, bool] | None:
            seen = lamp_history(keys.messages(), KEYS)[key]
            return seen[-1] if seen else None

        wait_until(lambda: held("1001") == ("confirmed", True)
                   and held("1002") == ("confirmed", True), what="both keys held")
        mark = alice.mark()
        alice.unhold(call)
        alice.wait_media(call, "ACTIVE", since=mark)
        wait_until(lambda: held("1001") == ("confirmed", False)
                   and held("1002") == ("confirmed", False), what="both keys talking again")
        alice.hangup(call)
        bob.wait_call_state(incoming, "DISCONNECTED")
        wait_both_idle("after the extension call")
        # a queue call: the caller is in the queue, the agent's key blinks, then both talk
        queued = alice.call(f"sip:6400@{host}:{port}")
        offer = bob.wait_incoming(timeout=10)
        wait_until(lambda: last("1002") == ("early", "recipient", "sip:1001")
                   and last("1001") == ("confirmed", "initiator", "sip:6400"),
                   what=f"agent 1002 rung by the queue: {lamps(keys.messages())}")
        bob.answer(offer)
        wait_until(lambda: last("1002") == ("confirmed", "recipient", "sip:1001"),
                   what=f"agent talking: {lamps(keys.messages())}")
        bob.hangup(offer)
        alice.wait_call_state(queued, "DISCONNECTED")
        wait_both_idle("after the queue call")
    finally:
        keys.stop(grace=2)
