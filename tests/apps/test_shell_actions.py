"""The call shell's actions end to end, for an application registered the way the IVR,
voicemail and ring-group modules register theirs: a trunk call to its destination is
answered, a key interrupts a prompt, the caller is recorded to a mono WAV until `#`, then
bridged to an extension, and hung up when that extension hangs up."""

from __future__ import annotations

import asyncio
import struct
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from app_calls import dial, in_dialog, rtp_socket, start_switch, udp
from sipua import SipUA, sdp

from acd.config import Destination, DestinationType
from media import g711
from softswitch import destinations
from softswitch.apps.flow import (
    Action,
    Answer,
    Bridge,
    CallInfo,
    FlowBase,
    Hangup,
    Music,
    Play,
    Publish,
    Record,
    RouteTo,
)
from softswitch.sip.sdp import SessionDescription, audio


class RecordThenBridge(FlowBase):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [Publish(("started", call.caller, call.dialled, call.trunk)), Answer(),
                Play(1, ["outside-business-hours"], interrupt_digits="1")]

    def handle_digit(self, digit: str, now: float) -> list[Action]:
        return [Publish(("digit", digit))]

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        return [Publish(("played", play_id, interrupted)),
                Record(2, str(self.path), max_seconds=10, stop_digits="#", beep=False)]

    def handle_recording_done(self, record_id: int, path: str | None, seconds: float,
                              now: float) -> list[Action]:
        return [Publish(("recorded", path, seconds)), Bridge(3, ["1002"], timeout=5)]

    def handle_bridge_ended(self, bridge_id: int, status: int, now: float) -> list[Action]:
        return [Publish(("bridge ended", status)), Hangup()]


@pytest.fixture
def application(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "message.wav"
    monkeypatch.setattr(destinations, "_APPLICATIONS", dict(destinations.applications()))
    destinations.register_application(
        DestinationType.IVR, lambda config, target: RecordThenBridge(path), section="ivrs",
        exists=lambda config, target: target == "7000")
    return path


async def test_play_interrupt_record_bridge_hangup(tmp_path: Path, application: Path) -> None:
    provider = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
    switch = await start_switch(
        tmp_path, trunks=[{"name": "carrier", "host": "127.0.0.1",
                           "port": provider.local[1]}],
        inbound_routes=[{"name": "menu", "did": "5550100",
                         "destination": {"type": "ivr", "target": "7000"}}])
    seen: list[Any] = []
    switch.router.events.subscribe(lambda e: seen.append(e) if isinstance(e, tuple) else None)
    rtp, callee_rtp = rtp_socket(), rtp_socket()
    loop = asyncio.get_running_loop()
    try:
        provider.server = udp(switch)
        callee = await SipUA("1002", "pw-1002", udp(switch)).start()
        assert (await callee.register()).status == 200
        ok = await dial(provider, "5550100", "ivr-call", rtp, authenticate=False)
        assert ok.status == 200
        desc = SessionDescription.parse(ok.body)
        m = audio(desc)
        assert m is not None
        relay = (m.connection or desc.connection or "", m.port)
        provider.send_raw(in_dialog(provider, ok, "INFO", b"1", "application/dtmf"))
        assert (await provider.response()).status == 200
        for _ in range(200):  # the prompt stops, the recording starts
            if any(e[0] == "played" for e in seen):
                break
            await asyncio.sleep(0.01)
        tone = g711.encode(
            (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16),
            g711.codec_from_name("PCMU"))
        for seq in range(30):  # 0.6 s of the caller speaking, paced like a phone
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x55) + tone, relay)
            await asyncio.sleep(0.02)
        provider.send_raw(in_dialog(provider, ok, "INFO", b"Signal=#\r\nDuration=100\r\n",
                                    "application/dtmf-relay"))
        assert (await provider.response()).status == 200
        ring = await callee.next_request("INVITE")  # the bridge rings 1002
        callee.reply(ring, 200, to_tag="callee", body=sdp(callee_rtp.getsockname()[1]))
        await callee.next_request("ACK")
        for seq in range(30, 60):
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x55) + tone, relay)
            try:
                got = await asyncio.wait_for(loop.sock_recv(callee_rtp, 2048), 0.05)
            except TimeoutError:
                continue
            if got[12:] == tone:
                break
        else:
            pytest.fail("the caller's audio never reached the bridged extension")
        bye = callee.build("BYE", str(ring.contacts[0].uri), to=str(ring.from_),
                           call_id=ring.call_id, with_contact=False)
        callee.send_raw(bye.replace(f";tag={callee.tag}".encode(), b";tag=callee", 1))
        assert (await callee.response()).status == 200
        bye = await provider.next_request("BYE")  # the flow hangs up when the bridge ends
        provider.reply(bye, 200)
        callee.close()
        provider.close()
    finally:
        rtp.close()
        callee_rtp.close()
        await switch.stop()
    assert seen[0] == ("started", "carrier", "5550100", "carrier")
    assert ("digit", "1") in seen and ("played", 1, True) in seen
    assert ("digit", "#") not in seen  # the stop digit ends the recording, nothing else
    recorded = next(e for e in seen if e[0] == "recorded")
    assert recorded[1] == str(application) and 0.3 < recorded[2] < 2.0
    assert seen[-1] == ("bridge ended", 200)
    with wave.open(str(application)) as wav:
        assert wav.getnchannels() == 1 and wav.getframerate() == 8000
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    assert np.abs(samples).max() > 4000  # the caller's tone is in it


