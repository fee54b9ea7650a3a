"""The media engine with a real softphone (pjsua2, in its own process) over loopback.

A minimal SIP UAS (media_sip_uas) answers the phone's call with a MediaEngine leg, so this
proves the media itself: a prompt the engine plays is recognised in what the phone records
(cross-correlation with the source), digits the phone sends as RFC 4733 and as SIP INFO
arrive as events, and a recording of two phones bridged has each one on its own channel.
"""

from __future__ import annotations

import asyncio
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from media import DtmfSource, MediaEngine, PlaybackOutcome
from media.player import announce_callers_ahead

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "interop"))
from audio import find_prompt, read_wav, tone_wav  # noqa: E402
from media_sip_uas import MediaUas  # noqa: E402
from phones import Phone  # noqa: E402

pytestmark = pytest.mark.interop


@pytest.fixture
async def uas(engine: MediaEngine):
    u = MediaUas(engine)
    await u.start()
    yield u
    u.close()


async def start_phone(tmp_path: Path, name: str) -> Phone:
    phone = await asyncio.to_thread(Phone.start, tmp_path / name, name, transports=("udp",))
    await asyncio.to_thread(phone.add_account, name, "x", "127.0.0.1")
    return phone


async def dial(phone: Phone, uas: MediaUas):
    call = await asyncio.to_thread(phone.call, f"sip:media@127.0.0.1:{uas.port}")
    call_id, leg = await asyncio.wait_for(uas.calls.get(), 10)
    await asyncio.to_thread(phone.wait_call_state, call, "CONFIRMED")
    await asyncio.to_thread(phone.wait_media, call)
    return call, leg


async def test_prompt_heard_and_digits_detected_with_pjsua2(engine, uas, tmp_path):
    phone = await start_phone(tmp_path, "caller")
    try:
        call, leg = await dial(phone, uas)
        rec = tmp_path / "heard.wav"
        await asyncio.to_thread(phone.record, call, rec)
        await asyncio.sleep(0.3)
        lib = engine.prompts
        seq = lib.sequence("en", "thank-you-for-patience", announce_callers_ahead(3, "en"))
        assert await asyncio.wait_for(engine.play(leg, seq), 20) is PlaybackOutcome.FINISHED
        await asyncio.sleep(0.3)
        path = await asyncio.to_thread(phone.stop_record, call)
        heard, rate = read_wav(path)
        source = np.concatenate([lib.get("en/thank-you-for-patience").samples,
                                 np.zeros(400, np.int16)]
                                + [lib.get(f"en/{w}").samples
                                   for w in announce_callers_ahead(3, "en")])
        # Piece by piece (0.25 s each, as audio.find_prompt_pieces): a phone's adaptive jitter
        # buffer may drop or repeat a frame under load, which shifts the rest of the waveform
        # and spoils the one piece the slip falls in (two slips in 0.5 s chunks failed 2 of 8
        # chunks in a parallel run); every piece must still be found, in order.
        chunk = rate // 4
        scores, lags = [], []
        for i in range(0, len(source) - chunk + 1, chunk):
            part = source[i:i + chunk].astype(np.float64)
            if np.abs(part).max() < 500:
                continue  # (near) silence identifies nothing
            m = find_prompt(heard, part, rate)
            scores.append(m.score)
            if m.score > 0.9:  # a piece spoiled by a slip may be "found" anywhere
                lags.append(m.lag_s - i / rate)
        print("prompt chunk scores", [round(x, 3) for x in scores])
        assert len(scores) >= 12
        assert sum(x > 0.9 for x in scores) >= 0.8 * len(scores), scores
        assert max(lags) - min(lags) < 0.2, lags  # one prompt, in order, at one place
        await asyncio.to_thread(phone.send_dtmf, call, "12", "rfc2833")
        d1 = await leg.next_digit(5)
        d2 = await leg.next_digit(5)
        assert (d1.digit, d2.digit) == ("1", "2") and d1.source is DtmfSource.RFC4733
        await asyncio.to_thread(phone.send_dtmf, call, "9#", "info")
        d3 = await leg.next_digit(5)
        d4 = await leg.next_digit(5)
        assert (d3.digit, d4.digit) == ("9", "#") and d3.source is DtmfSource.INFO

        # Interrupting a prompt with a key, as when the caller is asked for input.
        long = lib.sequence("en", "welcome-to-queue", "enter-callback-number")
        pb = engine.play(leg, long, interruptible=True)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(phone.send_dtmf, call, "5", "rfc2833")
        assert await asyncio.wait_for(pb, 5) is PlaybackOutcome.INTERRUPTED
        assert pb.digit.digit == "5"
        stats = leg.stats
        assert stats["packets_received"] > 50 and stats["packets_sent"] > 100
        await asyncio.to_thread(phone.hangup, call)
    finally:
        await asyncio.to_thread(phone.close)


async def test_recording_of_two_bridged_pjsua2_phones(engine, uas, tmp_path):
    caller = await start_phone(tmp_path, "caller")
    agent = await start_phone(tmp_path, "agent")
    try:
        c1, leg_caller = await dial(caller, uas)
        c2, leg_agent = await dial(agent, uas)
        engine.bridge(leg_caller, leg_agent)
        await asyncio.to_thread(caller.play, c1, tone_wav(tmp_path / "t1.wav", 600.0, 4.0))
        await asyncio.to_thread(agent.play, c2, tone_wav(tmp_path / "t2.wav", 1500.0, 4.0))
        await asyncio.sleep(0.5)
        rec = engine.record([leg_caller, leg_agent], tmp_path / "call.wav")
        await asyncio.sleep(2.0)
        path = await rec.stop()
        with wave.open(str(path), "rb") as w:
            assert w.getnchannels() == 2
            data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
        assert len(data) >= 1.5 * 8000

        def share(x: np.ndarray, f: float) -> float:
            spec = np.abs(np.fft.rfft(x.astype(float))) ** 2
            freqs = np.fft.rfftfreq(len(x), 1 / 8000)
            return float(spec[np.abs(freqs - f) < 30].sum() / spec.sum())

        assert share(data[:, 0], 600) > 0.8 and share(data[:, 0], 1500) < 0.01
        assert share(data[:, 1], 1500) > 0.8 and share(data[:, 1], 600) < 0.01
        await asyncio.to_thread(caller.hangup, c1)
        await asyncio.to_thread(agent.hangup, c2)
    finally:
        await asyncio.to_thread(caller.close)
        await asyncio.to_thread(agent.close)
