"""The voicemail boxes in the running process: a left message is stored (and survives a
reopen of the database), lights the owners' lamps, and arrives by e-mail at a REAL aiosmtpd
server with the WAV attached; deleting removes the row and the file
(softswitch.apps.mailbox_service)."""

from __future__ import annotations

import asyncio
import email
import wave
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
from aiosmtpd.smtp import SMTP

from softswitch.apps.events import VoicemailDeleted, VoicemailHeard, VoicemailLeft
from softswitch.apps.mailbox_service import MailboxService
from softswitch.apps.voicemail import Folder, VoicemailBox
from softswitch.config import SmtpConfig
from softswitch.events import EventBus
from softswitch.notify.smtp import SmtpSender
from softswitch.presence.bodies import message_summary
from softswitch.store import Store

BOX = VoicemailBox("1001", "Alice", ("1001",), emails=("alice@example.com",))
WALL = 1_764_667_800.0  # 2025-12-02 09:30 UTC


class Inbox:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.put_nowait(email.message_from_bytes(envelope.content))
        return "250 OK"


def tone_wav(path: Path, hz: float = 1000.0, seconds: float = 1.0) -> None:
    t = np.arange(int(8000 * seconds)) / 8000
    samples = (0.5 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())


def dominant_hz(wav_bytes: bytes, tmp: Path) -> float:
    p = tmp / "got.wav"
    p.write_bytes(wav_bytes)
    with wave.open(str(p)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


async def test_message_is_stored_lit_and_mailed_with_the_wav(tmp_path: Path) -> None:
    inbox = Inbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(inbox), "127.0.0.1",
                                                            0)
    port = server.sockets[0].getsockname()[1]
    sender = SmtpSender(SmtpConfig(host="127.0.0.1", port=port, sender="pbx@example.com"))
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    bus = EventBus()
    lamps: list[tuple[str, bytes]] = []
    service = await MailboxService.open({"1001": BOX}, "pbx", bus, store,
                                        lambda ext, body: lamps.append((ext, body)), sender,
                                        lambda: WALL)
    wav = tmp_path / "m1.wav"
    tone_wav(wav)
    try:
        bus.publish(VoicemailLeft(1.0, "1001", "m1", "1003", "Carol", str(wav), 1.0, "c1"))
        assert lamps == [("1001", message_summary("sip:1001@pbx", 1, 0))]
        msg = await asyncio.wait_for(inbox.messages.get(), 10)
        assert msg["To"] == "alice@example.com"
        assert "Carol <1003>" in msg["Subject"]
        parts = [p for p in msg.walk() if p.get_filename()]
        assert [p.get_filename() for p in parts] == ["m1.wav"]
        assert parts[0].get_content_type() == "audio/x-wav"
        payload = parts[0].get_payload(decode=True)
        assert isinstance(payload, bytes)
        assert abs(dominant_hz(payload, tmp_path) - 1000.0) < 5  # the recorded tone
        bus.publish(VoicemailHeard(2.0, "1001", "m1"))
        await store.flush()
    finally:
        service.close()
        await sender.close()
        await store.close()
        server.close()
    # the box survives a restart: a new service on the same database
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    try:
        again = await MailboxService.open({"1001": BOX}, "pbx", EventBus(), store,
                                          lambda ext, body: None, None, lambda: WALL)
        [m] = again.mailboxes.messages("1001")
        assert (m.message_id, m.folder, m.caller) == ("m1", Folder.OLD, "1003")
        assert again.lamps() == {"1001": message_summary("sip:1001@pbx", 0, 1)}
        again.handle(VoicemailDeleted(3.0, "1001", "m1"))
        await store.flush()
        for _ in range(100):  # the file goes in a worker thread
            if not wav.exists():
                break
            await asyncio.sleep(0.01)
        assert not wav.exists()
        assert await store.fetch("SELECT count(*) FROM voicemail_messages") == [(0,)]
    finally:
        await store.close()
