"""The call shell's seams for an owner that runs more than the flow (the queue: issue 15):
an input fed to a running flow from outside (`CallShell.feed`), the caller bridged to an
established leg the owner holds (`connect` / `disconnect`), and the owner's hooks for the
caller's hold, SIP INFO key presses and the end of the connection while connected. All on
a switch in the test's loop, over UDP and RTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from app_calls import dial, in_dialog, rtp_socket, start_switch, udp
from sipua import SipUA, sdp

from acd.config import DestinationType
from media import MediaLeg, g711
from softswitch import destinations
from softswitch.apps.flow import Action, Answer, CallInfo, FlowBase, Hangup, Music, Publish
from softswitch.apps.indialog import InDialogPolicy
from softswitch.apps.shell import CallShell, RecordContents
from softswitch.calls.events import CallEnded
from softswitch.sip import Request, Response
from softswitch.sip.sdp import SessionDescription, audio
from softswitch.store.records import CallRecord

TONE = g711.encode((8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16),
                   g711.codec_from_name("PCMU"))


class Owned(FlowBase):
    """Waits on music; what else happens comes from outside (the test is the owner).
    Without `answer_at_start` it leaves the caller unanswered (the owner decides)."""

    answer_at_start = True

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [Answer(), Music("default")] if self.answer_at_start else []

    def handle_hangup(self, now: float) -> list[Action]:
        return [Publish(("hangup", now))]

    def handle_digit(self, digit: str, now: float) -> list[Action]:
        return [Publish(("digit", digit))]

    def outside(self, now: float) -> list[Action]:
        """What an owner's input (an ACD command) turns into."""
        return [Publish(("fed", now)), Music(None)]

    def handle_bridge_ended(self, bridge_id: int, status: int, now: float) -> list[Action]:
        return [Publish(("bridge ended", bridge_id, status)), Hangup("far side left")]


class Hooks:
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def held(self, call_id: str, held: bool) -> None:
        self.seen.append(("held", call_id, held))

    def info(self, call_id: str, request: Request) -> None:
        self.seen.append(("info", call_id, request.body))

    def ended(self, call_id: str, bridge_id: int) -> None:
        self.seen.append(("ended", call_id, bridge_id))


async def heard(sock: socket.socket, seconds: float, payload: bytes | None = None) -> int:
    """RTP packets arriving within ``seconds``: non-silent ones, or exactly ``payload``."""
    loop = asyncio.get_running_loop()
    count = 0
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 2048), end - loop.time())
        except TimeoutError:
            break
        if data[12:] == payload if payload is not None else \
                any(b not in (0xFF, 0x7F) for b in data[12:]):
            count += 1
    return count


async def speak(sock: socket.socket, relay: tuple[str, int], first: int, count: int) -> None:
    for seq in range(first, first + count):  # paced like a phone
        sock.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x55) + TONE, relay)
        await asyncio.sleep(0.02)


async def speak_and_count(caller: socket.socket, relay: tuple[str, int],
                          far: socket.socket, first: int) -> int:
    """The caller talks for 0.6 s: how many of its packets reach the far leg's phone."""
    got, _ = await asyncio.gather(heard(far, 0.8, TONE), speak(caller, relay, first, 30))
    return got


@pytest.fixture
def owned(monkeypatch: pytest.MonkeyPatch) -> list[Owned]:
    flows: list[Owned] = []

    def make(config: object, target: str) -> Owned:
        flows.append(Owned())
        return flows[-1]

    monkeypatch.setattr(destinations, "_APPLICATIONS", dict(destinations.applications()))
    destinations.register_application(DestinationType.IVR, make, section="ivrs",
                                      exists=lambda config, target: target == "7000")
    return flows


async def _switch_and_caller(tmp_path: Path) -> tuple[Any, SipUA]:
    provider = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
    switch = await start_switch(
        tmp_path, trunks=[{"name": "carrier", "host": "127.0.0.1",
                           "port": provider.local[1]}],
        inbound_routes=[{"name": "owned", "did": "5550100",
                         "destination": {"type": "ivr", "target": "7000"}}])
    provider.server = udp(switch)
    return switch, provider


