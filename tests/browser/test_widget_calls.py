"""Calls from the Live Chat widget (consultation mode ``chat_and_call``, softswitch.webrtc)
in headless Chromium against the switch as a real process: the visitor chats, presses the
call button, a pjsua2 phone registered as the channel's ``call_destination`` (extension
1001) rings and answers; the phone hears the browser's fake microphone (a 1000 Hz tone file)
and the page hears the phone's 600 Hz tone (WebAudio AnalyserNode on the remote stream);
while the phone rings the page hears the switch's ringback (440/480 Hz) and the widget
says "Ringing…". A second tab of the same visitor follows every call's state and hangs
the first call up; a second call is hung up by the calling tab, a third by the phone, a
fourth ends when the visitor leaves the page holding the audio (the other tab stays); the
session history shows each call. The switch's answer offers PCMU/PCMA only.

A second visitor (a plain websocket client with the page's Origin) is refused beyond
``max_concurrent_calls`` with the visitor's message, and hostile offers (garbage, huge,
unparsable) are refused with an error frame and no traceback in the switch's log.

The page is plain http on ``www.yeasar.com`` (mapped to 127.0.0.1): Chromium is told to
treat that origin as secure (``--unsafely-treat-insecure-origin-as-secure``), which is what
makes the call button appear; another test page without that flag shows the HTTPS note.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from audio import tone_wav, wav_has_tone
from conftest import ARGS, CHROMIUM
from phones import Phone
from playwright.sync_api import Page, expect, sync_playwright
from queue_support import phone
from test_livechat_widget import PageServer

from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

CHANNEL = {"name": "Livechat", "type": "livechat", "number": "LC00000",
           "domains": ["www.yeasar.com"],
           "destination": {"type": "extension", "target": "1001"},
           "consultation_mode": "chat_and_call", "max_concurrent_calls": 1,
           "show_agent_info": "name",
           "call_destination": {"type": "extension", "target": "1001"},
           "pre_chat_form": [{"field": "name", "label": "Name", "required": True}]}

# Every remote stream the page's peer connections receive, for the analyser below.
CAPTURE = """
(() => {
  const Orig = window.RTCPeerConnection;
  window.__remote = [];
  window.__pcs = [];
  function Wrapped(...args) {
    const pc = new Orig(...args);
    window.__pcs.push(pc);
    pc.addEventListener("track", (e) => window.__remote.push(e.streams[0] ||
                                                             new MediaStream([e.track])));
    return pc;
  }
  Wrapped.prototype = Orig.prototype;
  window.RTCPeerConnection = Wrapped;
})();
"""

# The dominant frequency (Hz) of the remote stream, every 100 ms for ``seconds``.
ANALYSE = """
async (seconds) => {
  const ctx = new AudioContext();
  await ctx.resume();
  const src = ctx.createMediaStreamSource(window.__remote[window.__remote.length - 1]);
  const an = ctx.createAnalyser();
  an.fftSize = 8192;
  src.connect(an);
  const data = new Float32Array(an.frequencyBinCount);
  const peaks = [];
  for (let i = 0; i < seconds * 10; i++) {
    await new Promise((r) => setTimeout(r, 100));
    an.getFloatFrequencyData(data);
    let best = 0;
    for (let k = 1; k < data.length; k++) { if (data[k] > data[best]) { best = k; } }
    if (data[best] > -90) { peaks.push(best * ctx.sampleRate / an.fftSize); }
  }
  await ctx.close();
  return peaks;
}
"""


@pytest.fixture
def calling_browser(tmp_path: Path) -> Iterator[Callable[[str], Page]]:
    """``make(origin)``: a tab in a Chromium whose fake microphone plays 1000 Hz and which
    treats ``origin`` as a secure context."""
    wav = tone_wav(tmp_path / "tone1000.wav", 1000.0, seconds=30.0, rate=48000)
    rules = "MAP www.yeasar.com 127.0.0.1"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, \
            sync_playwright() as pw:
        state: dict[str, Any] = {}
        errors: list[str] = []

        def make(origin: str) -> Page:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True,
                args=[*ARGS, f"--host-resolver-rules={rules}",
                      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-audio-capture={wav}",
                      "--autoplay-policy=no-user-gesture-required",
                      f"--unsafely-treat-insecure-origin-as-secure={origin}"])
            state["context"] = context
            context.add_init_script(CAPTURE)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            return page

        try:
            yield make
        finally:
            if "context" in state:
                state["context"].close()
        assert errors == [], errors


def history(switch: RunningSwitch) -> list[str]:
    with sqlite3.connect(switch.db_path) as db:
        return [str(r[0]) for r in db.execute(
            "SELECT body FROM messaging_messages ORDER BY id")]


async def visitor_frames(ws_url: str, origin: str, frames: list[Any]) -> list[dict[str, Any]]:
    """A second visitor: hello, form, a message, then ``frames`` (str sent as is, dict as
    JSON); the error or call frames the switch answered to each of ``frames``. The
    visitor's token bucket (softswitch.messaging.livechat: a burst of 5 frames, then 1/s)
    holds the message and four frames, so nothing waits for it to refill."""
    assert len(frames) <= 4, "more frames than the visitor's burst: rate_limited"
    answers: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(ws_url, headers={"Origin": origin},
                            max_msg_size=1 << 20) as ws:
        async def next_of(*kinds: str) -> dict[str, Any]:
            while True:
                msg = await asyncio.wait_for(ws.receive(), 20)
                data = json.loads(msg.data)
                if data["type"] in kinds:
                    return dict(data)

        await ws.send_json({"type": "hello", "visitor": None, "form": None})
        await next_of("welcome")
        await ws.send_json({"type": "form", "form": {"name": "Bob"}})
        await next_of("form_ok")
        await ws.send_json({"type": "message", "text": "hello", "id": "b1"})
        await next_of("ack")
        for f in frames:
            await ws.send_str(f if isinstance(f, str) else json.dumps(f))
            answers.append(await next_of("error", "call"))
    return answers


def second_visitor(ws_url: str, origin: str, frames: list[Any]) -> list[dict[str, Any]]:
    """visitor_frames in a thread of its own (Playwright's sync API owns this one's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, visitor_frames(ws_url, origin, frames)).result(120)


