"""The destination applications in the running switch, over UDP on loopback: an IVR key
rings its extension; a message left in a group voicemail is stored with the caller's audio,
lights the members' lamps (unsolicited RFC 3842 NOTIFY) and is e-mailed with the WAV to a
real aiosmtpd server; a call flow's toggle code forces night mode (kept in the store) and
the flow then routes to its outside-hours branch."""

from __future__ import annotations

import asyncio
import email
import struct
import wave
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
from aiosmtpd.smtp import SMTP
from app_calls import dial, in_dialog, rtp_socket, start_switch, udp
from sipua import SipUA

from media import g711
from softswitch.apps.events import CallFlowToggled, VoicemailLeft
from softswitch.sip import Request
from softswitch.sip.sdp import SessionDescription, audio

APPS: dict[str, Any] = {
    "ivrs": [{"number": "7000", "name": "Menu", "prompt": "welcome-sales",
              "keys": {"2": {"type": "extension", "target": "1002"}}}],
    "group_voicemails": [{"number": "8100", "name": "Team", "members": ["1001", "1002"],
                          "emails": ["team@example.com"]}],
    "voicemail": {"boxes": {"1001": {"unsolicited_mwi": True}}},  # 1001's phone expects it
    "call_flows": [{"number": "7100", "name": "Office", "time_zone": "UTC",
                    "in_hours": {"type": "ivr", "target": "7000"},
                    "outside_hours": {"type": "group_voicemail", "target": "8100"},
                    "toggle_code": "*280"}],
    # open around the clock: only the toggle can send 7100 to its outside-hours branch
    "business_hours": [{"time_zone": "UTC", "periods": [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "time": "00:00-24:00"}]}],
}


class Inbox:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.put_nowait(email.message_from_bytes(envelope.content))
        return "250 OK"


def relay_of(ok: Any) -> tuple[str, int]:
    desc = SessionDescription.parse(ok.body)
    m = audio(desc)
    assert m is not None
    return (m.connection or desc.connection or "", m.port)


async def events_until(seen: list[Any], kind: type, timeout: float = 10.0) -> Any:
    for _ in range(int(timeout / 0.01)):  # the event comes from the switch's loop
        found = [e for e in seen if isinstance(e, kind)]
        if found:
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {kind.__name__} published")


async def test_ivr_key_rings_its_extension(tmp_path: Path) -> None:
    switch = await start_switch(tmp_path, **APPS)
    rtp = rtp_socket()
    try:
        callee = await SipUA("1002", "pw-1002", udp(switch)).start()
        assert (await callee.register()).status == 200
        caller = await SipUA("1001", "pw-1001", udp(switch)).start()
        ok = await dial(caller, "7000", "ivr-1", rtp)
        assert ok.status == 200  # the IVR answers and plays its menu
        caller.send_raw(in_dialog(caller, ok, "INFO", b"Signal=2\r\nDuration=100\r\n",
                                  "application/dtmf-relay"))
        assert (await caller.response()).status == 200
        ring = await callee.next_request("INVITE")  # key 2 -> extension 1002
        assert ring.from_.uri.user == "1001"
        callee.reply(ring, 486)
        caller.close()
        callee.close()
    finally:
        rtp.close()
        await switch.stop()