@contextlib.asynccontextmanager
async def _call_on_shell(tmp_path: Path) -> AsyncIterator[tuple[Any, SipUA, socket.socket]]:
    """A switch with the carrier trunk (`_switch_and_caller`) and a caller's RTP socket,
    both closed after the test."""
    switch, provider = await _switch_and_caller(tmp_path)
    rtp = rtp_socket()
    try:
        yield switch, provider, rtp
    finally:
        rtp.close()
        await switch.stop()


def _relay(ok: Response) -> tuple[str, int]:
    desc = SessionDescription.parse(ok.body)
    m = audio(desc)
    assert m is not None
    return m.connection or desc.connection or "", m.port


async def _far_leg(switch: Any, far: socket.socket) -> MediaLeg:
    """An established leg the owner holds (in the queue: an agent's answered offer)."""
    leg: MediaLeg = await switch.media.open_leg("owner/far")
    leg.set_remote(far.getsockname(), 0, "PCMU", 101)
    return leg


async def test_feed_connect_hooks_and_disconnect(tmp_path: Path, owned: list[Owned]) -> None:
    switch, provider = await _switch_and_caller(tmp_path)
    shell: CallShell = switch.router.apps
    seen: list[Any] = []
    switch.router.events.subscribe(lambda e: seen.append(e) if isinstance(e, tuple) else None)
    rtp, far_rtp = rtp_socket(), rtp_socket()
    hooks = Hooks()
    try:
        ok = await dial(provider, "5550100", "seams", rtp, authenticate=False)
        assert ok.status == 200
        relay = _relay(ok)
        [flow] = owned
        assert await heard(rtp, 0.5) > 10  # the flow's music

        # an input from outside reaches the running flow at the shell's now
        calls: list[float] = []

        def step(now: float) -> list[Action]:
            calls.append(now)
            return flow.outside(now)

        assert shell.feed("seams", step)
        assert calls and ("fed", calls[0]) in seen
        await heard(rtp, 0.2)  # frames already on their way
        assert await heard(rtp, 0.5) == 0  # its Music(None) ran: the music stopped
        assert not shell.feed("no-such-call", step) and len(calls) == 1

        # the caller is bridged to the owner's established leg, both ways
        far = await _far_leg(switch, far_rtp)
        assert shell.connect("seams", 7, far, hooks)
        assert not shell.connect("seams", 7, far, hooks)  # that bridge id is taken
        assert not shell.connect("no-such-call", 8, far, hooks)
        assert await speak_and_count(rtp, relay, far_rtp, 0) > 10
        relay_far = (far.local_host, far.local_port)
        got, _ = await asyncio.gather(heard(rtp, 0.8, TONE), speak(far_rtp, relay_far, 0, 30))
        assert got > 10

        # while connected, the caller's key (INFO) goes to the owner and to the flow
        provider.send_raw(in_dialog(provider, ok, "INFO", b"Signal=5\r\nDuration=100\r\n",
                                    "application/dtmf-relay"))
        assert (await provider.response()).status == 200
        assert ("info", "seams", b"Signal=5\r\nDuration=100\r\n") in hooks.seen
        assert ("digit", "5") in seen

        # hold and resume by the caller reach the owner; a refresh changes nothing
        for direction in ("sendonly", "sendonly", "sendrecv"):
            provider.send_raw(in_dialog(provider, ok, "INVITE",
                                        sdp(rtp.getsockname()[1], "0 101", direction)))
            resp = await provider.response()
            assert resp.status == 200
            provider.send_raw(provider.build("ACK", str(ok.contacts[0].uri),
                                             to=f"<sip:5550100@127.0.0.1>;tag={ok.to.tag}",
                                             cseq=provider.cseq, with_contact=False))
        assert [e for e in hooks.seen if e[0] == "held"] == [("held", "seams", True),
                                                             ("held", "seams", False)]

        # the owner's far side ends: the flow hears it (and hangs up); the leg stays its own
        assert shell.disconnect("seams", 7, 200)
        assert not shell.disconnect("seams", 7, 200)
        bye = await provider.next_request("BYE")
        provider.reply(bye, 200)
        assert ("bridge ended", 7, 200) in seen
        assert not far.closed
        assert ("ended", "seams", 7) not in hooks.seen  # the owner ended it, not the shell
        assert await speak_and_count(rtp, relay, far_rtp, 30) == 0
        await far.close()
        provider.close()
    finally:
        rtp.close()
        far_rtp.close()
        await switch.stop()


