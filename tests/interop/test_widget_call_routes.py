"""Widget calls on the internal WebRTC trunk (softswitch.webrtc.trunk): a Live Chat visitor
whose channel's ``call_destination`` is a queue reaches the queue like any caller, and a
pjsua2 agent answers; the widget then learns the agent's name (``show_agent_info``). The
visitor is an aiortc client on the Live Chat websocket (the browser path is covered by
tests/browser/test_widget_calls.py): its microphone plays a 1000 Hz tone, which the agent's
phone hears; the visitor hangs up, the agent's call ends, and the queue's report row, the
CDR and the session's call notes exist. A SIP sender that claims to be the trunk without the
switch's secret is not routed as it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from audio import tone_wav, wav_has_tone
from phones import Phone
from queue_support import phone, poll_rows, queue_config

from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

AGENT = "1001"
QUEUE = queue_config("6400", "Sales", static_agents=[AGENT])
CHANNEL = {"name": "Livechat", "type": "livechat", "number": "LC00000",
           "domains": ["www.yeasar.com"],
           "destination": {"type": "extension", "target": "1001"},
           "consultation_mode": "chat_and_call",
           "call_destination": {"type": "queue", "target": "6400"},
           "show_agent_info": "name",
           "pre_chat_form": [{"field": "name", "label": "Name", "required": True}]}
ORIGIN = "https://www.yeasar.com"


async def visitor_call(ws_url: str, wav: Path, hang_up: threading.Event | None,
                       frames: list[dict[str, Any]],
                       heard: list[np.ndarray[Any, Any]] | None = None) -> None:
    """An aiortc visitor: hello, form, a message, a call whose audio is ``wav``; hangs up
    when ``hang_up`` is set (None: waits for the switch to end the call); every ``call``
    frame the switch sent goes to ``frames``, the audio it heard (8 kHz) to ``heard``."""
    pc = RTCPeerConnection()
    player = MediaPlayer(str(wav))
    readers: list[asyncio.Task[None]] = []

    async def read(track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if heard is not None and isinstance(frame, av.AudioFrame):
                for out in resampler.resample(frame):
                    heard.append(out.to_ndarray().reshape(-1).astype(np.float64))

    resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        readers.append(asyncio.get_running_loop().create_task(read(track)))

    try:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(ws_url, headers={"Origin": ORIGIN},
                                max_msg_size=1 << 20) as ws:
            async def next_of(*kinds: str, timeout: float = 20) -> dict[str, Any]:
                while True:
                    msg = await asyncio.wait_for(ws.receive(), timeout)
                    data = dict(json.loads(msg.data))
                    if data["type"] == "call":
                        # (how much audio the visitor had heard when the frame came)
                        frames.append({**data, "heard_at": len(heard or ())})
                    if data["type"] in kinds:
                        return data

            await ws.send_json({"type": "hello", "visitor": None, "form": None})
            await next_of("welcome")
            await ws.send_json({"type": "form", "form": {"name": "Ann"}})
            await next_of("form_ok")
            await ws.send_json({"type": "message", "text": "May I call?", "id": "m1"})
            await next_of("ack")
            await asyncio.sleep(1.1)  # the visitor's frame bucket (1 frame/s) refills
            assert player.audio is not None
            pc.addTrack(player.audio)
            await pc.setLocalDescription(await pc.createOffer())
            await ws.send_json({"type": "call", "sdp": pc.localDescription.sdp})
            calling = await next_of("call", "error")
            assert calling.get("state") == "calling", calling
            await pc.setRemoteDescription(RTCSessionDescription(calling["sdp"], "answer"))
            connected = await next_of("call")
            while connected["state"] == "ringing":
                connected = await next_of("call", timeout=60)
            if connected["state"] != "connected":
                return  # ended before anyone answered: the test checks the frames
            if hang_up is not None:
                await asyncio.to_thread(hang_up.wait, 60)
                await ws.send_json({"type": "hangup"})
            ended = await next_of("call", timeout=30)
            while ended["state"] == "connected":  # who answered (show agent info)
                ended = await next_of("call", timeout=30)
            assert ended["state"] == "ended", ended
    finally:
        await pc.close()
        for reader in readers:
            reader.cancel()


@pytest.mark.timeout(180)
def test_a_widget_call_reaches_a_queue_and_an_agent_answers(
        switch_factory: Callable[..., RunningSwitch], phone_factory: Callable[..., Phone],
        tmp_path: Path) -> None:
    switch = switch_factory(queues=[QUEUE], overrides={"message_channels": [CHANNEL]})
    agent = phone(phone_factory, (AGENT, switch.password(AGENT)), switch)
    ws_url = switch.http_url.replace("http", "ws", 1) + "/api/v1/livechat/LC00000/ws"
    wav = tone_wav(tmp_path / "tone1000.wav", 1000.0, seconds=40.0, rate=48000)
    hang_up = threading.Event()
    frames: list[dict[str, Any]] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(visitor_call(ws_url, wav, hang_up, frames))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failure.append(exc)

    visitor = threading.Thread(target=run, daemon=True)
    visitor.start()
    try:
        ring = agent.wait_incoming(timeout=30)
        offered = json.dumps(agent.incoming(ring))
        assert "Ann" in offered and "LC00000" in offered, offered  # the caller ID
        # the queue answers the trunk call at once (its caller hears the queue), so the
        # visitor is connected by the time the agent's phone rings or just after
        deadline = time.monotonic() + 10
        while len(frames) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [f["state"] for f in frames] == ["calling", "connected"], frames
        agent.answer(ring)
        agent.wait_call_state(ring, "CONFIRMED")
        agent.wait_media(ring)
        heard = tmp_path / "agent-heard.wav"
        agent.record(ring, heard)
        time.sleep(2.5)  # the recording's length, not a wait for the switch
        agent.stop_record(ring)
        wav_has_tone(heard, 1000.0, min_seconds=1.0)
    finally:
        hang_up.set()
    agent.wait_call_state(ring, "DISCONNECTED", timeout=15)
    visitor.join(30)
    assert not failure, failure
    assert [f["state"] for f in frames] == ["calling", "connected", "connected", "ended"], \
        frames
    # show_agent_info name: the queue answered first (nobody yet: the default name), then
    # its agent's name once the agent's phone answered
    assert [f["agent"]["name"] for f in frames[1:3]] == ["Agent", "Alice Agent"], frames

    rows = poll_rows(switch.db_path, "SELECT queue, caller, status, agent, talk FROM "
                     "queue_calls WHERE ended_at IS NOT NULL", timeout=10)
    assert len(rows) == 1 and rows[0][:4] == ("6400", "LC00000", "answered", AGENT) \
        and rows[0][4] > 0, rows
    rows = poll_rows(switch.db_path, "SELECT caller, callee, disposition FROM cdr "
                     "WHERE callee = '6400'", timeout=10)
    assert rows == [("LC00000", "6400", "ANSWERED")], rows
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite3.connect(switch.db_path) as db:
            notes = [str(r[0]) for r in db.execute(
                "SELECT body FROM messaging_messages ORDER BY id")]
        if any(n.startswith("Call ended") for n in notes):
            break
        time.sleep(0.1)
    assert any(n.startswith("Call started") for n in notes), notes
    assert any(n.startswith("Call ended") and "duration" in n for n in notes), notes
    assert not any("Traceback" in line for line in switch.output().splitlines())


@pytest.mark.timeout(90)
def test_a_widget_call_to_an_extension_without_a_phone_ends_unavailable(
        switch_factory: Callable[..., RunningSwitch], tmp_path: Path) -> None:
    """The trunk call to an extension that has no registered phone is refused by the
    switch (480): the visitor is told at once, with the reason ``unavailable``."""
    channel = {**CHANNEL, "call_destination": {"type": "extension", "target": "1002"}}
    switch = switch_factory(overrides={"message_channels": [channel]})
    ws_url = switch.http_url.replace("http", "ws", 1) + "/api/v1/livechat/LC00000/ws"
    wav = tone_wav(tmp_path / "tone1000.wav", 1000.0, seconds=10.0, rate=48000)
    frames: list[dict[str, Any]] = []
    asyncio.run(visitor_call(ws_url, wav, threading.Event(), frames))
    assert [(f["state"], f.get("reason")) for f in frames] == [
        ("calling", None), ("ended", "unavailable")], frames


@pytest.mark.timeout(90)
def test_a_widget_call_to_a_prompt_plays_it_to_the_visitor(
        switch_factory: Callable[..., RunningSwitch], tmp_path: Path) -> None:
    """An application destination (``prompt``, on the call shell): the switch answers the
    trunk call, the visitor hears the prompt (a 700 Hz tone) through the gateway, and the
    switch's hang-up after the prompt ends the widget call (reason ``hung_up``)."""
    prompt = tone_wav(tmp_path / "tone700.wav", 700.0, seconds=2.0)
    channel = {**CHANNEL, "call_destination": {"type": "prompt", "target": str(prompt)}}
    switch = switch_factory(overrides={"message_channels": [channel]})
    ws_url = switch.http_url.replace("http", "ws", 1) + "/api/v1/livechat/LC00000/ws"
    wav = tone_wav(tmp_path / "tone1000.wav", 1000.0, seconds=20.0, rate=48000)
    frames: list[dict[str, Any]] = []
    heard: list[np.ndarray[Any, Any]] = []
    asyncio.run(visitor_call(ws_url, wav, None, frames, heard))
    samples = np.concatenate(heard) if heard else np.zeros(0)
    assert [(f["state"], f.get("reason")) for f in frames] == [
        ("calling", None), ("connected", None), ("ended", "hung_up")], frames
    samples = np.concatenate(heard) if heard else np.zeros(0)
    assert len(samples) >= 8000, len(samples)  # at least a second of the prompt
    assert abs(dominant(samples) - 700) < 15, dominant(samples)