class RouteOnly(FlowBase):
    """Answers (or not), then sends the caller to one destination."""

    def __init__(self, destination: Destination, answer: bool) -> None:
        super().__init__()
        self.destination, self.answer = destination, answer

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [*([Answer()] if self.answer else []), RouteTo(self.destination)]


async def _app_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flow: Any,
                    **config: Any) -> tuple[Any, SipUA, SipUA, Any]:
    """A switch whose DID 5550100 reaches IVR 7000, served by `flow()`; the trunk's phone,
    extension 1002 registered, and an RTP socket."""
    monkeypatch.setattr(destinations, "_APPLICATIONS", dict(destinations.applications()))
    destinations.register_application(
        DestinationType.IVR, lambda cfg, target: flow(), section="ivrs",
        exists=lambda cfg, target: target == "7000")
    provider = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
    switch = await start_switch(
        tmp_path, trunks=[{"name": "carrier", "host": "127.0.0.1",
                           "port": provider.local[1]}],
        inbound_routes=[{"name": "menu", "did": "5550100",
                         "destination": {"type": "ivr", "target": "7000"}}], **config)
    provider.server = udp(switch)
    agent = await SipUA("1002", "pw-1002", udp(switch)).start()
    assert (await agent.register()).status == 200
    return switch, provider, agent, rtp_socket()


async def _route_only_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           destination: Destination, answer: bool,
                           **config: Any) -> tuple[Any, SipUA, SipUA, Any]:
    return await _app_call(tmp_path, monkeypatch, lambda: RouteOnly(destination, answer),
                           **config)


class RecordUntilSilence(FlowBase):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [Answer(), Record(1, str(self.path), max_seconds=10, stop_digits="",
                                 silence_seconds=0.3, beep=True)]

    def handle_recording_done(self, record_id: int, path: str | None, seconds: float,
                              now: float) -> list[Action]:
        return [Publish(("recorded", path, seconds)), Hangup()]


async def test_recording_ends_after_silence(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "msg.wav"
    switch, provider, agent, rtp = await _app_call(tmp_path, monkeypatch,
                                                   lambda: RecordUntilSilence(path))
    seen: list[Any] = []
    switch.router.events.subscribe(lambda e: seen.append(e) if isinstance(e, tuple) else None)
    try:
        ok = await dial(provider, "5550100", "silence", rtp, authenticate=False)
        desc = SessionDescription.parse(ok.body)
        m = audio(desc)
        assert m is not None
        relay = (m.connection or desc.connection or "", m.port)
        tone = g711.encode(
            (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16),
            g711.codec_from_name("PCMU"))
        quiet = bytes([0xFF]) * 160
        for seq in range(60):  # 0.4 s speaking, then silence until the switch hangs up
            payload = tone if seq < 20 else quiet
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x55) + payload, relay)
            await asyncio.sleep(0.02)
            if seen:
                break
        bye = await provider.next_request("BYE")
        provider.reply(bye, 200)
        provider.close()
        agent.close()
    finally:
        rtp.close()
        await switch.stop()
    [(_, recorded, seconds)] = seen
    assert recorded == str(path) and 0.5 < seconds < 1.0  # speech + 0.3 s of silence
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1