async def test_the_callers_hang_up_ends_the_connection_for_the_owner(
        tmp_path: Path, owned: list[Owned]) -> None:
    switch, provider = await _switch_and_caller(tmp_path)
    shell: CallShell = switch.router.apps
    rtp, far_rtp = rtp_socket(), rtp_socket()
    hooks = Hooks()
    try:
        ok = await dial(provider, "5550100", "seams-bye", rtp, authenticate=False)
        assert ok.status == 200
        far = await _far_leg(switch, far_rtp)
        assert shell.connect("seams-bye", 3, far, hooks)
        assert await speak_and_count(rtp, _relay(ok), far_rtp, 0) > 10
        provider.send_raw(in_dialog(provider, ok, "BYE"))
        assert (await provider.response()).status == 200
        assert hooks.seen == [("ended", "seams-bye", 3)]
        assert not far.closed  # the owner releases its party
        assert not shell.feed("seams-bye", lambda now: [])  # the call is over
        await far.close()
        provider.close()
    finally:
        rtp.close()
        far_rtp.close()
        await switch.stop()


async def _answered(switch: Any, provider: Any, rtp: Any,
                    call_id: str) -> tuple[CallShell, list[CallRecord], list[Any], Any]:
    """Call ``call_id`` into the owned flow's number and see it answered: the shell, the
    rows it completes from now on, the bus's events and the 200."""
    shell: CallShell = switch.router.apps
    rows = _rows(shell)
    seen: list[Any] = []
    switch.router.events.subscribe(seen.append)
    ok = await dial(provider, "5550100", call_id, rtp, authenticate=False)
    assert ok.status == 200
    return shell, rows, seen, ok


def _rows(shell: CallShell) -> list[CallRecord]:
    """The CDR rows the shell completes (still written to the store as usual)."""
    rows: list[CallRecord] = []
    complete = shell.records.complete

    def keep(uid: str, record: CallRecord) -> None:
        rows.append(record)
        complete(uid, record)

    shell.records.complete = keep  # type: ignore[method-assign]
    return rows


async def test_reject_refuses_a_caller_the_shell_is_still_answering(
        tmp_path: Path, owned: list[Owned], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Owned, "answer_at_start", False)
    async with _call_on_shell(tmp_path) as (switch, provider, rtp):
        shell: CallShell = switch.router.apps
        rows = _rows(shell)
        uri = "sip:5550100@127.0.0.1"
        provider.call_id = "seams-reject"
        provider.send_raw(provider.build("INVITE", uri, to=f"<{uri}>",
                                         body=sdp(rtp.getsockname()[1])))
        assert (await provider.response(final=False)).status == 100
        for _ in range(100):  # the router hands the INVITE to the shell
            if shell.owns("seams-reject"):
                break
            await asyncio.sleep(0.01)
        assert shell.leg("seams-reject") is None  # nothing answered, no leg yet
        assert shell.reject("seams-reject", 404, "Not Found")
        final = await provider.response()
        assert (final.status, final.reason) == (404, "Not Found")
        assert not shell.reject("seams-reject", 480, "Temporarily Unavailable")
        assert not shell.reject("no-such-call", 480)
        assert [(r.call_id, r.disposition, r.hangup_cause, r.sip_code) for r in rows] == [
            ("seams-reject", "FAILED", "Not Found", 404)]
        provider.close()


