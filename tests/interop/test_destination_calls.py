"""The destinations of the manual (spec/queue-admin.md §11.1) with real phones over
loopback, against the switch as a process: pjsua2 softphones (tests/interop/phones.py) call,
answer, press keys (RFC 4733) and record what they hear; sipp plays BLF keys. What a caller
heard is checked in its recording: a prompt by cross-correlation with the prompt file, a
party by the tone that party plays.

The switch runs config.example.yaml (its demo IVR 7000, ring group 8000, call flow 7100,
group voicemail 8100) with per-test overrides."""

from __future__ import annotations

import email
import re
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import audio
import pytest
from aiosmtpd.controller import Controller
from blf_keys import lamp_history, start_keys, wait_until
from phones import Phone, wait_wav_complete
from queue_support import wait_prompt_heard

from benchmarks.peers.net import free_port
from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
PROMPTS = REPO / "prompts" / "en"
# the demo extensions of config.example.yaml
ALICE, BOB, CAROL = ("1001", "alice-1001-secret"), ("1002", "bob-1002-secret"), \
    ("1003", "carol-1003-secret")
MD5_ONLY = {"sip": {"auth": {"algorithms": ["MD5"]}}}  # sipp's digest


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


def heard_prompt(phone: Phone, call: int, wav: Path, prompt: str, seconds: float) -> None:
    """`phone` records `seconds` of `call`, in which the system prompt must be heard."""
    phone.record(call, wav)
    time.sleep(seconds)
    wait_wav_complete(phone.stop_record(call))
    audio.wav_contains_prompt(wav, PROMPTS / f"{prompt}.wav", min_score=0.5)


def hears_tone(phone: Phone, call: int, wav: Path, freq: float, seconds: float = 2.0) -> None:
    phone.record(call, wav)
    time.sleep(seconds)
    audio.wav_has_tone(phone.stop_record(call), freq, min_seconds=1.0)


def press(phone: Phone, call: int, digits: str, scratch: Path) -> None:
    """Send `digits` (RFC 4733) while a recorder is connected: pjsua's null sound device,
    which clocks the media, closes after a second without connections, and digits sent
    then never leave the phone."""
    phone.record(call, scratch)
    time.sleep(0.2)
    phone.send_dtmf(call, digits)
    time.sleep(0.3 + 0.25 * len(digits))
    phone.stop_record(call)


def answers_with_tone(phone: Phone, call: int, wav: Path, freq: float) -> None:
    phone.play(call, audio.tone_wav(wav, freq))
    phone.answer(call)
    phone.wait_call_state(call, "CONFIRMED")


# ------------------------------------------------------------------------------- IVR