async def test_group_voicemail_message_is_stored_lit_and_mailed(tmp_path: Path) -> None:
    inbox = Inbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(inbox), "127.0.0.1",
                                                            0)
    switch = await start_switch(tmp_path, smtp={
        "host": "127.0.0.1", "port": server.sockets[0].getsockname()[1],
        "sender": "pbx@example.com"}, **APPS)
    seen: list[Any] = []
    switch.router.events.subscribe(seen.append)
    rtp = rtp_socket()
    try:
        member = await SipUA("1001", "pw-1001", udp(switch)).start()
        assert (await member.register()).status == 200
        lamp = await member.next_request("NOTIFY")  # unsolicited, right after REGISTER
        assert lamp.get("Event") == "message-summary"
        assert b"Messages-Waiting: no" in lamp.body
        member.reply(lamp, 200)
        caller = await SipUA("1003", "pw-1003", udp(switch)).start()
        ok = await dial(caller, "8100", "vm-1", rtp)
        assert ok.status == 200
        relay = relay_of(ok)
        caller.send_raw(in_dialog(caller, ok, "INFO", b"Signal=#\r\nDuration=100\r\n",
                                  "application/dtmf-relay"))  # skip the greeting
        assert (await caller.response()).status == 200
        pcmu = g711.codec_from_name("PCMU")
        await asyncio.sleep(0.3)  # the beep
        for seq in range(75):  # 1.5 s of the caller speaking, paced like a phone
            t = np.arange(seq * 160, (seq + 1) * 160) / 8000
            tone = g711.encode((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), pcmu)
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x66) + tone, relay)
            await asyncio.sleep(0.02)
        caller.send_raw(in_dialog(caller, ok, "INFO", b"Signal=#\r\nDuration=100\r\n",
                                  "application/dtmf-relay"))  # done
        assert (await caller.response()).status == 200
        left = await events_until(seen, VoicemailLeft)
        assert (left.box, left.caller) == ("8100", "1003") and 1.0 < left.seconds < 3.0
        bye = await caller.next_request("BYE")  # "message saved, goodbye"
        caller.reply(bye, 200)
        lit: Request | None = None
        for _ in range(5):
            n = await member.next_request("NOTIFY")
            member.reply(n, 200)
            if b"Messages-Waiting: yes" in n.body:
                lit = n
                break
        assert lit is not None and b"Voice-Message: 1/0" in lit.body
        mail = await asyncio.wait_for(inbox.messages.get(), 10)
        assert mail["To"] == "team@example.com" and "1003" in mail["Subject"]
        [wav_part] = [p for p in mail.walk() if p.get_filename()]
        wav_path = tmp_path / "mailed.wav"
        payload = wav_part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        wav_path.write_bytes(payload)
        with wave.open(str(wav_path)) as w:
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        x = samples.astype(float) - samples.mean()
        spectrum = np.abs(np.fft.rfft(x))
        freqs = np.fft.rfftfreq(len(x), 1 / 8000)
        assert abs(freqs[int(np.argmax(spectrum))] - 440) < 5  # the caller's tone
        await switch.store.flush()
        rows = await switch.store.fetch("SELECT box, caller, folder FROM voicemail_messages")
        assert rows == [("8100", "1003", "new")]
        caller.close()
        member.close()
    finally:
        rtp.close()
        await switch.stop()
        server.close()


async def test_call_flow_toggle_forces_night_and_is_kept(tmp_path: Path) -> None:
    switch = await start_switch(tmp_path, **APPS)
    seen: list[Any] = []
    switch.router.events.subscribe(seen.append)
    rtp = rtp_socket()
    try:
        caller = await SipUA("1001", "pw-1001", udp(switch)).start()
        ok = await dial(caller, "*280", "toggle-1", rtp)
        assert ok.status == 200
        toggled = await events_until(seen, CallFlowToggled)
        assert (toggled.call_flow, toggled.forced, toggled.by) == ("7100", "night", "1001")
        bye = await caller.next_request("BYE")  # "night mode", then the switch hangs up
        caller.reply(bye, 200)
        ok = await dial(caller, "7100", "flow-1", rtp)
        assert ok.status == 200
        call = switch.router.apps.calls["flow-1"]
        assert call.kind == "group_voicemail"  # forced night: the outside-hours branch
        caller.send_raw(in_dialog(caller, ok, "BYE"))
        assert (await caller.response()).status == 200
        await switch.store.flush()
        assert await switch.store.fetch("SELECT call_flow, forced FROM call_flow_modes") == [
            ("7100", "night")]
        caller.close()
    finally:
        rtp.close()
        await switch.stop()