async def test_reject_is_refused_once_the_caller_is_answered(
        tmp_path: Path, owned: list[Owned]) -> None:
    async with _call_on_shell(tmp_path) as (switch, provider, rtp):
        shell: CallShell = switch.router.apps
        ok = await dial(provider, "5550100", "seams-late", rtp, authenticate=False)
        assert ok.status == 200
        assert not shell.reject("seams-late", 404, "Not Found")
        assert shell.leg("seams-late") is not None  # still running
        provider.send_raw(in_dialog(provider, ok, "BYE"))
        assert (await provider.response()).status == 200
        provider.close()


async def test_offer_required_answers_488_where_the_shell_would_answer_or_say_400(
        tmp_path: Path, owned: list[Owned], monkeypatch: pytest.MonkeyPatch) -> None:
    async with _call_on_shell(tmp_path) as (switch, provider, rtp):
        shell: CallShell = switch.router.apps
        uri = "sip:5550100@127.0.0.1"

        async def invite(call_id: str, body: bytes) -> Response:
            provider.call_id = call_id
            provider.send_raw(provider.build("INVITE", uri, to=f"<{uri}>", body=body))
            resp = await provider.response()
            if resp.status >= 300:
                provider.send_raw(provider.build("ACK", uri, to=f"<{uri}>;tag={resp.to.tag}",
                                                 cseq=provider.cseq, branch=resp.via.branch,
                                                 with_contact=False))
            return resp

        # the shell's own policy: unreadable SDP is the caller's error
        assert (await invite("bad-sdp", b"this is not sdp\r\n")).status == 400
        start = shell.start
        monkeypatch.setattr(shell, "start", functools.partial(start, offer_required=True))
        no_codec = sdp(rtp.getsockname()[1], "18").replace(b"a=rtpmap:0 PCMU/8000\r\n", b"")
        for call_id, body in (("no-offer", b""), ("bad-sdp-2", b"this is not sdp\r\n"),
                              ("no-codec", no_codec)):
            resp = await invite(call_id, body)
            assert (resp.status, resp.reason) == (488, "Not Acceptable Here"), call_id
        ok = await invite("good", sdp(rtp.getsockname()[1]))
        assert ok.status == 200
        provider.send_raw(provider.build("ACK", str(ok.contacts[0].uri),
                                         to=f"<{uri}>;tag={ok.to.tag}", cseq=provider.cseq,
                                         with_contact=False))
        provider.invite_uri = uri  # type: ignore[attr-defined]
        provider.send_raw(in_dialog(provider, ok, "BYE"))
        assert (await provider.response()).status == 200
        provider.close()


async def test_release_hands_out_the_answered_caller_without_ending_it(
        tmp_path: Path, owned: list[Owned]) -> None:
    async with _call_on_shell(tmp_path) as (switch, provider, rtp):
        shell, rows, seen, ok = await _answered(switch, provider, rtp, "seams-rel")
        assert await heard(rtp, 0.5) > 10  # the flow's music
        leg = shell.leg("seams-rel")
        assert leg is not None and not leg.closed
        assert shell.leg("no-such-call") is None
        assert shell.release("no-such-call", "parked") is None

        end = shell.release("seams-rel", "parked at 701")
        assert end is not None
        assert end.leg is leg and not leg.closed  # handed over, not closed
        assert end.dialog.call_id == "seams-rel" and end.party == "carrier"
        assert end.request.call_id == "seams-rel" and end.origin is not None
        assert shell.leg("seams-rel") is None and not shell.owns("seams-rel")
        assert shell.release("seams-rel", "again") is None
        await heard(rtp, 0.2)
        assert await heard(rtp, 0.5) == 0  # the music stopped with it
        # no BYE to the caller; the flow was not told of a hang-up
        with pytest.raises(TimeoutError):
            await provider.next_request("BYE", timeout=0.5)
        assert not [e for e in seen if isinstance(e, tuple) and e[0] == "hangup"]
        ended = [e for e in seen if isinstance(e, CallEnded)]
        assert [(e.call_id, e.disposition, e.hangup_cause) for e in ended] == [
            ("seams-rel", "ANSWERED", "parked at 701")]
        assert [(r.call_id, r.disposition, r.hangup_cause) for r in rows] == [
            ("seams-rel", "ANSWERED", "parked at 701")]
        await leg.close()
        provider.close()