def offer_like(extra: str = "") -> str:
    """Passes the line-level checks, but is no offer a WebRTC stack can take."""
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
            "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"
            "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
            "a=fingerprint:sha-256 ZZ\r\na=rtpmap:0 PCMU/8000\r\n" + extra)


def chatting(page: Page, origin: str, text: str) -> Page:
    """``page`` opens the site's widget, fills the form as Ann and writes ``text``."""
    page.goto(origin + "/")
    page.locator("#lc-bubble").click()
    page.fill("#lc-form input[name=name]", "Ann")
    page.click("#lc-start")
    page.fill("#lc-input", text)
    page.click("#lc-send")
    expect(page.locator("#lc-messages .lc-visitor").first).to_have_text(text)
    return page


def answered_call(page: Page, agent: Phone) -> int:
    """The visitor calls from ``page``, the phone answers: the phone's call, connected."""
    since = agent.mark()
    page.click("#lc-call-button")
    ring = agent.wait_incoming(timeout=15, since=since)
    agent.answer(ring)
    expect(page.locator("#lc-call-state")).to_have_attribute("data-state", "connected")
    return ring


@pytest.mark.timeout(240)
def test_visitor_calls_from_the_widget(switch_factory: Callable[..., RunningSwitch],
                                       phone_factory: Callable[..., Phone],
                                       calling_browser: Callable[[str], Page],
                                       tmp_path: Path) -> None:
    switch = switch_factory(overrides={"message_channels": [CHANNEL]})
    agent = phone(phone_factory, ("1001", switch.password("1001")), switch)
    with PageServer(switch.http_url) as site:
        origin = f"http://www.yeasar.com:{site.port}"
        ws_url = switch.http_url.replace("http", "ws", 1) + "/api/v1/livechat/LC00000/ws"
        # hostile offers: refused with a message, nothing started
        refused = second_visitor(ws_url, origin, [
            {"type": "call", "sdp": "hello there"},
            {"type": "call", "sdp": "v=0\r\n" + "a=x\r\n" * 12_000},
            {"type": "call", "sdp": offer_like()},
            {"type": "call"},
        ])
        assert [a.get("code") for a in refused] == [
            "bad_offer", "too_large", "bad_offer", "bad_offer"], refused

        page = chatting(calling_browser(origin), origin, "Can I call you?")
        since = agent.mark()
        page.click("#lc-call-button")
        ring = agent.wait_incoming(timeout=15, since=since)
        assert "Ann" in json.dumps(agent.incoming(ring))  # the caller ID: the form's name
        # the phone rings: the widget says so, and the visitor hears the switch's ringback
        # (US: 440 + 480 Hz, 2 s on, 4 s off: one cadence and a bit)
        expect(page.locator("#lc-call-state")).to_have_attribute("data-state", "ringing",
                                                                 timeout=15_000)
        expect(page.locator("#lc-call-state")).to_have_text("Ringing…")
        peaks = page.evaluate(ANALYSE, 7)
        assert sum(1 for p in peaks if min(abs(p - 440), abs(p - 480)) < 15) >= 5, peaks
        # the limit: one call on this channel; a second visitor is told so
        [busy] = second_visitor(ws_url, origin, [
            {"type": "call", "sdp": offer_like()}])
        assert busy["code"] == "call_busy" and "busy" in busy["message"], busy

        agent.answer(ring)
        agent.wait_call_state(ring, "CONFIRMED")
        agent.wait_media(ring)
        expect(page.locator("#lc-call-state")).to_have_attribute("data-state", "connected")
        # show_agent_info name: who answered (the default avatar: name only)
        expect(page.locator("#lc-call-agent .lc-name")).to_have_text("Alice Agent")
        answer = page.evaluate("window.__pcs[window.__pcs.length - 1].remoteDescription.sdp")
        [m_audio] = [line for line in answer.splitlines() if line.startswith("m=audio")]
        assert set(m_audio.split()[3:]) <= {"0", "8"}, m_audio  # G.711 only
        recording = tmp_path / "agent-heard.wav"
        agent.record(ring, recording)
        agent.play(ring, tone_wav(tmp_path / "tone600.wav", 600.0, seconds=20.0))
        peaks = page.evaluate(ANALYSE, 1)
        assert sum(1 for p in peaks if abs(p - 600) < 30) >= 5, peaks
        # the ringback stopped at the answer: once the phone is heard it never comes back
        # (the browser's jitter buffer may still hold a little of it when the page starts
        # listening, as any network's delay would)
        first = next(i for i, p in enumerate(peaks) if abs(p - 600) < 30)
        assert first <= 3, peaks
        assert not any(min(abs(p - 440), abs(p - 480)) < 15 for p in peaks[first:]), peaks
        agent.stop_record(ring)
        wav_has_tone(recording, 1000.0, min_seconds=0.5)

        # a second tab of the same visitor shows the call and hangs it up
        other = page.context.new_page()
        other.goto(origin + "/")
        other.locator("#lc-bubble").click()
        expect(other.locator("#lc-call-state")).to_have_attribute("data-state", "connected")
        other.click("#lc-hangup")
        agent.wait_call_state(ring, "DISCONNECTED", timeout=10)
        for tab in (page, other):
            expect(tab.locator("#lc-call-state")).to_have_attribute("data-state", "ended")
            expect(tab.locator("#lc-call-button")).to_be_visible()

        # a second call (the slot was released): both tabs follow it; the calling tab
        # hangs up
        since = agent.mark()
        page.click("#lc-call-button")
        ring = agent.wait_incoming(timeout=15, since=since)
        expect(other.locator("#lc-call-state")).to_have_attribute("data-state", "ringing")
        agent.answer(ring)
        for tab in (page, other):
            expect(tab.locator("#lc-call-state")).to_have_attribute("data-state", "connected")
        page.click("#lc-hangup")
        agent.wait_call_state(ring, "DISCONNECTED", timeout=10)
        expect(other.locator("#lc-call-state")).to_have_attribute("data-state", "ended")

        # a third call; this time the phone hangs up
        ring = answered_call(page, agent)
        agent.hangup(ring)
        for tab in (page, other):
            expect(tab.locator("#lc-call-state")).to_have_attribute("data-state", "ended")
            expect(tab.locator("#lc-hangup")).to_be_hidden()

        # a fourth call: the visitor leaves the page that holds the call's audio (the other
        # tab stays open), the phone's call ends
        ring = answered_call(page, agent)
        page.close()
        agent.wait_call_state(ring, "DISCONNECTED", timeout=15)
        expect(other.locator("#lc-call-state")).to_have_attribute("data-state", "ended")
    def ended(texts: list[str]) -> int:
        return sum(1 for t in texts if t.startswith("Call ended") and "duration" in t)

    deadline = time.monotonic() + 10  # the last note is written as the phone hears its BYE
    while ended(texts := history(switch)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sum(1 for t in texts if t.startswith("Call started")) == 4, texts
    assert ended(texts) == 4, texts
    assert not any("Traceback" in line for line in switch.output().splitlines())


@pytest.mark.timeout(120)
def test_insecure_page_shows_the_https_note(switch_factory: Callable[..., RunningSwitch],
                                            calling_browser: Callable[[str], Page]) -> None:
    switch = switch_factory(overrides={"message_channels": [CHANNEL]})
    with PageServer(switch.http_url) as site:
        page = calling_browser("http://other.example")  # not this page: insecure
        page.goto(f"http://www.yeasar.com:{site.port}/")
        page.locator("#lc-bubble").click()
        expect(page.locator("#lc-call-note")).to_have_text("Calls work only over HTTPS")
        assert page.locator("#lc-call-button").count() == 0


def agent_calls(switch: RunningSwitch, agent: str, session: int) -> tuple[int, Any]:
    """The agent's "voice call from session" over the live API: (status, body)."""
    import urllib.error
    import urllib.request

    def post(path: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            switch.http_url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, login = post("/api/v1/login", {"extension": agent,
                                           "password": switch.password(agent)})
    assert status == 200, login
    return post(f"/api/v1/messaging/sessions/{session}/call", {}, login["token"])


def session_of(switch: RunningSwitch) -> int:
    with sqlite3.connect(switch.db_path) as db:
        [(sid,)] = db.execute("SELECT id FROM messaging_sessions").fetchall()
    return int(sid)


@pytest.mark.timeout(240)
def test_the_agent_calls_the_visitor_in_the_widget(
        switch_factory: Callable[..., RunningSwitch], phone_factory: Callable[..., Phone],
        calling_browser: Callable[[str], Page], tmp_path: Path) -> None:
    """The agent (1001, who owns the chat) calls from the session: their phone rings first;
    once it answers they hear the switch's ringback while the widget rings with Accept and
    Decline; the visitor accepts, and the audio flows both ways (the phone hears the fake
    microphone's 1000 Hz, the page the phone's 600 Hz) until the agent hangs up. A second
    call the visitor declines: the agent's phone is hung up."""
    switch = switch_factory(overrides={"message_channels": [CHANNEL]})
    agent = phone(phone_factory, ("1001", switch.password("1001")), switch)
    with PageServer(switch.http_url) as site:
        origin = f"http://www.yeasar.com:{site.port}"
        page = chatting(calling_browser(origin), origin, "Please call me")
        sid = session_of(switch)
        page.locator("#lc-bubble").click()  # the visitor closes the chat window
        expect(page.locator("#lc-panel")).to_be_hidden()

        since = agent.mark()
        status, body = agent_calls(switch, "1001", sid)
        assert status == 200, body
        ring = agent.wait_incoming(timeout=15, since=since)
        assert "Ann" in json.dumps(agent.incoming(ring))  # the visitor's name on the phone
        expect(page.locator("#lc-call-state")).to_have_attribute("data-state", "idle")
        agent.answer(ring)
        agent.wait_call_state(ring, "CONFIRMED")
        expect(page.locator("#lc-call-state")).to_have_attribute("data-state", "incoming")
        expect(page.locator("#lc-panel")).to_be_visible()  # the ringing opens the window
        expect(page.locator("#lc-accept")).to_be_visible()
        expect(page.locator("#lc-decline")).to_be_visible()
        expect(page.locator("#lc-call-button")).to_be_hidden()
        expect(page.locator("#lc-call-agent .lc-name")).to_have_text("Alice Agent")
        # the agent hears ringback while the widget rings (one US cadence: 2 s on, 4 off)
        rang = tmp_path / "agent-ringback.wav"
        agent.record(ring, rang)
        time.sleep(6.5)  # the recording's length, not a wait for the switch
        agent.stop_record(ring)
        wav_has_tone(rang, 440.0, min_seconds=1.0)

        page.click("#lc-accept")
        expect(page.locator("#lc-call-state")).to_have_attribute("data-state", "connected")
        heard = tmp_path / "agent-heard.wav"
        agent.record(ring, heard)
        agent.play(ring, tone_wav(tmp_path / "tone600.wav", 600.0, seconds=20.0))
        peaks = page.evaluate(ANALYSE, 1)
        assert sum(1 for p in peaks if abs(p - 600) < 30) >= 5, peaks
        agent.stop_record(ring)
        wav_has_tone(heard, 1000.0, min_seconds=0.5)
        agent.hangup(ring)
        expect(page.locator("#lc-call-state")).to_have_attribute("data-state", "ended")
        expect(page.locator("#lc-hangup")).to_be_hidden()

        # a second call: the visitor declines, the agent's phone is hung up
        since = agent.mark()
        status, body = agent_calls(switch, "1001", sid)
        assert status == 200, body
        ring = agent.wait_incoming(timeout=15, since=since)
        agent.answer(ring)
        expect(page.locator("#lc-decline")).to_be_visible()
        page.click("#lc-decline")
        agent.wait_call_state(ring, "DISCONNECTED", timeout=10)
        expect(page.locator("#lc-call-state")).to_have_attribute("data-state", "ended")
        expect(page.locator("#lc-call-button")).to_be_visible()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        texts = history(switch)
        if any(t.startswith("Call declined") for t in texts):
            break
        time.sleep(0.1)
    assert [t.split(",")[0] for t in texts if t.startswith("Call")] == [
        "Call started / 通话开始", "Call ended / 通话结束", "Call declined / 访客拒绝通话"], texts
    assert not any("Traceback" in line for line in switch.output().splitlines())