async def test_an_answered_caller_routed_to_a_queue_joins_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    switch, provider, agent, rtp = await _route_only_call(
        tmp_path, monkeypatch, Destination(DestinationType.QUEUE, "6400"), True,
        queues=[{"number": "6400", "name": "Sales", "static_agents": ["1002"]}])
    try:
        ok = await dial(provider, "5550100", "ivr-to-queue", rtp, authenticate=False)
        assert ok.status == 200
        ring = await agent.next_request("INVITE")  # the queue offers the caller to 1002
        assert ring.from_.display_name == "Sales: carrier"
        agent.reply(ring, 180, to_tag="agent")  # (a CANCEL waits for a provisional, §9.1)
        assert switch.router.queues.tasks["ivr-to-queue"].queue == "6400"
        # the caller's dialog is the queue's now, answered by the same policy
        provider.send_raw(in_dialog(provider, ok, "FOO"))
        assert (await provider.response()).status == 501
        provider.send_raw(in_dialog(provider, ok, "BYE"))
        assert (await provider.response()).status == 200
        cancel = await agent.next_request("CANCEL")
        agent.reply(cancel, 200)
        agent.reply(ring, 487, to_tag="agent")
        provider.close()
        agent.close()
    finally:
        rtp.close()
        await switch.stop()


async def test_an_unanswered_caller_routed_to_an_extension_is_handed_to_the_b2bua(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    switch, provider, agent, rtp = await _route_only_call(
        tmp_path, monkeypatch, Destination(DestinationType.EXTENSION, "1002"), False)
    try:
        uri = "sip:5550100@127.0.0.1"
        provider.call_id = "ivr-to-extension"
        provider.send_raw(provider.build("INVITE", uri, to=f"<{uri}>",
                                         body=sdp(rtp.getsockname()[1])))
        ring = await agent.next_request("INVITE")
        agent.reply(ring, 200, to_tag="agent", body=sdp(4002))
        ok = await provider.response()
        assert ok.status == 200 and ok.call_id == "ivr-to-extension"
        assert switch.router.calls.calls["ivr-to-extension"].control.callee == "1002"
        assert "ivr-to-extension" not in switch.router.apps.calls
        provider.close()
        agent.close()
    finally:
        rtp.close()
        await switch.stop()


async def test_queue_failover_to_an_external_number_bridges_through_the_trunk(
        tmp_path: Path) -> None:
    """A queue caller whose max wait ends goes to an external destination: the call shell
    takes the answered caller, rings the number through the outbound route's trunk, and
    bridges; the provider's BYE ends the caller's call."""
    provider = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
    switch = await start_switch(
        tmp_path, trunks=[{"name": "carrier", "host": "127.0.0.1",
                           "port": provider.local[1]}],
        outbound_routes=[{"name": "out", "prefix": "9", "strip": 1, "trunk": "carrier"}],
        queues=[{"number": "6400", "name": "Sales", "static_agents": ["1002"], "max_wait": 1,
                 "failover": {"type": "external", "target": "95550199"}}])
    rtp, far_rtp = rtp_socket(), rtp_socket()
    loop = asyncio.get_running_loop()
    try:
        provider.server = udp(switch)
        caller = await SipUA("1001", "pw-1001", udp(switch)).start()
        ok = await dial(caller, "6400", "to-external", rtp)
        assert ok.status == 200
        ring = await provider.next_request("INVITE")  # after max wait, via the trunk
        assert ring.uri.user == "5550199" and ring.from_.uri.user == "1001"
        provider.reply(ring, 200, to_tag="far", body=sdp(far_rtp.getsockname()[1]))
        await provider.next_request("ACK")
        desc = SessionDescription.parse(ok.body)
        m = audio(desc)
        assert m is not None
        relay = (m.connection or desc.connection or "", m.port)
        payload = bytes(range(160))
        for seq in range(50):
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x77) + payload, relay)
            try:
                got = await asyncio.wait_for(loop.sock_recv(far_rtp, 2048), 0.05)
            except TimeoutError:
                continue
            if got[12:] == payload:
                break
        else:
            pytest.fail("the caller's audio never reached the external number")
        bye = provider.build("BYE", str(ring.contacts[0].uri), to=str(ring.from_),
                             call_id=ring.call_id, with_contact=False)
        provider.send_raw(bye.replace(f";tag={provider.tag}".encode(), b";tag=far", 1))
        assert (await provider.response()).status == 200
        caller_bye = await caller.next_request("BYE")
        caller.reply(caller_bye, 200)
        caller.close()
        provider.close()
    finally:
        rtp.close()
        far_rtp.close()
        await switch.stop()


