"""Players: prompts, sequences, loops and tones as 20 ms frame sources (sans-IO).

A *source* yields 160-sample int16 frames (8 kHz, 20 ms) from ``next_frame()`` and returns
None when it is finished; the engine's one media clock pulls every active source once per
tick. Nothing here knows about sockets or time.

* :class:`Prompt` -- audio loaded once (``load_wav``: any sample rate, 8/16/24/32-bit PCM,
  mono or stereo, resampled once at load to 8 kHz with a windowed-sinc low-pass).
* :class:`PromptSequence` -- prompts and silences played in order (announcements composed of
  words: "there are currently" + "3" + "callers ahead of you").
* :class:`Loop` -- repeats a prompt forever (music on hold, ringback tone).
* :func:`ringback_tone` -- one cadence period of the ringback tone of a region (ITU-T E.180
  Supplement 2 values).
* :class:`PromptLibrary` -- the system prompt sets of ``prompts/manifest.json`` by language,
  and the composition of numbers, ordinals, durations, queue position and estimated wait
  (English and Chinese; see :func:`say_number`).
"""

from __future__ import annotations

import json
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

SAMPLE_RATE: Final = 8000
FRAME: Final = 160
Int16Array = npt.NDArray[np.int16]

PROMPTS_DIR: Final = Path(__file__).resolve().parent.parent / "prompts"
LANGUAGES: Final = ("en", "zh")


class PromptError(Exception):
    """A prompt file that cannot be used, or a prompt id the library does not have."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """Mono 8 kHz int16 audio with a name (the manifest id or the file)."""

    name: str
    samples: Int16Array

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _lowpass(x: npt.NDArray[np.float64], cutoff: float, taps: int = 127) -> npt.NDArray[
        np.float64]:
    """Windowed-sinc FIR low-pass, ``cutoff`` as a fraction of the sample rate (< 0.5)."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
    h /= h.sum()
    return np.asarray(np.convolve(x, h, mode="same"), dtype=np.float64)


def resample(samples: npt.NDArray[np.float64], rate: int, target: int = SAMPLE_RATE) -> (
        npt.NDArray[np.float64]):
    """Band-limit then interpolate from ``rate`` to ``target`` Hz (done once per file)."""
    if rate <= 0:
        raise PromptError(f"invalid sample rate {rate}")
    if rate == target:
        return samples
    if rate > target:
        samples = _lowpass(samples, 0.45 * target / rate)
    n_out = int(round(len(samples) * target / rate))
    t_out = np.arange(n_out) * (rate / target)
    out = np.asarray(np.interp(t_out, np.arange(len(samples)), samples), dtype=np.float64)
    if rate < target:
        out = _lowpass(out, 0.45 * rate / target)
    return out


def load_wav(path: str | Path, name: str | None = None) -> Prompt:
    """Load a PCM WAV file of any rate/width/channel count as an 8 kHz mono prompt."""
    p = Path(path)
    try:
        with wave.open(str(p), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except FileNotFoundError:
        raise PromptError(f"prompt file not found: {p}") from None
    except (wave.Error, EOFError) as exc:
        raise PromptError(f"{p}: not a PCM WAV file ({exc})") from None
    if width == 2 and channels == 1 and rate == SAMPLE_RATE:
        # what `make prompts` installs: already the samples we play, no conversion (the
        # float path below rounds and clips 1.9 M samples of music on hold in ~70 ms of the
        # loop at the first queue call under load; this copy takes ~1 ms)
        return Prompt(name or p.stem, np.frombuffer(raw, "<i2").astype(np.int16))
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) * 256.0
    elif width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.float64)
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - (1 << 24), v)
        data = v.astype(np.float64) / 256.0
    elif width == 4:
        data = np.frombuffer(raw, "<i4").astype(np.float64) / 65536.0
    else:
        raise PromptError(f"{p}: unsupported sample width {width} bytes")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    out = resample(data, rate)
    return Prompt(name or p.stem, np.clip(np.round(out), -32768, 32767).astype(np.int16))


