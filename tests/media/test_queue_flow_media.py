"""What a queue caller hears, composed from the media API the way the queue flow (issue 5)
uses it, driven tick by tick in virtual time: welcome, music, a position announcement over
the music interrupted by the callback key, number entry, read-back, goodbye."""

from __future__ import annotations

import asyncio
import math

import numpy as np
from media_phones import Phone, free_port_range, te_payload

from media import MediaEngine, PlaybackOutcome
from media.g711 import Codec, decode
from media.player import announce_callers_ahead, announce_position, say_digits


async def test_caller_journey_in_virtual_time(phones):
    eng = MediaEngine("127.0.0.1", free_port_range())  # clock not started: we tick by hand
    ph = Phone()
    phones.append(ph)
    try:
        leg = await eng.open_leg("caller")
        leg.set_remote(ph.addr, 8, "PCMA", 101)
        lib = eng.prompts
        t = 1000.0

        def tick(n: int) -> None:
            nonlocal t
            for _ in range(n):
                eng.tick(t)
                t += 0.02

        async def heard() -> np.ndarray:
            pkts = await ph.recv_all(0.1)
            return np.concatenate([decode(p.payload, Codec.PCMA) for p in pkts]) if pkts \
                else np.zeros(0, np.int16)

        # 1. Join announcement, played in full before anything else.
        welcome = lib.sequence("en", "welcome-to-queue")
        pb = eng.play(leg, welcome)
        frames = math.ceil(welcome.duration * 50)
        tick(frames)  # every frame sent; the playback ends on the next tick
        assert not pb.done
        tick(1)
        assert await pb is PlaybackOutcome.FINISHED
        audio = await heard()
        assert len(audio) == frames * 160
        src = lib.get("en/welcome-to-queue").samples.astype(float)
        assert np.corrcoef(audio[: len(src)].astype(float), src)[0, 1] > 0.99

        # 2. Music while waiting.
        eng.attach_moh(leg, "default")
        tick(50)
        music = await heard()
        track = lib.music("default").samples.astype(float)
        assert len(music) == 50 * 160
        assert np.corrcoef(music.astype(float), track[: len(music)])[0, 1] > 0.99

        # 3. Periodic announcement over the music; the caller presses 1 (callback) during it.
        seq = lib.sequence("en", announce_position(3, "en"), announce_callers_ahead(2, "en"))
        pb = eng.play(leg, seq, interruptible=True)
        tick(20)
        ph.send((leg.local_host, leg.local_port), te_payload(1, True, 800), pt=101, ts=4242)
        await asyncio.sleep(0.05)  # the phone's packet reaches the engine (real socket)
        assert await pb is PlaybackOutcome.INTERRUPTED and pb.digit.digit == "1"
        assert leg.hearing == "music"  # the announcement ended, the music resumed
        await heard()

        # 4. Callback number entry: the prompt, then digits ending with #.
        eng.detach_moh(leg)
        leg.flush_digits()
        pb = eng.play(leg, lib.sequence("en", "enter-callback-number"), interruptible=True)
        tick(10)
        for d in "13800138000#":
            leg.receive_info_dtmf("application/dtmf-relay", f"Signal={d}\r\nDuration=100")
        assert await pb is PlaybackOutcome.INTERRUPTED
        entry = await leg.collect_digits(20, terminator="#")
        assert entry.digits == "13800138000" and entry.complete

        # 5. Read-back and goodbye: the sequence lasts exactly as long as its words.
        readback = lib.sequence("en", "callback-number-confirm-prefix",
                                say_digits(entry.digits, "en"), "callback-confirmed")
        pb = eng.play(leg, readback)
        tick(math.ceil(readback.duration * 50) + 1)
        assert await pb is PlaybackOutcome.FINISHED
        assert len(await heard()) >= 10 * 160
        st = leg.stats
        assert st["packets_sent"] > frames + 50 and st["send_errors"] == 0
    finally:
        await eng.stop()