def dominant(samples: np.ndarray[Any, Any]) -> float:
    """The strongest frequency (Hz) of 8 kHz ``samples``."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 8000)[int(np.argmax(spectrum[1:])) + 1])


class _Sink(asyncio.DatagramProtocol):
    pass


@pytest.mark.timeout(90)
def test_a_providers_early_media_reaches_the_visitor(
        switch_factory: Callable[..., RunningSwitch], tmp_path: Path) -> None:
    """An external ``call_destination`` over a trunk whose provider answers 183 with SDP and
    plays its own ringback (a 500 Hz tone here) before the 200: the widget shows ringing and
    the visitor hears the provider's tone (relayed as early media by the B2BUA), not the
    switch's ringback; after the 200 the call is connected as usual."""
    from sipua import SipUA, sdp

    from media import g711

    async def scenario() -> tuple[list[dict[str, Any]], list[np.ndarray[Any, Any]]]:
        carrier = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
        loop = asyncio.get_running_loop()
        rtp, _ = await loop.create_datagram_endpoint(_Sink, local_addr=("127.0.0.1", 0))
        port = rtp.get_extra_info("sockname")[1]
        channel = {**CHANNEL, "call_destination": {"type": "external", "target": "9555123"}}
        switch = switch_factory(overrides={
            "message_channels": [channel],
            "trunks": [{"name": "carrier", "host": "127.0.0.1", "port": carrier.local[1]}],
            "outbound_routes": [{"name": "out", "prefix": "9", "strip": 1,
                                 "trunk": "carrier"}]})
        ws_url = switch.http_url.replace("http", "ws", 1) + "/api/v1/livechat/LC00000/ws"
        wav = tone_wav(tmp_path / "tone1000.wav", 1000.0, seconds=20.0, rate=48000)
        frames: list[dict[str, Any]] = []
        heard: list[np.ndarray[Any, Any]] = []
        hang_up = threading.Event()

        async def provider() -> None:
            invite = await carrier.next_request("INVITE", timeout=30)
            assert invite.uri.user == "555123", invite.uri
            body = invite.body.decode()
            host = body.split("c=IN IP4 ", 1)[1].split()[0]
            switch_port = int(body.split("m=audio ", 1)[1].split()[0])
            carrier.reply(invite, 183, to_tag="prov", body=sdp(port, "0"))
            tone = (0.3 * 32767 * np.sin(2 * np.pi * 500 * np.arange(160 * 150) / 8000))
            payload = g711.encode(tone.astype(np.int16), g711.Codec.PCMU)
            for i in range(150):  # 3 s of the provider's ringback, paced like a provider
                header = bytes([0x80, 0]) + i.to_bytes(2, "big") + \
                    (i * 160).to_bytes(4, "big") + (0x1234).to_bytes(4, "big")
                rtp.sendto(header + payload[i * 160:(i + 1) * 160], (host, switch_port))
                await asyncio.sleep(0.02)
            carrier.reply(invite, 200, to_tag="prov", body=sdp(port, "0"))
            await asyncio.sleep(0.5)
            hang_up.set()
            bye = await carrier.next_request("BYE", timeout=30)
            carrier.reply(bye, 200)

        try:
            await asyncio.gather(provider(), visitor_call(ws_url, wav, hang_up, frames, heard))
        finally:
            rtp.close()
            carrier.close()
        return frames, heard

    frames, heard = asyncio.run(scenario())
    assert [f["state"] for f in frames] == ["calling", "ringing", "connected", "ended"], frames
    ringing = np.concatenate(heard[frames[1]["heard_at"]:frames[2]["heard_at"]])
    assert len(ringing) >= 8000, len(ringing)  # a second and more of early media
    assert abs(dominant(ringing) - 500) < 15, dominant(ringing)