def silence(seconds: float, name: str = "silence") -> Prompt:
    return Prompt(name, np.zeros(int(round(seconds * SAMPLE_RATE)), dtype=np.int16))


# --------------------------------------------------------------------------------- sources


class FrameSource:
    """Base of everything the clock can play. ``next_frame()`` -> 160 samples or None."""

    def next_frame(self) -> Int16Array | None:  # pragma: no cover - interface
        raise NotImplementedError

    def rewind(self) -> None:
        """Start again from the beginning."""


class PromptSequence(FrameSource):
    """Prompts played one after the other; the last frame is padded with silence.

    Prompts are concatenated (no gap) so composed announcements flow like speech; put
    ``silence()`` items where a pause is wanted.
    """

    def __init__(self, items: Iterable[Prompt]) -> None:
        self.items: tuple[Prompt, ...] = tuple(items)
        joined = (np.concatenate([p.samples for p in self.items]) if self.items
                  else np.zeros(0, np.int16))
        pad = -len(joined) % FRAME
        self._audio = np.concatenate([joined, np.zeros(pad, np.int16)]) if pad else joined
        self._pos = 0

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.items)

    @property
    def frames(self) -> int:
        return len(self._audio) // FRAME

    def next_frame(self) -> Int16Array | None:
        if self._pos >= len(self._audio):
            return None
        f = self._audio[self._pos:self._pos + FRAME]
        self._pos += FRAME
        return f

    def rewind(self) -> None:
        self._pos = 0


