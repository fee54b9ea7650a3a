"""Transfer, park and pickup with real phones over loopback (softswitch.calls.transfer):
pjsua2 (`xfer`, `xfer_replaces`, pickup codes), baresip (`/transfer`), sipp as a BLF key on
a park slot. What a party heard is checked in the audio it recorded: a tone played by the
new party reaches it through the switch."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import audio
import numpy as np
import pytest
from baresip import Baresip, BaresipAccount
from blf_keys import lamp_history, start_keys, wait_until
from phones import Phone

from benchmarks.peers.sipp import Sipp
from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

# the demo extensions of config.example.yaml (pickup group front_desk: 1001-1003; park slots
# 6000-6009, park code *5)
ALICE, BOB, CAROL = ("1001", "alice-1001-secret"), ("1002", "bob-1002-secret"), \
    ("1003", "carol-1003-secret")
MD5_ONLY = {"sip": {"auth": {"algorithms": ["MD5"]}}}


def registered(factory: Callable[..., Phone], switch: RunningSwitch,
               *people: tuple[str, str]) -> list[Phone]:
    phones = []
    for user, password in people:
        phone = factory(f"p{user}")
        assert phone.register(user, password, switch.host, switch.port).ok
        phones.append(phone)
    return phones


def uri(switch: RunningSwitch, number: str) -> str:
    return f"sip:{number}@{switch.host}:{switch.port}"


def connected(caller: Phone, callee: Phone, switch: RunningSwitch,
              number: str) -> tuple[int, int]:
    call = caller.call(uri(switch, number))
    incoming = callee.wait_incoming()
    callee.answer(incoming)
    caller.wait_call_state(call, "CONFIRMED")
    caller.wait_media(call)
    return call, incoming


def hears(phone: Phone, call: int, wav: Path, freq: float, seconds: float = 2.0) -> None:
    """`phone` records `seconds` of `call` and must hear `freq` in at least one second."""
    phone.record(call, wav)
    time.sleep(seconds)
    audio.wav_has_tone(phone.stop_record(call), freq, min_seconds=1.0)


def test_pjsua2_blind_transfer(switch: RunningSwitch, phone_factory: Callable[..., Phone],
                               tmp_path: Path) -> None:
    """Bob transfers Alice to Carol: Alice hears ringback while Carol's phone rings; Bob's
    REFER gets 200 in its last NOTIFY and his call ends; Alice, who got no re-INVITE, hears
    Carol's tone."""
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    a_call, b_call = connected(alice, bob, switch, BOB[0])
    bob.xfer(b_call, uri(switch, CAROL[0]))
    c_call = carol.wait_incoming()
    alice.record(a_call, tmp_path / "ringback.wav")
    time.sleep(2.5)  # US ringback: 2 s of 440+480 Hz, 4 s of silence
    ringback = alice.stop_record(a_call)
    assert audio.detect_tone(*audio.read_wav(ringback), 440,
                             min_share=0.3).seconds_with_tone >= 1.0
    carol.play(c_call, audio.tone_wav(tmp_path / "carol.wav", 1000))
    carol.answer(c_call)
    assert bob.wait_xfer_final(b_call) == 200
    bob.wait_call_state(b_call, "DISCONNECTED")
    hears(alice, a_call, tmp_path / "alice.wav", 1000)
    carol.hangup(c_call)
    alice.wait_call_state(a_call, "DISCONNECTED")


def test_pjsua2_attended_transfer(switch: RunningSwitch, phone_factory: Callable[..., Phone],
                                  tmp_path: Path) -> None:
    """Alice talks to Bob, holds him, calls Carol, holds her, then transfers Bob to Carol
    with Replaces: Alice's two calls end, both are taken off hold and hear each other."""
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    a_bob, b_call = connected(alice, bob, switch, BOB[0])
    bob.play(b_call, audio.tone_wav(tmp_path / "bob-tone.wav", 440))
    mark = bob.mark()
    alice.hold(a_bob)
    bob.wait_media(b_call, "REMOTE_HOLD", since=mark)
    a_carol, c_call = connected(alice, carol, switch, CAROL[0])
    carol.play(c_call, audio.tone_wav(tmp_path / "carol.wav", 1000))
    c_mark = carol.mark()
    alice.hold(a_carol)  # some phones hold the consultation call too before transferring
    carol.wait_media(c_call, "REMOTE_HOLD", since=c_mark)
    mark, c_mark = bob.mark(), carol.mark()
    alice.xfer_replaces(a_bob, a_carol)
    assert alice.wait_xfer_final(a_bob) == 200
    alice.wait_call_state(a_bob, "DISCONNECTED")
    alice.wait_call_state(a_carol, "DISCONNECTED")
    bob.wait_media(b_call, "ACTIVE", since=mark)  # the switch's re-INVITEs: off hold
    carol.wait_media(c_call, "ACTIVE", since=c_mark)
    hears(bob, b_call, tmp_path / "bob.wav", 1000)
    hears(carol, c_call, tmp_path / "carol-heard.wav", 440)
    assert "DISCONNECTED" not in carol.call_states(c_call)
    bob.hangup(b_call)
    carol.wait_call_state(c_call, "DISCONNECTED")