def test_ivr_prompt_then_a_key_reaches_its_extension(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Alice dials IVR 7000: she hears its prompt (welcome-sales), presses 0 (RFC 4733)
    and Carol's phone rings (key 0 -> extension 1003); Carol answers and Alice hears her."""
    alice, carol = registered(phone_factory, switch, ALICE, CAROL)
    call = alice.call(uri(switch, "7000"))
    alice.wait_call_state(call, "CONFIRMED")
    alice.wait_media(call)
    heard_prompt(alice, call, tmp_path / "menu.wav", "welcome-sales", 4.0)
    press(alice, call, "0", tmp_path / "key.wav")
    ringing = carol.wait_incoming(timeout=10)
    assert "1001" in carol.incoming(ringing)["from"]
    answers_with_tone(carol, ringing, tmp_path / "carol.wav", 1000)
    hears_tone(alice, call, tmp_path / "alice.wav", 1000)
    alice.hangup(call)
    carol.wait_call_state(ringing, "DISCONNECTED")


IVR_SHORT = {"ivrs": [{
    "number": "7000", "name": "Menu", "prompt": "welcome-sales",
    "keys": {"0": {"type": "extension", "target": "1003"}},
    "direct_dial": False, "timeout": 3, "repeat": 2, "invalid_prompt": "invalid-entry",
    "timeout_prompt": "please-stay-on-the-line",
    "fallback": {"type": "extension", "target": "1002"}}],
    "ring_groups": [], "call_flows": []}


@pytest.mark.switch_config(overrides=IVR_SHORT)
def test_ivr_invalid_key_and_timeout_prompts_then_fallback(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """A key that leads nowhere: the invalid prompt; no key: the timeout prompt; after the
    last try the caller goes to the fallback (extension 1002, whose phone rings)."""
    alice, bob = registered(phone_factory, switch, ALICE, BOB)
    call = alice.call(uri(switch, "7000"))
    alice.wait_call_state(call, "CONFIRMED")
    alice.wait_media(call)
    alice.record(call, tmp_path / "invalid.wav")  # (keeps pjsua's audio clock running)
    time.sleep(1.0)
    alice.send_dtmf(call, "5")  # not a key of the menu
    time.sleep(2.5)
    wait_wav_complete(alice.stop_record(call))
    audio.wav_contains_prompt(tmp_path / "invalid.wav", PROMPTS / "invalid-entry.wav",
                              min_score=0.5)
    # the menu again (try 2 of 2): no key for `timeout` seconds after it
    fallback = bob.wait_incoming(timeout=25)
    answers_with_tone(bob, fallback, tmp_path / "bob.wav", 700)
    hears_tone(alice, call, tmp_path / "alice.wav", 700)
    alice.hangup(call)
    bob.wait_call_state(fallback, "DISCONNECTED")


@pytest.mark.switch_config(overrides=IVR_SHORT)
def test_ivr_timeout_prompt_is_heard_before_the_fallback(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """No key at all: after the menu and `timeout` seconds the caller hears the timeout
    prompt and the menu again (`repeat: 2`); after the last try's timeout the fallback
    rings (no timeout prompt then: the caller is routed at once)."""
    alice, bob = registered(phone_factory, switch, ALICE, BOB)
    call = alice.call(uri(switch, "7000"))
    alice.wait_call_state(call, "CONFIRMED")
    alice.wait_media(call)
    alice.record(call, tmp_path / "waiting.wav")
    # menu 7.4 s + 3 s, timeout prompt, menu 7.4 s + 3 s
    fallback = bob.wait_incoming(timeout=35)
    wait_wav_complete(alice.stop_record(call))
    audio.wav_contains_prompt(tmp_path / "waiting.wav", PROMPTS / "please-stay-on-the-line.wav",
                              min_score=0.5)
    bob.answer(fallback)
    alice.hangup(call)


# ------------------------------------------------------------------------ ring groups


def ring_group(strategy: str, **extra: Any) -> dict[str, Any]:
    return {"ring_groups": [{
        "number": "8000", "name": "Desk", "strategy": strategy, "members": ["1001", "1002"],
        "member_timeout": 5, "group_timeout": 12,
        "failover": {"type": "extension", "target": "1003"}, **extra}]}


@pytest.mark.switch_config(overrides=ring_group("ring_all"))
def test_ring_group_ring_all_the_answering_phone_gets_the_call(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Carol dials ring group 8000: Alice's and Bob's phones ring at once; Bob answers,
    Alice's stops ringing, Carol hears Bob."""
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    call = carol.call(uri(switch, "8000"))
    a_ring = alice.wait_incoming(timeout=10)
    b_ring = bob.wait_incoming(timeout=10)
    answers_with_tone(bob, b_ring, tmp_path / "bob.wav", 1000)
    alice.wait_call_state(a_ring, "DISCONNECTED")  # CANCELled
    carol.wait_call_state(call, "CONFIRMED")
    hears_tone(carol, call, tmp_path / "carol.wav", 1000)
    carol.hangup(call)
    bob.wait_call_state(b_ring, "DISCONNECTED")


@pytest.mark.switch_config(overrides=ring_group("sequential"))
def test_ring_group_sequential_rings_one_member_after_the_other(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Sequential: Alice rings alone for member_timeout (5 s), then Bob, who answers."""
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    call = carol.call(uri(switch, "8000"))
    a_ring = alice.wait_incoming(timeout=10)
    started = time.monotonic()
    mark = bob.mark()
    with pytest.raises(AssertionError):
        bob.wait_incoming(timeout=3.0, since=mark)  # not while Alice rings
    alice.wait_call_state(a_ring, "DISCONNECTED", timeout=10)
    b_ring = bob.wait_incoming(timeout=10, since=mark)
    assert time.monotonic() - started >= 4.0
    answers_with_tone(bob, b_ring, tmp_path / "bob.wav", 1000)
    carol.wait_call_state(call, "CONFIRMED")
    hears_tone(carol, call, tmp_path / "carol.wav", 1000)
    carol.hangup(call)


@pytest.mark.switch_config(overrides=ring_group("ring_all", group_timeout=6))
def test_ring_group_failover_when_nobody_answers(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Nobody answers in group_timeout (6 s): both members stop ringing and the caller goes
    to the failover (extension 1003, Carol's phone)."""
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    call = bob.call(uri(switch, "8000"))  # Bob calls: only Alice is rung besides him
    a_ring = alice.wait_incoming(timeout=10)
    alice.wait_call_state(a_ring, "DISCONNECTED", timeout=15)
    c_ring = carol.wait_incoming(timeout=10)
    answers_with_tone(carol, c_ring, tmp_path / "carol.wav", 1000)
    bob.wait_call_state(call, "CONFIRMED")
    hears_tone(bob, call, tmp_path / "bob.wav", 1000)
    bob.hangup(call)


# -------------------------------------------------------------------------- call flow


CALL_FLOW = {
    **MD5_ONLY,
    "call_flows": [{"number": "7100", "name": "Office", "time_zone": "UTC",
                    "in_hours": {"type": "extension", "target": "1002"},
                    "outside_hours": {"type": "extension", "target": "1003"},
                    "toggle_code": "*280"}],
}


def always(open_: bool) -> dict[str, Any]:
    """Business hours that hold at any time of the test: open around the clock, or open on
    no day (every moment is outside business hours) - the time is set by the config."""
    periods = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "time": "00:00-24:00"}] if open_ else []
    return {"business_hours": [{"time_zone": "UTC", "periods": periods}], "holidays": []}


@pytest.mark.switch_config(overrides={**CALL_FLOW, **always(True)})
def test_call_flow_in_hours_then_forced_night_by_feature_code_with_a_blf_key(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    """In business hours 7100 rings Bob (in_hours). A BLF key (sipp, dialog package) on
    *280 shows idle; Alice dials *280: the key turns busy and 7100 now rings Carol
    (outside_hours); *280 again: idle, and 7100 rings Bob again."""
    keys = start_keys(sipp, switch, tmp_path, CAROL[0], CAROL[1], ["*280"])
    try:
        wait_until(lambda: lamp_history(keys.messages(), ["*280"])["*280"], what="first NOTIFY")
        assert lamp_history(keys.messages(), ["*280"])["*280"] == [("terminated", False)]
        alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)

        def routed_to(phone: Phone) -> None:
            # pjsua2 reuses call handles: wait only for what happens after `mark`
            mark, theirs = alice.mark(), phone.mark()
            call = alice.call(uri(switch, "7100"))
            ringing = phone.wait_incoming(timeout=10, since=theirs)
            phone.answer(ringing)
            alice.wait_call_state(call, "CONFIRMED", since=mark)
            alice.hangup(call)
            phone.wait_call_state(ringing, "DISCONNECTED", since=theirs)
            alice.wait_call_state(call, "DISCONNECTED", since=mark)

        def toggle() -> None:
            mark = alice.mark()
            call = alice.call(uri(switch, "*280"))
            alice.wait_call_state(call, "CONFIRMED", since=mark)
            ended = alice.wait_call_state(call, "DISCONNECTED", timeout=15, since=mark)
            assert ended["code"] == 200, ended  # answered, said the mode, hung up

        routed_to(bob)
        toggle()
        wait_until(lambda: lamp_history(keys.messages(), ["*280"])["*280"][-1][0]
                   == "confirmed", what="night key busy")
        routed_to(carol)
        toggle()
        wait_until(lambda: lamp_history(keys.messages(), ["*280"])["*280"][-1][0]
                   == "terminated", what="night key idle")
        assert [s for s, _ in lamp_history(keys.messages(), ["*280"])["*280"]] == [
            "terminated", "confirmed", "terminated"]
        routed_to(bob)
    finally:
        keys.stop()


@pytest.mark.switch_config(overrides={**CALL_FLOW, **always(False)})
def test_call_flow_outside_business_hours(
        switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
    """Outside business hours (set by the config, not by waiting) 7100 rings Carol."""
    alice, carol = registered(phone_factory, switch, ALICE, CAROL)
    call = alice.call(uri(switch, "7100"))
    ringing = carol.wait_incoming(timeout=10)
    carol.answer(ringing)
    alice.wait_call_state(call, "CONFIRMED")
    alice.hangup(call)


# -------------------------------------------------------------------- park timeout


@pytest.mark.switch_config(overrides={"parking": {
    "timeout": 10, "ring_back": 5, "timeout_destination": {"type": "ivr", "target": "7000"}}})
def test_park_timeout_destination_ivr(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """Bob parks Alice; nobody retrieves her in 10 s, Bob's ring-back goes unanswered for
    5 s: Alice reaches IVR 7000, hears its prompt, presses 0 and talks to Carol."""
    alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
    call = bob.call(uri(switch, ALICE[0]))
    parked = alice.wait_incoming()
    alice.answer(parked)
    bob.wait_call_state(call, "CONFIRMED")
    bob.xfer(call, uri(switch, "*5"))
    assert bob.wait_xfer_final(call) == 200
    bob.wait_call_state(call, "DISCONNECTED")
    back = bob.wait_incoming(timeout=20)  # the ring-back, not answered
    bob.wait_call_state(back, "DISCONNECTED", timeout=15)
    heard_prompt(alice, parked, tmp_path / "menu.wav", "welcome-sales", 4.0)
    press(alice, parked, "0", tmp_path / "key.wav")
    ringing = carol.wait_incoming(timeout=10)
    answers_with_tone(carol, ringing, tmp_path / "carol.wav", 1000)
    hears_tone(alice, parked, tmp_path / "alice.wav", 1000)
    carol.hangup(ringing)
    alice.wait_call_state(parked, "DISCONNECTED")


# -------------------------------------------------------------------------- voicemail


class Inbox:
    """What the real SMTP server (aiosmtpd, in its own thread) received."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(udp=False))
    controller.start()
    yield inbox, controller.port
    controller.stop()


def start_lamps(sipp: Callable[..., Sipp], switch: RunningSwitch, tmp_path: Path,
                people: list[tuple[str, str]]) -> Sipp:
    """Each phone subscribes to its own message-waiting lamp (RFC 3842) with sipp."""
    host, port = switch.host, switch.sip_port()
    inf = injection_file(tmp_path / "mwi.csv", [(u, pw, u) for u, pw in people])
    lines = inf.read_text().splitlines()
    lines[1:] = [line.replace("]", f" auth_uri=sip:{u}@{host}:{port}]")
                 for line, (u, _) in zip(lines[1:], people, strict=True)]
    inf.write_text("\n".join(lines) + "\n")
    return sipp("mwi_subscribe_auth.xml", f"{host}:{port}", inf=inf, max_calls=len(people),
                rate=10, trace_msg=True, recv_timeout_ms=120_000, timeout_s=120).start()


def summaries(messages: str) -> dict[str, list[dict[str, str]]]:
    """Per extension: the message-summary bodies (header -> value) of its NOTIFYs."""
    out: dict[str, list[dict[str, str]]] = {}
    for block in re.split(r"-{20,}[^\n]*\n", messages):
        found = re.search(r"received.*\n\s*NOTIFY sip:(\w+)@", block)
        if not found or "Messages-Waiting" not in block:
            continue
        body = block[block.index("Messages-Waiting"):]
        fields = dict(line.split(":", 1) for line in body.splitlines() if ":" in line)
        out.setdefault(found.group(1), []).append(
            {k.strip(): v.strip() for k, v in fields.items()})
    return out


def wav_attachment(message: Message, path: Path) -> Path:
    for part in message.walk():
        if part.get_content_type() in ("audio/wav", "audio/x-wav") or \
                (part.get_filename() or "").endswith(".wav"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            path.write_bytes(payload)
            return path
    raise AssertionError(f"no WAV attachment in {message.get('Subject')!r}")


def leave_message(phone: Phone, call: int, tmp_path: Path, greeting_hz: float,
                  message_hz: float) -> None:
    """Hear the greeting (a tone), then "leave your message after the tone" to its end (read
    from the phone's growing recording: `#` during it would skip to the tone), then after
    the beep speak (a tone) and press #: the switch says goodbye and hangs up."""
    mark = phone.mark()
    phone.wait_call_state(call, "CONFIRMED")
    phone.wait_media(call)
    phone.record(call, tmp_path / "greeting.wav")
    instructions = PROMPTS / "vm-leave-message-after-tone.wav"
    wait_prompt_heard(tmp_path / "greeting.wav", instructions,
                      audio.read_wav(instructions)[0].size / audio.RATE, timeout=20)
    audio.wav_has_tone(phone.stop_record(call), greeting_hz, min_seconds=1.0)
    time.sleep(0.8)  # the beep (0.5 s) after the instructions; the recording starts after it
    phone.play(call, audio.tone_wav(tmp_path / "message.wav", message_hz))
    time.sleep(3.5)
    phone.send_dtmf(call, "#")
    ended = phone.wait_call_state(call, "DISCONNECTED", timeout=15, since=mark)
    assert ended["code"] == 200, ended


def test_extension_voicemail_lamp_email_and_listening(
        switch_factory: Callable[..., RunningSwitch], smtp: tuple[Inbox, int],
        phone_factory: Callable[..., Phone], sipp: Callable[..., Sipp],
        tmp_path: Path) -> None:
    """Alice calls ring group 8000, whose one member (Bob) does not answer: the failover is
    Carol's voicemail. Alice hears Carol's greeting, records a 700 Hz tone, presses #.
    Carol's subscribed lamp gets `Messages-Waiting: yes` and `Voice-Message: 1/0`; the
    e-mail with the WAV reaches carol@example.com on a real SMTP server and the WAV holds
    the tone; Carol dials *97 and her PIN and hears the tone played back, and her lamp
    goes to 0/1 once the message was heard."""
    inbox, smtp_port = smtp
    switch = switch_factory(overrides={
        **MD5_ONLY,
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                 "sender": "pbx@example.com", "retries": 1},
        "ring_groups": [{"number": "8000", "name": "Desk", "strategy": "ring_all",
                         "members": ["1002"], "group_timeout": 5,
                         "failover": {"type": "voicemail", "target": "1003"}}],
        "voicemail": {"directory": str(tmp_path / "vm"), "boxes": {"1003": {
            "pin": "4321",
            "greeting": str(audio.tone_wav(tmp_path / "carol-greeting.wav", 500, 2.0))}}}})
    lamps = start_lamps(sipp, switch, tmp_path, [CAROL])
    try:
        wait_until(lambda: summaries(lamps.messages()).get("1003"), what="first MWI NOTIFY")
        assert summaries(lamps.messages())["1003"][0]["Messages-Waiting"] == "no"
        alice, bob, carol = registered(phone_factory, switch, ALICE, BOB, CAROL)
        call = alice.call(uri(switch, "8000"))
        ring = bob.wait_incoming(timeout=10)
        bob.wait_call_state(ring, "DISCONNECTED", timeout=15)  # nobody answered
        leave_message(alice, call, tmp_path, 500, 700)
        lamp = wait_until(lambda: [s for s in summaries(lamps.messages()).get("1003", [])
                                   if s["Messages-Waiting"] == "yes"], what="lamp on")[-1]
        assert lamp["Voice-Message"].startswith("1/0"), lamp
        assert lamp["Message-Account"].startswith("sip:1003@"), lamp
        [mail] = wait_until(lambda: inbox.to("carol@example.com"), timeout=15,
                            what="the voicemail e-mail")
        wav = wav_attachment(mail, tmp_path / "attached.wav")
        audio.wav_has_tone(wav, 700, min_seconds=2.0)
        signal, rate = audio.read_wav(wav)
        assert abs(audio.dominant_frequency(signal, rate) - 700) < 20
        # Carol listens: *97, PIN, "you have one new ...", then the message
        mark = carol.mark()
        listen = carol.call(uri(switch, "*97"))
        carol.wait_call_state(listen, "CONFIRMED", since=mark)
        carol.wait_media(listen, since=mark)
        time.sleep(0.5)
        press(carol, listen, "4321#", tmp_path / "pin.wav")
        carol.record(listen, tmp_path / "played.wav")
        # the summary and "message 1 from 1 0 0 1" come first: read the growing recording
        # until the message (the 700 Hz tone) has been heard for 2 s
        deadline = time.monotonic() + 30.0
        while audio.detect_tone(*audio.read_partial_wav(tmp_path / "played.wav"),
                                700).seconds_with_tone < 2.0:
            assert time.monotonic() < deadline, "the message's tone not played back"
            time.sleep(0.2)
        audio.wav_has_tone(carol.stop_record(listen), 700, min_seconds=2.0)
        wait_until(lambda: summaries(lamps.messages())["1003"][-1]["Voice-Message"]
                   .startswith("0/1"), what="message heard: lamp 0/1")
        carol.hangup(listen)
    finally:
        lamps.stop()


def test_group_voicemail_lights_every_member(
        switch_factory: Callable[..., RunningSwitch], phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    """Carol dials group voicemail 8100 (members Alice and Bob) and leaves a message: both
    members' subscribed lamps turn on with one new message."""
    switch = switch_factory(overrides={
        **MD5_ONLY, "smtp": None,
        "voicemail": {"directory": str(tmp_path / "vm")},
        "group_voicemails": [{
            "number": "8100", "name": "Sales team", "members": ["1001", "1002"],
            "pin": "2468",
            "greeting": str(audio.tone_wav(tmp_path / "team-greeting.wav", 500, 2.0))}]})
    lamps = start_lamps(sipp, switch, tmp_path, [ALICE, BOB])
    try:
        wait_until(lambda: set(summaries(lamps.messages())) == {"1001", "1002"},
                   what="first MWI NOTIFYs")
        [carol] = registered(phone_factory, switch, CAROL)
        call = carol.call(uri(switch, "8100"))
        leave_message(carol, call, tmp_path, 500, 700)
        for member in ("1001", "1002"):
            lamp = wait_until(lambda m=member: [  # type: ignore[misc]
                s for s in summaries(lamps.messages()).get(m, [])
                if s["Messages-Waiting"] == "yes"], what=f"{member}'s lamp")[-1]
            assert lamp["Voice-Message"].startswith("1/0"), (member, lamp)
    finally:
        lamps.stop()


# ------------------------------------------------- prompt, external number via a trunk

TRUNK_PORT = free_port()  # the provider's address: sipp binds it


def provider_scenario(tmp_path: Path, number: str) -> Path:
    """tests/interop/sipp/trunk_uas.xml expecting Request-URI user `number`."""
    text = (Path(__file__).parent / "sipp" / "trunk_uas.xml").read_text()
    out = tmp_path / "trunk_uas.xml"
    out.write_text(text.replace("NUMBER", number))
    return out


@pytest.mark.switch_config(overrides={
    "trunks": [{"name": "provider", "host": "127.0.0.1", "port": TRUNK_PORT}],
    # only Alice may dial out through the route herself
    "outbound_routes": [{"name": "out", "prefix": "9", "strip": 1, "trunk": "provider",
                         "extensions": ["1001"]}],
    "ivrs": [{"number": "7000", "name": "Menu", "prompt": "welcome-sales",
              "keys": {"3": {"type": "prompt", "target": "goodbye"},
                       "8": {"type": "external", "target": "95551234"}},
              "direct_dial": False, "timeout": 5, "repeat": 1,
              "fallback": {"type": "hangup"}}],
    "ring_groups": [], "call_flows": []})
def test_prompt_and_external_destinations_and_the_route_permission(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    """IVR key 3 -> prompt `goodbye`: Bob hears it, then the switch hangs up. Bob dialling
    95551234 himself is refused 403 (the route permits only 1001); IVR key 8 -> external
    95551234: the admin's destination goes out through the route (permission is for what an
    extension dials, softswitch.destinations), the provider (sipp) gets INVITE
    sip:5551234@ (strip 1) and answers; Bob's hang-up reaches it as BYE."""
    provider = sipp(provider_scenario(tmp_path, "5551234"), None,
                    local_port=TRUNK_PORT, trace_msg=True).start()
    [bob] = registered(phone_factory, switch, BOB)
    mark = bob.mark()
    call = bob.call(uri(switch, "7000"))
    bob.wait_call_state(call, "CONFIRMED", since=mark)
    bob.wait_media(call, since=mark)
    bob.record(call, tmp_path / "goodbye.wav")  # (keeps pjsua's audio clock running)
    time.sleep(1.0)
    bob.send_dtmf(call, "3")
    ended = bob.wait_call_state(call, "DISCONNECTED", timeout=15, since=mark)
    assert ended["code"] == 200, ended  # the switch's BYE after the prompt
    wait_wav_complete(tmp_path / "goodbye.wav")  # the recorder ends with the call
    audio.wav_contains_prompt(tmp_path / "goodbye.wav", PROMPTS / "goodbye.wav",
                              min_score=0.5)
    mark = bob.mark()
    denied = bob.call(uri(switch, "95551234"))
    refused = bob.wait_call_state(denied, "DISCONNECTED", since=mark)
    assert refused["code"] == 403, refused
    mark = bob.mark()
    call = bob.call(uri(switch, "7000"))
    bob.wait_call_state(call, "CONFIRMED", since=mark)
    bob.wait_media(call, since=mark)
    heard_prompt(bob, call, tmp_path / "menu.wav", "welcome-sales", 3.0)
    press(bob, call, "8", tmp_path / "key.wav")
    wait_until(lambda: "INVITE sip:5551234@" in provider.messages(), timeout=10,
               what="the provider's INVITE")
    time.sleep(2.0)  # connected to the provider: Bob's call goes on
    assert not [e for e in bob.events[mark:] if e["event"] == "call_state"
                and e["call"] == call and e["state"] == "DISCONNECTED"]
    bob.hangup(call)
    wait_until(lambda: re.search(r"BYE sip:\S+ SIP/2.0", provider.messages()), timeout=10,
               what="the provider's BYE")
    got = provider.stop()
    assert (got.successful, got.failed) == (1, 0), got.output
