"""Prompts, music on hold, interruption, conference modes and recording over real UDP."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from media_phones import Phone

from media import MediaEngine, MediaError, PlaybackOutcome
from media.g711 import Codec, decode, encode
from media.mixer import Role
from media.player import Loop, Prompt, PromptSequence

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


async def leg_for(engine: MediaEngine, phones: list[Phone], label: str, codec: str = "PCMU",
                  te: int | None = 101):
    ph = Phone()
    phones.append(ph)
    leg = await engine.open_leg(label)
    leg.set_remote(ph.addr, 0 if codec == "PCMU" else 8, codec, te)
    return ph, leg


async def collect(phone: Phone, seconds: float) -> list:
    out = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        p = await phone.recv(left)
        if p is not None:
            out.append(p)
    return out


async def test_prompt_played_is_recognised_at_the_phone(engine, phones):
    ph, leg = await leg_for(engine, phones, "caller", "PCMA")
    prompt = engine.prompts.get("en/thank-you-for-patience")
    pb = engine.play(leg, PromptSequence([prompt]))
    got_task = asyncio.create_task(collect(ph, prompt.duration + 0.4))
    assert await asyncio.wait_for(pb, 5) is PlaybackOutcome.FINISHED
    got = await got_task
    assert all(p.payload_type == 8 for p in got)
    seqs = [p.sequence_number for p in got]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:], strict=False))
    heard = np.concatenate([decode(p.payload, Codec.PCMA) for p in got]).astype(float)
    src = prompt.samples.astype(float)
    n = len(src)
    assert len(heard) >= n
    corr = np.corrcoef(heard[:n], src)[0, 1]
    assert corr > 0.99


async def test_interruptible_prompt_stops_on_a_key(engine, phones):
    ph, leg = await leg_for(engine, phones, "caller")
    ph.send((leg.local_host, leg.local_port), b"\xff" * 160)
    long = Prompt("long", np.full(8000 * 10, 1000, np.int16))
    pb = engine.play(leg, PromptSequence([long]), interruptible=True)
    await asyncio.sleep(0.1)
    ph.send((leg.local_host, leg.local_port), bytes([1, 0x80 | 10, 3, 0x20]), pt=101)
    assert await asyncio.wait_for(pb, 2) is PlaybackOutcome.INTERRUPTED
    assert pb.digit is not None and pb.digit.digit == "1"
    assert (await leg.next_digit(0.5)).digit == "1"  # still delivered to the call layer


async def test_not_interruptible_and_stop_and_task_cancel(engine, phones):
    ph, leg = await leg_for(engine, phones, "caller")
    long = PromptSequence([Prompt("long", np.full(8000 * 10, 1000, np.int16))])
    pb = engine.play(leg, long)
    leg.receive_info_dtmf("application/dtmf", "5")
    await asyncio.sleep(0.05)
    assert not pb.done
    pb.stop()
    assert await pb is PlaybackOutcome.STOPPED
    pb2 = engine.play(leg, Loop(Prompt("x", np.ones(100, np.int16))))
    task = asyncio.create_task(_await(pb2))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.01)
    assert pb2.done and leg.hearing == "nothing"


async def _await(pb):
    return await pb


async def test_music_on_hold_one_stream_many_legs_and_hold_resume(engine, phones):
    pairs = [await leg_for(engine, phones, f"w{i}", "PCMU" if i % 2 else "PCMA")
             for i in range(6)]
    for _, leg in pairs:
        engine.attach_moh(leg, "default")
    got = await asyncio.gather(*(collect(ph, 0.5) for ph, _ in pairs))
    assert all(len(g) >= 15 for g in got)
    # Same audio for everyone in the same law (encoded once): compare by payload sets.
    ulaw = [{p.payload for p in g} for (g, (_, leg)) in zip(got, pairs, strict=True)
            if leg.codec is Codec.PCMU]
    assert len(set.intersection(*ulaw)) >= 10
    assert all(len({p.ssrc for p in g}) == 1 for g in got)
    assert engine.music_streams["default"].listeners == [leg for _, leg in pairs]
    # The music is the installed track: it correlates with moh/default.wav.
    track = engine.prompts.music("default").samples.astype(float)
    heard = np.concatenate([decode(p.payload, Codec.PCMA) for p in got[0]]).astype(float)
    xc = np.correlate(track[: 8000 * 2], heard[:2400], mode="valid")
    assert xc.max() / (np.linalg.norm(heard[:2400]) * np.linalg.norm(track[:2400]) + 1) > 0.3
    for _, leg in pairs:
        engine.detach_moh(leg)
    await asyncio.sleep(0.05)
    assert all(await asyncio.gather(*(_silent(ph) for ph, _ in pairs)))
    with pytest.raises(MediaError, match="no music stream"):
        engine.attach_moh(pairs[0][1], "nope")


async def _silent(ph: Phone) -> bool:
    await ph.recv_all(0.05)  # drain what was in flight
    return await ph.recv(0.15) is None


async def test_playback_overrides_music_then_music_resumes(engine, phones):
    ph, leg = await leg_for(engine, phones, "caller")
    engine.attach_moh(leg)
    short = PromptSequence([Prompt("beep", np.full(800, 2000, np.int16))])
    pb = engine.play(leg, short)
    assert leg.hearing == "playback"
    await pb
    assert leg.hearing == "music"


async def test_bridge_is_muted_while_music_plays_to_the_held_party(engine, phones):
    pa, a = await leg_for(engine, phones, "a")
    pb_, b = await leg_for(engine, phones, "b")
    engine.bridge(a, b)
    engine.attach_moh(a)  # the agent put the caller (a) on hold
    pb_.send((b.local_host, b.local_port), b"\x42" * 160)
    got = await collect(pa, 0.3)
    assert got and all(p.payload != b"\x42" * 160 for p in got)


async def conference_call(engine, phones, mode: Role):
    (pc, caller), (pa, agent), (ps, sup) = [await leg_for(engine, phones, n)
                                            for n in ("caller", "agent", "sup")]
    conf = engine.conference("spy")
    conf.add(caller)
    conf.add(agent)
    conf.add(sup, mode, whisper_to=agent if mode is Role.WHISPER else None)
    tones = {"caller": 500.0, "agent": 1100.0, "sup": 2300.0}
    phones_by = {"caller": (pc, caller), "agent": (pa, agent), "sup": (ps, sup)}
    rx = {n: asyncio.create_task(collect(ph, 0.8)) for n, (ph, _) in phones_by.items()}
    t = np.arange(160) / 8000
    for k in range(30):
        for name, (ph, leg) in phones_by.items():
            frame = (6000 * np.sin(2 * np.pi * tones[name] * (t + k * 0.02))).astype(np.int16)
            ph.send((leg.local_host, leg.local_port), encode(frame, Codec.PCMU))
        await asyncio.sleep(0.02)
    heard = {}
    for name, task in rx.items():
        audio = np.concatenate([decode(p.payload, Codec.PCMU) for p in await task]).astype(float)
        spec = np.abs(np.fft.rfft(audio))
        freqs = np.fft.rfftfreq(len(audio), 1 / 8000)
        level = {other: spec[np.abs(freqs - f) < 15].max() for other, f in tones.items()}
        top = max(level.values())
        heard[name] = {o for o, v in level.items() if v > 0.1 * top and top > 1000}
    await conf.close()
    return heard


@pytest.mark.parametrize("mode,expected", [
    (Role.LISTEN, {"caller": {"agent"}, "agent": {"caller"}, "sup": {"caller", "agent"}}),
    (Role.WHISPER, {"caller": {"agent"}, "agent": {"caller", "sup"},
                    "sup": {"caller", "agent"}}),
    (Role.BARGE, {"caller": {"agent", "sup"}, "agent": {"caller", "sup"},
                  "sup": {"caller", "agent"}}),
])
async def test_conference_modes_over_udp(engine, phones, mode, expected):
    assert await conference_call(engine, phones, mode) == expected


async def test_recording_has_caller_and_agent_on_separate_channels(engine, phones, tmp_path):
    pa, a = await leg_for(engine, phones, "caller", "PCMU")
    pb_, b = await leg_for(engine, phones, "agent", "PCMA")
    engine.bridge(a, b)
    rec = engine.record([a, b], tmp_path / "rec.wav")
    t = np.arange(160) / 8000
    for k in range(25):
        ca = (5000 * np.sin(2 * np.pi * 600 * (t + k * 0.02))).astype(np.int16)
        ag = (5000 * np.sin(2 * np.pi * 1500 * (t + k * 0.02))).astype(np.int16)
        pa.send((a.local_host, a.local_port), encode(ca, Codec.PCMU))
        pb_.send((b.local_host, b.local_port), encode(ag, Codec.PCMA), pt=8)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    path = await rec.stop()
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2).astype(float)
    assert len(data) >= 0.4 * 8000

    def dominant(x):
        spec = np.abs(np.fft.rfft(x))
        return np.fft.rfftfreq(len(x), 1 / 8000)[np.argmax(spec)]

    assert abs(dominant(data[:, 0]) - 600) < 20
    assert abs(dominant(data[:, 1]) - 1500) < 20
    assert not rec.active


async def test_closing_a_leg_ends_its_recording_and_playback(engine, phones, tmp_path):
    ph, leg = await leg_for(engine, phones, "caller")
    rec = engine.record([leg], tmp_path / "r.wav")
    pb = engine.play(leg, Loop(Prompt("x", np.ones(100, np.int16))))
    await leg.close()
    assert await pb is PlaybackOutcome.STOPPED
    assert not rec.active and (tmp_path / "r.wav").exists()


async def test_one_clock_drives_every_leg_in_virtual_time(phones):
    """No clock task: the test calls engine.tick() itself, so each tick is exactly one frame
    for every leg hearing something, and playbacks end on the tick their length says."""
    from media_phones import free_port_range

    eng = MediaEngine("127.0.0.1", free_port_range())  # not started: no real-time clock
    try:
        legs = [await leg_for(eng, phones, f"l{i}", "PCMU" if i % 2 else "PCMA")
                for i in range(4)]
        short = PromptSequence([Prompt("s", np.full(160 * 3 + 10, 900, np.int16))])  # 4 frames
        pb = eng.play(legs[0][1], short)
        pb_long = eng.play(legs[1][1], PromptSequence([Prompt("l", np.ones(160 * 8,
                                                                           np.int16))]))
        eng.attach_moh(legs[2][1], "default")
        eng.attach_moh(legs[3][1], "default")
        for k in range(6):
            eng.tick(100.0 + k * 0.02)
        assert pb.done and await pb is PlaybackOutcome.FINISHED
        assert pb.frames_played == 4 and not pb_long.done
        counts = [len(await ph.recv_all(0.1)) for ph, _ in legs]
        assert counts == [4, 6, 6, 6]
        assert legs[0][1].hearing == "nothing" and legs[2][1].hearing == "music"
    finally:
        await eng.stop()


async def test_conference_role_errors_and_whisper_target_leaving(engine, phones):
    (_, caller), (_, agent), (_, sup) = [await leg_for(engine, phones, n)
                                         for n in ("c", "a", "s")]
    conf = engine.conference("x")
    conf.add(caller)
    conf.add(agent)
    with pytest.raises(MediaError, match="whisper_to"):
        conf.add(sup, Role.WHISPER)
    assert sup not in conf.members and sup.hearing == "nothing"  # nothing half-done
    with pytest.raises(MediaError, match="not in conference"):
        conf.set_role(sup, Role.LISTEN)
    conf.add(sup, Role.WHISPER, whisper_to=agent)
    other = engine.conference("y")
    with pytest.raises(MediaError, match="already in conference"):
        other.add(sup)
    conf.remove(agent)  # the agent hung up: the supervisor can only listen now
    assert conf.roles[sup] is Role.LISTEN and agent.hearing == "nothing"
    with pytest.raises(ValueError):
        conf.set_role(caller, "shout")
    await conf.close()
    assert caller.hearing == "nothing" and "x" not in engine.conferences