def test_pjsua2_blind_transfer_into_a_queue(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Bob transfers Carol to queue 6400, whose static agent Alice rings and answers:
    Carol hears Alice's tone."""
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    c_call, b_call = connected(carol, bob, switch, BOB[0])
    bob.xfer(b_call, uri(switch, "6400"))
    assert bob.wait_xfer_final(b_call) == 200
    bob.wait_call_state(b_call, "DISCONNECTED")
    offer = alice.wait_incoming(timeout=30)  # after the queue's welcome prompt
    alice.play(offer, audio.tone_wav(tmp_path / "alice.wav", 1000))
    alice.answer(offer)
    alice.wait_call_state(offer, "CONFIRMED")
    time.sleep(3.0)  # the agent announcement ("agent number 1001") comes first
    hears(carol, c_call, tmp_path / "carol.wav", 1000, seconds=3.0)


@pytest.mark.switch_config(overrides=MD5_ONLY)
def test_baresip_blind_transfer(switch: RunningSwitch, phone_factory: Callable[..., Phone],
                                baresip_factory: Callable[..., Baresip],
                                tmp_path: Path) -> None:
    """baresip (Bob) answers Alice and sends `/transfer` to Carol; Alice hears Carol."""
    bs = baresip_factory("bob", audio.tone_wav(tmp_path / "bob.wav", 440, seconds=30),
                         [BaresipAccount(BOB[0], BOB[1], switch.host, switch.port)])
    assert bs.wait_registered() == {BOB[0]: "OK"}
    alice, carol = registered(phone_factory, switch, ALICE, CAROL)
    a_call = alice.call(uri(switch, BOB[0]))
    bs.wait_call_event("CALL_INCOMING")
    bs.accept()
    alice.wait_call_state(a_call, "CONFIRMED")
    bs.transfer(uri(switch, CAROL[0]))
    c_call = carol.wait_incoming()
    carol.play(c_call, audio.tone_wav(tmp_path / "carol.wav", 1000))
    carol.answer(c_call)
    bs.wait_call_event("CALL_CLOSED", timeout=15)
    hears(alice, a_call, tmp_path / "alice.wav", 1000)


def test_park_and_retrieve_with_a_slot_key(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    """Bob parks Alice with *5 (slot 6000): the BLF key on 6000 turns busy, Alice hears
    music; Carol dials 6000 and talks to Alice; the key is idle again."""
    keys = start_keys(sipp, switch, tmp_path, CAROL[0], CAROL[1], ["6000"])
    wait_until(lambda: lamp_history(keys.messages(), ["6000"])["6000"], what="first NOTIFY")
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    a_call, b_call = connected(alice, bob, switch, BOB[0])
    bob.xfer(b_call, uri(switch, "*5"))
    assert bob.wait_xfer_final(b_call) == 200
    bob.wait_call_state(b_call, "DISCONNECTED")
    wait_until(lambda: ("confirmed", False) in lamp_history(keys.messages(), ["6000"])["6000"],
               what="slot 6000 busy")
    alice.record(a_call, tmp_path / "parked.wav")
    time.sleep(1.5)
    music, _ = audio.read_wav(alice.stop_record(a_call))
    assert float(np.sqrt(np.mean(music**2))) > 0.01  # music on hold, not silence
    c_call = carol.call(uri(switch, "6000"))
    carol.wait_call_state(c_call, "CONFIRMED")
    carol.wait_media(c_call)
    carol.play(c_call, audio.tone_wav(tmp_path / "carol.wav", 1000))
    hears(alice, a_call, tmp_path / "alice.wav", 1000)
    history = wait_until(lambda: (h := lamp_history(keys.messages(), ["6000"])["6000"])
                         and h[-1][0] == "terminated" and h, what="slot 6000 idle again")
    assert [s for s, _ in history] == ["terminated", "confirmed", "terminated"]
    carol.hangup(c_call)
    alice.wait_call_state(a_call, "DISCONNECTED")
    keys.stop()


@pytest.mark.switch_config(overrides={"parking": {"timeout": 10, "ring_back": 10}})
def test_park_timeout_rings_the_parker_back(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    alice, bob = registered(phone_factory, switch, ALICE, BOB)
    a_call, b_call = connected(alice, bob, switch, BOB[0])
    bob.xfer(b_call, uri(switch, "6003"))
    assert bob.wait_xfer_final(b_call) == 200
    bob.wait_call_state(b_call, "DISCONNECTED")
    back = bob.wait_incoming(timeout=20)  # 10 s in the slot
    bob.play(back, audio.tone_wav(tmp_path / "bob.wav", 1000))
    bob.answer(back)
    hears(alice, a_call, tmp_path / "alice.wav", 1000)


def test_directed_and_group_pickup(switch: RunningSwitch,
                                   phone_factory: Callable[..., Phone],
                                   tmp_path: Path) -> None:
    """Alice calls Bob; Carol dials *041002 and has the call (Bob's phone stops ringing);
    then Alice calls Bob again and Carol takes it with the group code *4."""
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    tone = audio.tone_wav(tmp_path / "carol.wav", 1000)
    for code in ("*041002", "*4"):
        a_call = alice.call(uri(switch, BOB[0]))
        b_call = bob.wait_incoming()
        alice.wait_call_state(a_call, "EARLY")
        c_call = carol.call(uri(switch, code))
        carol.wait_call_state(c_call, "CONFIRMED")
        carol.wait_media(c_call)
        carol.play(c_call, tone)
        alice.wait_call_state(a_call, "CONFIRMED")
        bob.wait_call_state(b_call, "DISCONNECTED")  # CANCELled
        hears(alice, a_call, tmp_path / f"alice{code}.wav", 1000)
        carol.hangup(c_call)
        alice.wait_call_state(a_call, "DISCONNECTED")
