"""Players in virtual time: sequences, loops, ringback cadences, number/ordinal/duration
composition in English and Chinese, WAV loading with resampling, the prompt manifest."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from media.player import (
    Loop,
    Prompt,
    PromptError,
    PromptLibrary,
    PromptSequence,
    announce_agent_id,
    announce_callers_ahead,
    announce_position,
    announce_wait,
    load_wav,
    ringback_tone,
    say_duration,
    say_number,
    say_ordinal,
    silence,
)

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def frames(src, limit=100000):
    out = []
    while len(out) < limit and (f := src.next_frame()) is not None:
        out.append(f.copy())
    return out


def ramp(n, name="r"):
    return Prompt(name, (np.arange(n) % 1000).astype(np.int16) + 1)


def test_sequence_plays_items_in_order_and_pads_the_last_frame():
    a, b = ramp(200, "a"), Prompt("b", np.full(100, -5, np.int16))
    seq = PromptSequence([a, b])
    got = frames(seq)
    assert len(got) == 2 == seq.frames
    audio = np.concatenate(got)
    assert np.array_equal(audio[:200], a.samples) and np.all(audio[200:300] == -5)
    assert np.all(audio[300:] == 0)
    assert seq.next_frame() is None
    seq.rewind()
    assert len(frames(seq)) == 2


def test_loop_wraps_sample_exactly_and_counts_times():
    p = ramp(250)
    lp = Loop(p)
    audio = np.concatenate(frames(lp, 20))
    assert np.array_equal(audio, np.tile(p.samples, 13)[: 20 * 160])
    twice = np.concatenate(frames(Loop(p, times=2)))
    assert np.array_equal(twice[:500], np.tile(p.samples, 2)) and len(twice) == 640
    with pytest.raises(PromptError, match="empty"):
        Loop(Prompt("e", np.zeros(0, np.int16)))


@pytest.mark.parametrize("region,on,period", [("us", 2.0, 6.0), ("cn", 1.0, 5.0),
                                              ("uk", 0.4, 3.0), ("eu", 1.0, 5.0)])
def test_ringback_cadence_per_region(region, on, period):
    tone = ringback_tone(region)
    assert tone.duration == pytest.approx(period)
    env = np.abs(tone.samples.astype(float)).reshape(-1, 80).max(axis=1)  # 10 ms blocks
    assert env[: int(on * 100) - 1].min() > 1000 and env[-10:].max() == 0
    with pytest.raises(PromptError, match="region"):
        ringback_tone("xx")


def test_ringback_frequencies_us():
    tone = ringback_tone("us").samples[:16000].astype(float)
    spec = np.abs(np.fft.rfft(tone))
    peaks = sorted(np.argsort(spec)[-2:] * 8000 / len(tone))
    assert peaks == pytest.approx([440, 480], abs=1)


@pytest.mark.parametrize("n,words", [
    (0, ["num-0"]), (21, ["num-21"]), (100, ["num-1", "num-hundred"]),
    (115, ["num-1", "num-hundred", "num-15"]),
    (1234, ["num-1", "num-thousand", "num-2", "num-hundred", "num-34"]),
    (5000, ["num-5", "num-thousand"]), (12005, ["num-12", "num-thousand", "num-5"]),
])
def test_english_numbers(n, words):
    assert say_number(n, "en") == words


@pytest.mark.parametrize("n,words", [
    (21, ["num-21"]),
    (100, ["num-1", "num-bai"]),
    (110, ["num-1", "num-bai", "num-1", "num-10"]),
    (105, ["num-1", "num-bai", "num-0", "num-5"]),
    (200, ["num-liang", "num-bai"]),
    (1005, ["num-1", "num-qian", "num-0", "num-5"]),
    (1050, ["num-1", "num-qian", "num-0", "num-50"]),
    (2300, ["num-liang", "num-qian", "num-3", "num-bai"]),
    (20000, ["num-liang", "num-wan"]),
    (10086, ["num-1", "num-wan", "num-0", "num-86"]),
])
def test_chinese_numbers(n, words):
    assert say_number(n, "zh") == words


def test_ordinals_durations_and_announcements():
    assert say_ordinal(3, "en") == ["ord-3"]
    assert say_ordinal(21, "en") == ["num-20", "ord-1"]
    assert say_ordinal(40, "en") == ["ord-40"]
    assert say_ordinal(100, "en") == ["num-1", "ord-hundred"]
    assert say_ordinal(3, "zh") == ["ord-prefix", "num-3"]
    assert say_duration(200, "en") == ["num-3", "minutes", "num-20", "seconds"]
    assert say_duration(61, "en") == ["num-1", "minute", "num-1", "second"]
    assert say_duration(45, "zh") == ["num-45", "seconds"]
    assert announce_wait(130, "en") == ["estimated-wait-time", "num-3", "minutes"]
    assert announce_wait(5, "en") == ["estimated-wait-time", "num-1", "minute"]
    assert announce_callers_ahead(1, "en") == ["there-is-one-caller-ahead"]
    assert announce_callers_ahead(3, "zh") == ["there-are", "num-3", "callers-ahead-of-you"]
    assert announce_agent_id("0101", "en") == ["agent-id-prefix", "num-0", "num-1", "num-0",
                                                "num-1"]
    for bad in (lambda: say_number(-1, "en"), lambda: say_number(5, "fr"),
                lambda: announce_position(0, "en"), lambda: announce_agent_id("1a", "en")):
        with pytest.raises(PromptError):
            bad()


@pytest.mark.parametrize(("position", "lang", "words"), [
    # the manual's 前方等待人数: callers AHEAD of you, so position N has N-1 ahead
    (1, "en", ["no-callers-ahead"]),  # "your call is now first in line ..."
    (1, "zh", ["no-callers-ahead"]),  # 您已排在第一位 ...
    (2, "en", ["there-is-one-caller-ahead"]),
    (2, "zh", ["there-are", "num-1", "callers-ahead-of-you"]),  # 您前面还有一位来电者在等待
    (4, "en", ["there-are", "num-3", "callers-ahead-of-you"]),
    (4, "zh", ["there-are", "num-3", "callers-ahead-of-you"]),
    (122, "en", ["there-are", "num-1", "num-hundred", "num-21", "callers-ahead-of-you"]),
    (122, "zh", ["there-are", "num-1", "num-bai", "num-21", "callers-ahead-of-you"]),
])
def test_position_announcement_says_how_many_callers_are_ahead(position, lang, words):
    assert announce_position(position, lang) == words


def test_every_composable_word_exists_in_both_prompt_sets():
    lib = PromptLibrary(PROMPTS)
    for lang in ("en", "zh"):
        needed: set[str] = set()
        for n in list(range(0, 1000)) + [1234, 20000, 10086, 99999, 1_000_000 if lang == "en"
                                         else 12345]:
            needed.update(say_number(n, lang))
        for n in range(1, 130):
            needed.update(say_ordinal(n, lang))
        for s in (0, 1, 59, 61, 3600):
            needed.update(say_duration(s, lang))
        needed.update(announce_position(2, lang) + announce_callers_ahead(0, lang)
                      + announce_callers_ahead(1, lang) + announce_callers_ahead(5, lang)
                      + announce_wait(100, lang) + announce_agent_id("123", lang))
        needed.update(["welcome-to-queue", "all-agents-busy", "please-hold",
                       "thank-you-for-patience", "agent", "press-1-for-callback",
                       "callback-offer", "enter-callback-number", "callback-confirmed",
                       "callback-number-confirm-prefix", "invalid-number", "survey-question",
                       "survey-rate-1-to-5", "survey-thanks", "holiday-greeting",
                       "outside-business-hours", "goodbye"])
        missing = [w for w in needed if not lib.has(f"{lang}/{w}")]
        assert not missing, (lang, missing)


def test_manifest_files_are_8khz_16bit_mono_with_true_durations():
    manifest = json.loads((PROMPTS / "manifest.json").read_text(encoding="utf-8"))
    entries = {**manifest["prompts"], **manifest["music"]}
    assert len(entries) > 300
    for pid, e in entries.items():
        with wave.open(str(PROMPTS / e["file"]), "rb") as w:
            assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1), pid
            assert w.getnframes() / 8000 == pytest.approx(e["duration"], abs=0.002), pid
        assert e["language"] in ("en", "zh", "")
    assert manifest["music"]["moh/default"]["duration"] >= 20


def test_library_sequence_composes_a_position_announcement():
    lib = PromptLibrary(PROMPTS)
    seq = lib.sequence("en", "thank-you-for-patience", announce_callers_ahead(3, "en"))
    expect = (lib.get("en/thank-you-for-patience").duration + 0.05
              + sum(lib.get(f"en/{w}").duration for w in announce_callers_ahead(3, "en")))
    assert seq.duration == pytest.approx(expect)
    with pytest.raises(PromptError, match="no prompt 'en/nope'"):
        lib.sequence("en", "nope")


def write_wav(path, data, rate, width=2, channels=1):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000, 11025])
def test_wav_any_rate_is_resampled_once_to_8k(tmp_path, rate):
    t = np.arange(rate) / rate  # one second of 1 kHz plus 5 kHz (above 4 kHz Nyquist)
    sig = 8000 * np.sin(2 * np.pi * 1000 * t)
    if rate > 10000:
        sig += 8000 * np.sin(2 * np.pi * 5000 * t)
    stereo = np.repeat(sig.astype("<i2"), 2)
    write_wav(tmp_path / "x.wav", stereo.tobytes(), rate, channels=2)
    p = load_wav(tmp_path / "x.wav")
    assert len(p.samples) == pytest.approx(8000, abs=1)
    spec = np.abs(np.fft.rfft(p.samples[500:7500].astype(float)))
    freqs = np.fft.rfftfreq(7000, 1 / 8000)
    assert abs(freqs[np.argmax(spec)] - 1000) < 5
    # The 5 kHz part must not alias to 3 kHz.
    alias = spec[np.abs(freqs - 3000) < 20].max()
    assert alias < 0.05 * spec.max()


def test_wav_8bit_and_bad_files(tmp_path):
    write_wav(tmp_path / "u8.wav", bytes([128, 255, 0, 128]), 8000, width=1)
    assert list(load_wav(tmp_path / "u8.wav").samples) == [0, 32512, -32768, 0]
    (tmp_path / "bad.wav").write_bytes(b"RIFF nonsense")
    with pytest.raises(PromptError, match="not a PCM WAV"):
        load_wav(tmp_path / "bad.wav")
    with pytest.raises(PromptError, match="not found"):
        load_wav(tmp_path / "missing.wav")


def test_wav_already_8k_16bit_mono_is_taken_as_it_is(tmp_path):
    """The installed prompts' format: the samples unchanged (full scale included), without
    the float conversion (music on hold is 1.9 M samples, loaded on the loop)."""
    samples = np.array([0, 1, -1, 32767, -32768, 12345, -2], dtype="<i2")
    write_wav(tmp_path / "pcm.wav", samples.tobytes(), 8000)
    p = load_wav(tmp_path / "pcm.wav")
    assert p.samples.dtype == np.int16 and list(p.samples) == list(samples)
    p.samples[0] = 7  # a prompt's own array (not a read-only view of the file's bytes)


def test_silence_prompt():
    assert silence(0.5).duration == 0.5 and not silence(0.5).samples.any()


def test_custom_prompt_file_is_loaded_once_and_reloaded_when_changed(tmp_path):
    lib = PromptLibrary(PROMPTS)
    path = tmp_path / "custom.wav"
    write_wav(path, np.full(16000, 1000, "<i2").tobytes(), 16000)
    p1 = lib.file(path)
    assert lib.file(path) is p1 and p1.duration == pytest.approx(1.0)
    import os

    write_wav(path, np.full(8000, 1000, "<i2").tobytes(), 16000)
    os.utime(path, ns=(1, 1))
    assert lib.file(path).duration == pytest.approx(0.5)
    with pytest.raises(PromptError, match="not found"):
        lib.file(tmp_path / "gone.wav")


def test_chinese_prompts_were_spoken_from_tone_numbered_pinyin():
    """espeak-ng's packaged cmn dictionary lacks most characters and reads them as English;
    the generator therefore feeds it pinyin. Guard that every zh prompt went that way."""
    import re

    manifest = json.loads((PROMPTS / "manifest.json").read_text(encoding="utf-8"))
    syllables = re.compile(r"^(?:[a-z]+[1-5][ ,.?!]*)+$")
    zh = {k: v for k, v in manifest["prompts"].items() if v["language"] == "zh"}
    assert len(zh) > 140
    for pid, entry in zh.items():
        assert syllables.match(entry.get("spoken", "")), (pid, entry)