def forged_invite(switch: RunningSwitch, secret: str, port: int) -> bytes:
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    return (f"INVITE sip:LC00000@{switch.host}:{switch.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-forged-{secret[:4]};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: \"Mallory\" <sip:LC00000@{switch.domain}>;tag=f1\r\n"
            f"To: <sip:LC00000@{switch.domain}>\r\n"
            f"Call-ID: forged-{port}@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:LC00000@127.0.0.1:{port}>\r\n"
            f"X-WebRTC-Trunk: {secret}\r\n"
            "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("secret", ["guessed-secret", ""])
def test_a_sender_without_the_secret_is_not_the_webrtc_trunk(
        switch_factory: Callable[..., RunningSwitch], secret: str) -> None:
    """An INVITE to the channel number that claims to be the trunk (a wrong or empty
    ``X-WebRTC-Trunk``) is an ordinary request: digest challenged, never routed to the
    channel's queue."""
    import socket

    switch = switch_factory(queues=[QUEUE], overrides={"message_channels": [CHANNEL]})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        sock.sendto(forged_invite(switch, secret, sock.getsockname()[1]),
                    (switch.host, switch.port))
        statuses = []
        while not statuses or statuses[-1] < 200:
            data = sock.recv(65536).decode(errors="replace")
            statuses.append(int(data.split(" ", 2)[1]))
    assert statuses[-1] in (401, 407), statuses
    assert not poll_rows(switch.db_path, "SELECT * FROM queue_calls", timeout=1)