class Loop(FrameSource):
    """A prompt played again and again (music on hold, ringback). ``times=None``: forever.

    The loop wraps sample-exactly (no padding at the seam), so music does not stutter.
    """

    def __init__(self, prompt: Prompt, times: int | None = None) -> None:
        if len(prompt.samples) == 0:
            raise PromptError(f"cannot loop the empty prompt {prompt.name!r}")
        self.prompt = prompt
        self.times = times
        # Pre-tile so that any 160-sample window is a contiguous slice.
        reps = max(2, -(-FRAME * 2 // len(prompt.samples)) + 1)
        self._tiled = np.tile(prompt.samples, reps)
        self._n = len(prompt.samples)
        self._pos = 0
        self._played = 0

    def next_frame(self) -> Int16Array | None:
        if self.times is not None and self._played + FRAME > self._n * self.times:
            if self._played >= self._n * self.times:
                return None
            rest = self._n * self.times - self._played
            f = np.zeros(FRAME, np.int16)
            f[:rest] = self._tiled[self._pos:self._pos + rest]
            self._played = self._n * self.times
            return f
        f = self._tiled[self._pos:self._pos + FRAME]
        self._pos = (self._pos + FRAME) % self._n
        self._played += FRAME
        return f

    def rewind(self) -> None:
        self._pos = 0
        self._played = 0


# ITU-T E.180 Supplement 2 (2011) ringing tones: frequencies and cadence (on, off, ...).
RINGBACK: Final[dict[str, tuple[tuple[float, ...], float | None, tuple[float, ...]]]] = {
    # region: (frequencies Hz, amplitude-modulation Hz or None, cadence seconds on/off...)
    "us": ((440.0, 480.0), None, (2.0, 4.0)),
    "ca": ((440.0, 480.0), None, (2.0, 4.0)),
    "uk": ((400.0, 450.0), None, (0.4, 0.2, 0.4, 2.0)),
    "eu": ((425.0,), None, (1.0, 4.0)),  # CEPT recommendation (DE, FR, ES, IT, NL...)
    "cn": ((450.0,), None, (1.0, 4.0)),
    "jp": ((400.0,), 16.0, (1.0, 2.0)),
    "au": ((425.0,), 25.0, (0.4, 0.2, 0.4, 2.0)),
    "in": ((400.0,), 25.0, (0.4, 0.2, 0.4, 2.0)),
}


def ringback_tone(region: str = "us", level: float = 0.25) -> Prompt:
    """One full cadence period of the ringback tone of ``region`` (loop it)."""
    key = region.lower()
    if key not in RINGBACK:
        raise PromptError(f"no ringback tone for region {region!r}; known: "
                          f"{', '.join(sorted(RINGBACK))}")
    freqs, am, cadence = RINGBACK[key]
    parts = []
    for i, seconds in enumerate(cadence):
        n = int(round(seconds * SAMPLE_RATE))
        if i % 2:
            parts.append(np.zeros(n))
            continue
        t = np.arange(n) / SAMPLE_RATE
        wave_ = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
        if am is not None:
            wave_ = wave_ * (0.5 + 0.5 * np.sin(2 * np.pi * am * t))
        ramp = min(n // 2, 40)  # 5 ms ramps: no clicks
        env = np.ones(n)
        env[:ramp] = np.linspace(0, 1, ramp)
        env[n - ramp:] = np.linspace(1, 0, ramp)
        parts.append(wave_ * env)
    audio = np.concatenate(parts) * level * 32767
    return Prompt(f"ringback-{key}", audio.astype(np.int16))


def beep(frequency: float = 1000.0, seconds: float = 0.25, level: float = 0.3) -> Prompt:
    """The tone a caller hears just before a recording starts (voicemail, Record)."""
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    env = np.ones(n)
    ramp = min(n // 2, 40)  # 5 ms ramps: no clicks
    env[:ramp] = np.linspace(0, 1, ramp)
    env[n - ramp:] = np.linspace(1, 0, ramp)
    audio = np.sin(2 * np.pi * frequency * t) * env * level * 32767
    return Prompt(f"beep-{int(frequency)}", audio.astype(np.int16))


# --------------------------------------------------------------------------------- speech


def _en_under_100(n: int) -> list[str]:
    return [f"num-{n}"]


def say_number(n: int, lang: str) -> list[str]:
    """Prompt ids speaking the cardinal ``n`` (0 <= n < 100,000,000).

    English: "num-0".."num-99" are whole words ("twenty-one"); hundreds and thousands are
    composed: 1,234 -> one thousand two hundred thirty-four. Chinese: "num-0".."num-99" are
    recorded whole (二十一); larger numbers compose 百/千/万 with 零 for inner zeros and
    两 before 百/千/万 (两百, 两千) as spoken in Mandarin.
    """
    if not isinstance(n, int) or n < 0 or n >= 100_000_000:
        raise PromptError(f"cannot say the number {n!r} (0..99,999,999)")
    if lang == "en":
        return _say_en(n)
    if lang == "zh":
        return _say_zh(n)
    raise PromptError(f"no prompt language {lang!r}; known: {', '.join(LANGUAGES)}")


def _say_en(n: int) -> list[str]:
    if n < 100:
        return _en_under_100(n)
    out: list[str] = []
    if n >= 1_000_000:
        out += _say_en(n // 1_000_000) + ["num-million"]
        n %= 1_000_000
        if n == 0:
            return out
    if n >= 1000:
        out += _say_en(n // 1000) + ["num-thousand"]
        n %= 1000
        if n == 0:
            return out
    if n >= 100:
        out += [f"num-{n // 100}", "num-hundred"]
        n %= 100
        if n == 0:
            return out
    return out + _en_under_100(n)


def _say_zh_under_10000(n: int, leading: bool) -> list[str]:
    """Chinese 1..9999 with 零 for skipped places; ``leading``: first group of the number."""
    out: list[str] = []
    units = [(1000, "num-qian"), (100, "num-bai")]
    zero_pending = not leading and n < 1000
    for value, unit in units:
        d = n // value
        n %= value
        if d:
            if zero_pending:
                out.append("num-0")
                zero_pending = False
            out += ["num-liang" if d == 2 else f"num-{d}", unit]
        elif out:
            zero_pending = True
    if n:
        if zero_pending or (out and n < 10):
            out.append("num-0")
        if n < 20 and out:
            # 一百一十 is said with the 一 (十 alone only starts a number).
            out += (["num-1", "num-10"] if n == 10 else
                    ["num-1", f"num-{n}"] if 10 < n < 20 else [f"num-{n}"])
        else:
            out.append(f"num-{n}")
    return out


def _say_zh(n: int) -> list[str]:
    if n < 100:
        return [f"num-{n}"]
    out: list[str] = []
    if n >= 10000:
        high = n // 10000
        out += ["num-liang"] if high == 2 else _say_zh_under_10000(high, True)
        out.append("num-wan")
        n %= 10000
        if n == 0:
            return out
        return out + _say_zh_under_10000(n, False)
    return _say_zh_under_10000(n, True)


def say_ordinal(n: int, lang: str) -> list[str]:
    """Prompt ids for the ordinal ``n``: English "twenty" + "first"; Chinese 第 + number."""
    if n < 1:
        raise PromptError(f"no ordinal for {n}")
    if lang == "zh":
        return ["ord-prefix"] + say_number(n, "zh")
    if lang != "en":
        raise PromptError(f"no prompt language {lang!r}")
    if n < 20:
        return [f"ord-{n}"]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [f"ord-{n}"] if ones == 0 else [f"num-{tens * 10}", f"ord-{ones}"]
    head = n - n % 100
    rest = n % 100
    if rest == 0:
        words = say_number(head, "en")
        last = words[-1]
        return words[:-1] + ["ord-hundred" if last == "num-hundred" else "ord-thousand"
                             if last == "num-thousand" else "ord-million"]
    return say_number(head, "en") + say_ordinal(rest, "en")


def say_duration(seconds: float, lang: str, *, round_to_minutes: bool = False) -> list[str]:
    """"3 minutes 20 seconds" / "3分钟20秒" (singular "minute"/"second" for 1 in English).

    With ``round_to_minutes`` the estimate is rounded up to whole minutes (at least 1), the
    usual way queue wait estimates are announced.
    """
    total = max(0, int(round(seconds)))
    if round_to_minutes:
        total = max(60, -(-total // 60) * 60)
    minutes, secs = divmod(total, 60)
    out: list[str] = []
    if minutes:
        out += say_number(minutes, lang) + [("minute" if minutes == 1 else "minutes")
                                            if lang == "en" else "minutes"]
    if secs or not minutes:
        out += say_number(secs, lang) + [("second" if secs == 1 else "seconds")
                                         if lang == "en" else "seconds"]
    return out


def announce_position(position: int, lang: str) -> list[str]:
    """What a caller at queue ``position`` hears: how many callers are AHEAD of them, as the
    manual words it (queue-admin §2.5: 播报当前等待位置 -- "periodically tell the caller
    the number of callers waiting ahead", 前方等待人数). Position 1 has nobody ahead and
    hears "your call is now first in line" (see :func:`announce_callers_ahead`)."""
    if position < 1:
        raise PromptError(f"queue position must be >= 1, got {position}")
    return announce_callers_ahead(position - 1, lang)


def announce_callers_ahead(ahead: int, lang: str) -> list[str]:
    """"There are currently N callers ahead of you" / "您前面还有N位来电者在等待"; one ahead
    is said in the singular in English ("there is one caller ahead of you"); nobody ahead:
    "your call is now first in line and will be answered by the next available
    representative" / "您已排在第一位，下一位空闲坐席将为您接听"."""
    if ahead < 0:
        raise PromptError(f"callers ahead must be >= 0, got {ahead}")
    if ahead == 0:
        return ["no-callers-ahead"]
    if lang == "en" and ahead == 1:
        return ["there-is-one-caller-ahead"]
    return ["there-are"] + say_number(ahead, lang) + ["callers-ahead-of-you"]


def announce_wait(seconds: float, lang: str) -> list[str]:
    """"The estimated hold time is currently N minutes" / "您的预计等待时间约为N分钟"
    (rounded up to whole minutes)."""
    return ["estimated-wait-time"] + say_duration(seconds, lang, round_to_minutes=True)


def announce_agent_id(agent_id: str, lang: str) -> list[str]:
    """"Agent number" + the ID digit by digit (IDs like 0101 keep their leading zero)."""
    if not agent_id or not agent_id.isdigit():
        raise PromptError(f"agent ID must be digits, got {agent_id!r}")
    return ["agent-id-prefix"] + [f"num-{d}" for d in agent_id] + (
        ["agent-id-suffix"] if lang == "zh" else [])


def say_digits(digits: str, lang: str) -> list[str]:
    """A callback number read back digit by digit ("your callback number is ...")."""
    if not digits.isdigit():
        raise PromptError(f"not a digit string: {digits!r}")
    return [f"num-{d}" for d in digits]


class PromptLibrary:
    """The prompt sets of a manifest (``prompts/manifest.json``), loaded lazily and cached.

    Manifest format: ``{"prompts": {"en/welcome": {"file": "en/welcome.wav", "text": ...,
    "language": "en", "duration": 1.23, "source": "espeak-ng"}, ...}, "music": {...},
    "sources": {...}}``. Ids are ``<lang>/<name>``. A file whose ``source`` is a Debian
    sound package is written at install time (``make prompts``; prompts/README.md).
    """

    def __init__(self, directory: str | Path = PROMPTS_DIR) -> None:
        self.directory = Path(directory)
        manifest = self.directory / "manifest.json"
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PromptError(f"prompt manifest not found: {manifest}") from None
        except json.JSONDecodeError as exc:
            raise PromptError(f"{manifest}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        self.entries: dict[str, dict[str, object]] = dict(data.get("prompts", {}))
        self.entries.update(data.get("music", {}))
        self._cache: dict[str, Prompt] = {}

    def has(self, prompt_id: str) -> bool:
        return prompt_id in self.entries

    def path(self, prompt_id: str) -> Path:
        """The file of a manifest id (which may not exist yet: see :meth:`missing`)."""
        entry = self.entries.get(prompt_id)
        if entry is None:
            raise PromptError(f"no prompt {prompt_id!r} in {self.directory}/manifest.json")
        return self.directory / str(entry["file"])

    def missing(self, prompt_id: str) -> str | None:
        """None when the prompt's file is there, else why not and what to do."""
        path = self.path(prompt_id)
        if path.is_file():
            return None
        source = self.entries[prompt_id].get("source")
        if source and source != "espeak-ng":
            return (f"{path} is missing: it is converted from the Debian package {source} "
                    f"at install time (make prompts)")
        return f"{path} is missing"

    def get(self, prompt_id: str) -> Prompt:
        """The prompt with manifest id ``prompt_id`` (e.g. ``"en/welcome"``)."""
        cached = self._cache.get(prompt_id)
        if cached is not None:
            return cached
        why = self.missing(prompt_id)
        if why is not None:
            raise PromptError(why)
        prompt = load_wav(self.path(prompt_id), prompt_id)
        self._cache[prompt_id] = prompt
        return prompt

    def words(self, lang: str, ids: Sequence[str]) -> list[Prompt]:
        if lang not in LANGUAGES:
            raise PromptError(f"no prompt language {lang!r}; known: {', '.join(LANGUAGES)}")
        return [self.get(f"{lang}/{i}") for i in ids]

    def sequence(self, lang: str, *parts: str | Sequence[str] | Prompt,
                 gap: float = 0.05) -> PromptSequence:
        """A PromptSequence from ids and id lists, e.g.
        ``lib.sequence("en", "welcome", announce_position(3, "en"))``; ``gap`` seconds of
        silence between parts (not between the words of one part)."""
        items: list[Prompt] = []
        for i, part in enumerate(parts):
            if i and gap:
                items.append(silence(gap))
            if isinstance(part, Prompt):
                items.append(part)
            elif isinstance(part, str):
                items.append(self.get(f"{lang}/{part}"))
            else:
                items += self.words(lang, part)
        return PromptSequence(items)

    def file(self, path: str | Path) -> Prompt:
        """A custom prompt file (any WAV), resampled once and cached while it is unchanged."""
        p = Path(path).resolve()
        try:
            mtime = p.stat().st_mtime_ns
        except FileNotFoundError:
            raise PromptError(f"prompt file not found: {p}") from None
        key = f"file:{p}:{mtime}"
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = load_wav(p)
        return cached

    def music(self, name: str = "default") -> Prompt:
        return self.get(f"moh/{name}")