class MusicUntilAKey(FlowBase):
    """Music beneath the prompts (`Music`, added with the queue caller's flow): on at once,
    off at the first key."""

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [Answer(), Music("default")]

    def handle_digit(self, digit: str, now: float) -> list[Action]:
        return [Publish(("digit", digit)), Music(None)]


async def test_music_beneath_the_prompts_on_and_off(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(destinations, "_APPLICATIONS", dict(destinations.applications()))
    destinations.register_application(
        DestinationType.IVR, lambda config, target: MusicUntilAKey(), section="ivrs",
        exists=lambda config, target: target == "7000")
    provider = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
    switch = await start_switch(
        tmp_path, trunks=[{"name": "carrier", "host": "127.0.0.1",
                           "port": provider.local[1]}],
        inbound_routes=[{"name": "music", "did": "5550100",
                         "destination": {"type": "ivr", "target": "7000"}}])
    seen: list[Any] = []
    switch.router.events.subscribe(lambda e: seen.append(e) if isinstance(e, tuple) else None)
    rtp = rtp_socket()
    try:
        provider.server = udp(switch)
        ok = await dial(provider, "5550100", "music-call", rtp, authenticate=False)
        assert ok.status == 200
        assert await audible(rtp, 0.5) > 10  # the music
        provider.send_raw(in_dialog(provider, ok, "INFO", b"Signal=5\r\nDuration=100\r\n",
                                    "application/dtmf-relay"))
        assert (await provider.response()).status == 200
        for _ in range(200):
            if ("digit", "5") in seen:
                break
            await asyncio.sleep(0.01)
        await audible(rtp, 0.2)  # frames already on their way
        assert await audible(rtp, 0.5) == 0  # the music stopped
        provider.send_raw(in_dialog(provider, ok, "BYE"))
        assert (await provider.response()).status == 200
        provider.close()
    finally:
        rtp.close()
        await switch.stop()
    assert ("digit", "5") in seen


async def audible(rtp: Any, seconds: float) -> int:
    """Non-silent RTP packets (PCMU) arriving within `seconds`."""
    loop = asyncio.get_running_loop()
    count = 0
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            data = await asyncio.wait_for(loop.sock_recv(rtp, 2048), end - loop.time())
        except TimeoutError:
            break
        if any(b not in (0xFF, 0x7F) for b in data[12:]):
            count += 1
    return count


class BridgeTo1002(FlowBase):
    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [Answer(), Bridge(1, ["1002"], timeout=5)]


async def test_a_bridged_partys_late_offer_reinvite_is_completed_by_its_ack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The party the shell bridged re-INVITEs without SDP (RFC 3261 §14.2): our 200
    carries the offer, its ACK the answer; the next re-INVITE is answered again (200, not
    491 Request Pending: the ACK reached the policy of that party's dialog)."""
    switch, provider, callee, rtp = await _app_call(tmp_path, monkeypatch, BridgeTo1002)
    callee_rtp = rtp_socket()
    try:
        ok = await dial(provider, "5550100", "late-offer", rtp, authenticate=False)
        assert ok.status == 200
        ring = await callee.next_request("INVITE")
        callee.reply(ring, 200, to_tag="callee", body=sdp(callee_rtp.getsockname()[1]))
        await callee.next_request("ACK")

        def far(method: str, body: bytes = b"", cseq: int | None = None) -> bytes:
            raw = callee.build(method, str(ring.contacts[0].uri), to=str(ring.from_),
                               call_id=ring.call_id, with_contact=False, body=body, cseq=cseq)
            return raw.replace(f";tag={callee.tag}".encode(), b";tag=callee", 1)

        callee.send_raw(far("INVITE"))
        offer = await callee.response()
        assert offer.status == 200 and b"m=audio" in offer.body
        callee.send_raw(far("ACK", sdp(callee_rtp.getsockname()[1], "0 101"),
                            cseq=callee.cseq))
        await asyncio.sleep(0.05)  # the ACK has no answer to wait for
        callee.send_raw(far("INVITE", sdp(callee_rtp.getsockname()[1], "0 101")))
        assert (await callee.response()).status == 200
        provider.send_raw(in_dialog(provider, ok, "BYE"))
        assert (await provider.response()).status == 200
        bye = await callee.next_request("BYE")
        callee.reply(bye, 200)
        callee.close()
        provider.close()
    finally:
        rtp.close()
        callee_rtp.close()
        await switch.stop()