async def test_record_contents_are_the_owners_part_of_the_one_row(
        tmp_path: Path, owned: list[Owned]) -> None:
    async with _call_on_shell(tmp_path) as (switch, provider, rtp):
        shell, rows, seen, ok = await _answered(switch, provider, rtp, "seams-cdr")
        causes: list[str] = []

        def supply(cause: str) -> RecordContents:
            causes.append(cause)
            return RecordContents({"packets_received": 7}, "/var/rec/seams-cdr.wav",
                                  f"{cause} (connected)")

        assert not shell.record_contents("no-such-call", supply)
        assert shell.record_contents("seams-cdr", supply)
        # the owner's second leg joins the crash-safe row (its dialog: a stand-in here)
        app_call = shell.calls["seams-cdr"]
        assert app_call.dialog is not None
        assert shell.confirm_leg("seams-cdr", "agent", app_call.dialog, app_call.peer)
        assert not shell.confirm_leg("no-such-call", "agent", app_call.dialog,
                                     app_call.peer)
        await switch.store.flush()
        assert sorted(r.leg for r in await switch.store.call_dialogs()) == ["agent", "caller"]
        provider.send_raw(in_dialog(provider, ok, "BYE"))
        assert (await provider.response()).status == 200
        await switch.store.flush()
        assert await switch.store.call_dialogs() == []  # forgotten with the row
        assert causes == ["BYE"]
        [row] = rows
        assert (row.call_id, row.hangup_side, row.hangup_cause) == (
            "seams-cdr", "caller", "BYE (connected)")
        assert row.callee_rtp == {"packets_received": 7}
        assert row.recording == "/var/rec/seams-cdr.wav"
        assert row.caller_rtp is not None  # the caller's own leg, as before
        assert [e.hangup_cause for e in seen if isinstance(e, CallEnded)] == [
            "BYE (connected)"]  # the event tells what the row tells
        provider.close()


async def test_an_adopted_caller_transferred_in_gets_its_own_row_and_events(
        tmp_path: Path, owned: list[Owned]) -> None:
    async with _call_on_shell(tmp_path) as (switch, provider, rtp):
        shell, rows, seen, ok = await _answered(switch, provider, rtp, "seams-adopt")
        end = shell.release("seams-adopt", "transferred")  # its first call ends here
        assert end is not None
        first = len(seen)
        sdp_ours = SessionDescription.parse(ok.body)
        shell.adopt(info=CallInfo("seams-adopt", "carrier", "carrier", "7000", "en"),
                    invite=end.request, peer=end.peer, tag=end.dialog.local_tag,
                    dialog=end.dialog, policy=InDialogPolicy(end.dialog, sdp_ours, ""),
                    leg=end.leg, flow=Owned(), kind="queue", recorded=True)
        assert [type(e).__name__ for e in seen[first:] if not isinstance(e, tuple)][:2] == [
            "CallStarted", "CallAnswered"]
        assert await heard(rtp, 0.6) > 10  # the new flow's music on the same leg
        provider.send_raw(in_dialog(provider, ok, "BYE"))
        assert (await provider.response()).status == 200
        assert [(r.call_id, r.callee, r.disposition, r.hangup_side) for r in rows] == [
            ("seams-adopt", "5550100", "ANSWERED", "switch"),
            ("seams-adopt", "7000", "ANSWERED", "caller")]
        assert rows[1].answer_time is not None and rows[1].answer_time >= rows[0].end_time
        provider.close()
