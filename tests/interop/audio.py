"""Audio checks for interop tests: make test signals, find tones and DTMF in recordings, and
recognise a known prompt inside what a phone recorded.

Signals are float arrays in [-1, 1]; WAV files are 16-bit PCM (mono, or the first channel).
Tone detection uses the Goertzel algorithm on 20 ms frames (the RTP packet size), so "the tone
is present" means: in enough frames the tone's bin holds most of the frame's energy.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
FRAME_S = 0.020

DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")


def tone(freqs: float | tuple[float, ...], seconds: float, rate: int = RATE,
         amplitude: float = 0.5) -> np.ndarray:
    """A sum of sines (total peak `amplitude`)."""
    fs = (freqs,) if isinstance(freqs, (int, float)) else tuple(freqs)
    t = np.arange(int(round(seconds * rate))) / rate
    sig = sum(np.sin(2 * np.pi * f * t) for f in fs)
    return np.asarray(sig, dtype=np.float64) * (amplitude / len(fs))


def dtmf_signal(digits: str, on_s: float = 0.1, off_s: float = 0.1, rate: int = RATE,
                amplitude: float = 0.5) -> np.ndarray:
    """DTMF digits as audio (ITU-T Q.23 frequency pairs)."""
    parts = []
    for d in digits.upper():
        for row, keys in enumerate(DTMF_KEYS):
            if d in keys:
                parts.append(tone((DTMF_LOW[row], DTMF_HIGH[keys.index(d)]), on_s, rate,
                                  amplitude))
                break
        else:
            raise ValueError(f"not a DTMF digit: {d!r}")
        parts.append(np.zeros(int(round(off_s * rate))))
    return np.concatenate(parts) if parts else np.zeros(0)


def write_wav(path: Path | str, signal: np.ndarray, rate: int = RATE) -> Path:
    """Write a mono 16-bit WAV."""
    pcm = np.clip(np.asarray(signal, dtype=np.float64), -1.0, 1.0)
    data = (pcm * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)
    return Path(path)


def tone_wav(path: Path | str, freq: float, seconds: float = 10.0, rate: int = RATE,
             amplitude: float = 0.5) -> Path:
    return write_wav(path, tone(freq, seconds, rate, amplitude), rate)


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """(samples in [-1, 1] of the first channel, sample rate); 8/16/32-bit PCM."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        width = w.getsampwidth()
        channels = w.getnchannels()
        raw = w.readframes(w.getnframes())
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128) / 128.0
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2**31
    else:
        raise ValueError(f"{path}: unsupported sample width {width}")
    if channels > 1:
        data = data[::channels]
    return data, rate


def read_partial_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """What a phone has recorded so far into a 16-bit mono WAV it is still writing (pjmedia
    appends the samples in 0.25 s buffers and fills in the RIFF sizes only when the recording
    stops): the samples after the header's ``data`` tag, in [-1, 1], and the sample rate."""
    data = Path(path).read_bytes()
    tag = data.find(b"data", 12, 200)
    if data[:4] != b"RIFF" or tag < 0:
        return np.zeros(0), RATE
    rate = int.from_bytes(data[24:28], "little")
    body = data[tag + 8:]
    body = body[: len(body) // 2 * 2]
    return np.frombuffer(body, dtype="<i2").astype(np.float64) / 32768.0, rate


def goertzel_power(frame: np.ndarray, rate: int, freq: float) -> float:
    """Power of `freq` in `frame` (Goertzel), normalised so a full-scale sine gives ~0.25."""
    n = len(frame)
    if n == 0:
        return 0.0
    k = 2.0 * np.cos(2.0 * np.pi * freq / rate)
    s1 = s2 = 0.0
    for x in frame:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return float(power) / (n * n)


def _bin_power(frames: np.ndarray, rate: int, freq: float) -> np.ndarray:
    """Vectorised single-bin DFT power per row of `frames` (same scale as goertzel_power)."""
    n = frames.shape[1]
    t = np.arange(n) / rate
    ref = np.exp(-2j * np.pi * freq * t)
    return np.abs(frames @ ref) ** 2 / (n * n)


def _frames(signal: np.ndarray, rate: int, frame_s: float = FRAME_S) -> np.ndarray:
    n = int(round(frame_s * rate))
    count = len(signal) // n
    return np.asarray(signal[: count * n], dtype=np.float64).reshape(count, n)


@dataclass
class ToneReport:
    freq: float
    frames: int
    frames_with_tone: int
    longest_run_s: float
    level_dbfs: float

    @property
    def seconds_with_tone(self) -> float:
        return self.frames_with_tone * FRAME_S


def detect_tone(signal: np.ndarray, rate: int, freq: float, *, min_share: float = 0.5,
                min_level_dbfs: float = -40.0) -> ToneReport:
    """Per 20 ms frame: is `freq` there? A frame counts when the tone's power is at least
    `min_share` of the frame's total power and the tone is louder than `min_level_dbfs`."""
    frames = _frames(signal, rate)
    if len(frames) == 0:
        return ToneReport(freq, 0, 0, 0.0, -120.0)
    n = frames.shape[1]
    tone_p = _bin_power(frames, rate, freq)
    # a sine of amplitude A: bin power A^2/4, mean square A^2/2
    total = np.mean(frames**2, axis=1)
    tone_ms = 2.0 * tone_p
    level = 10 * np.log10(np.maximum(tone_ms, 1e-12))
    hit = (tone_ms >= min_share * total) & (level >= min_level_dbfs) & (total > 0)
    longest = run = 0
    for h in hit:
        run = run + 1 if h else 0
        longest = max(longest, run)
    med = float(np.median(level[hit])) if hit.any() else float(level.max())
    del n
    return ToneReport(freq, len(frames), int(hit.sum()), longest * FRAME_S, med)


def wav_has_tone(path: Path | str, freq: float, min_seconds: float = 1.0,
                 **kw: float) -> ToneReport:
    """Check a recording for `freq`; raises AssertionError with the numbers when it is not
    present for at least `min_seconds` in total."""
    signal, rate = read_wav(path)
    rep = detect_tone(signal, rate, freq, **kw)
    if rep.seconds_with_tone < min_seconds:
        raise AssertionError(
            f"{path}: {freq:g} Hz present in {rep.seconds_with_tone:.2f}s of "
            f"{rep.frames * FRAME_S:.2f}s (longest run {rep.longest_run_s:.2f}s, "
            f"level {rep.level_dbfs:.1f} dBFS, dominant {dominant_frequency(signal, rate):.0f} Hz)"
            f"; wanted >= {min_seconds}s")
    return rep


def dominant_frequency(signal: np.ndarray, rate: int) -> float:
    """The strongest FFT bin above 50 Hz (Hz), 0.0 for silence."""
    if len(signal) < 16 or not np.any(signal):
        return 0.0
    spec = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    freqs = np.fft.rfftfreq(len(signal), 1.0 / rate)
    spec[freqs < 50] = 0
    return float(freqs[int(np.argmax(spec))])


def decode_dtmf(signal: np.ndarray, rate: int, *, min_level_dbfs: float = -35.0,
                min_frames: int = 2) -> str:
    """Digits heard in `signal` (Q.24-style: one low and one high group tone dominate for at
    least `min_frames` consecutive 20 ms frames; a gap is needed before a repeat)."""
    frames = _frames(signal, rate)
    if len(frames) == 0:
        return ""
    low = np.stack([_bin_power(frames, rate, f) for f in DTMF_LOW], axis=1) * 2
    high = np.stack([_bin_power(frames, rate, f) for f in DTMF_HIGH], axis=1) * 2
    total = np.mean(frames**2, axis=1)
    out = []
    current: str | None = None
    run = 0
    emitted = False
    for i in range(len(frames)):
        li, hi = int(np.argmax(low[i])), int(np.argmax(high[i]))
        lp, hp = low[i, li], high[i, hi]
        loud = min(lp, hp) >= 10 ** (min_level_dbfs / 10)
        pure = total[i] > 0 and (lp + hp) >= 0.6 * total[i]
        second_low = np.sort(low[i])[-2]
        second_high = np.sort(high[i])[-2]
        clear = lp > 4 * second_low and hp > 4 * second_high
        key = DTMF_KEYS[li][hi] if (loud and pure and clear) else None
        if key is not None and key == current:
            run += 1
        else:
            current, run, emitted = key, 1 if key else 0, False
        if current and run >= min_frames and not emitted:
            out.append(current)
            emitted = True
    return "".join(out)


@dataclass
class Match:
    score: float  # normalised cross-correlation peak, 1.0 = identical waveform
    lag_s: float  # where the prompt (its first sample) starts inside the recording
    matched_s: float = 0.0  # length of the prompt segment that was matched


def find_prompt(recording: np.ndarray, prompt: np.ndarray, rate: int,
                segment_s: float | None = 3.0) -> Match:
    """Locate `prompt` inside `recording` by normalised cross-correlation (FFT based).

    With `segment_s`, segments of that length are matched (from where the prompt's sound
    starts, from a third and from two thirds into it; shortened to half the recording when
    the recording is short) and the best one counts, so a prompt cut off by a hang-up or a
    recording that started late is still recognised. `segment_s=None` matches the whole
    prompt. G.711 companding and a relay keep the waveform, so a prompt that went through
    the switch scores well above 0.5; unrelated audio or silence scores near 0.
    """
    rec = np.asarray(recording, dtype=np.float64)
    ref = np.asarray(prompt, dtype=np.float64)
    if segment_s is None or len(ref) == 0:
        return _correlate(rec, ref, rate, 0)
    loud = np.flatnonzero(np.abs(ref) > 0.1 * np.max(np.abs(ref)))
    first = int(loud[0]) if len(loud) else 0
    length = min(int(segment_s * rate), len(ref) - first, max(len(rec) // 2, 1))
    span = len(ref) - first - length
    starts = sorted({first, first + span // 2, first + span}) if span > 0 else [first]
    return max((_correlate(rec, ref[o: o + length], rate, o) for o in starts),
               key=lambda m: m.score)


def _correlate(rec: np.ndarray, ref: np.ndarray, rate: int, offset: int) -> Match:
    """Best normalised correlation of `ref` (taken `offset` samples into the prompt)."""
    if len(ref) == 0 or len(rec) < len(ref):
        return Match(0.0, 0.0)
    ref = ref - ref.mean()
    ref_energy = float(np.sqrt(np.sum(ref**2)))
    if ref_energy == 0:
        return Match(0.0, 0.0)
    n = 1 << int(np.ceil(np.log2(len(rec) + len(ref))))
    corr = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)[
        : len(rec) - len(ref) + 1]
    # energy of each recording window of the segment's length
    c = np.concatenate(([0.0], np.cumsum(rec**2)))
    s = np.concatenate(([0.0], np.cumsum(rec)))
    m = len(ref)
    win_energy = c[m:] - c[:-m] - (s[m:] - s[:-m]) ** 2 / m
    denom = np.sqrt(np.maximum(win_energy, 1e-12)) * ref_energy
    score = corr / denom
    score[win_energy < 1e-6 * m] = 0.0
    i = int(np.argmax(score))
    return Match(float(score[i]), (i - offset) / rate, m / rate)


@dataclass
class PieceMatch:
    match: Match  # median score of the agreeing pieces, the prompt's start, seconds they cover
    agreeing: int  # pieces found where the start puts them
    inside: int  # pieces that lie inside the recording from that start
    pieces: int  # (loud) pieces of the prompt

    def heard(self, min_share: float = 0.75) -> bool:
        """At least `min_share` of the pieces inside the recording, and a second of them."""
        return self.match.matched_s >= 1.0 and self.agreeing >= min_share * self.inside


def find_prompt_pieces(recording: np.ndarray, prompt: np.ndarray, rate: int,
                       piece_s: float = 0.25, min_score: float = 0.5,
                       tolerance_s: float = 0.1) -> PieceMatch:
    """Locate `prompt` by its pieces of `piece_s` (each found on its own by normalised
    correlation) and their agreement: every piece that scores `min_score` implies where the
    prompt starts (its lag minus its offset in the prompt); the median of those is the
    prompt's start; a piece agrees when it is found within `tolerance_s` of where that start
    puts it. Pieces of the prompt that are (nearly) silent are left out: they match
    nothing.

    Why: a phone's jitter buffer that runs empty for a frame plays 20 ms of concealment and
    later drops a frame to catch up (pjmedia's adaptive buffer does this when the sender's
    20 ms clock and the phone's are nearly in phase). Each slip shifts what follows by a
    frame, and a correlation over seconds across a slip falls well below 0.5 although every
    word was heard; quarter-second pieces each still match (near 1.0), a frame apart.
    """
    rec = np.asarray(recording, dtype=np.float64)
    ref = np.asarray(prompt, dtype=np.float64)
    n = max(1, int(round(piece_s * rate)))
    peak = float(np.max(np.abs(ref))) if len(ref) else 0.0
    offsets = [o for o in range(0, len(ref) - n + 1, n)
               if peak > 0 and np.sqrt(np.mean(ref[o:o + n] ** 2)) > 0.05 * peak]
    matches = [(o, _correlate(rec, ref[o:o + n], rate, o)) for o in offsets]
    starts = [m.lag_s for _, m in matches if m.score >= min_score]
    if not starts:
        return PieceMatch(Match(0.0, 0.0), 0, 0, len(offsets))
    start = float(np.median(starts))
    inside = [(o, m) for o, m in matches
              if 0 <= start * rate + o and start * rate + o + n <= len(rec)]
    agreeing = [m for _, m in inside
                if m.score >= min_score and abs(m.lag_s - start) <= tolerance_s]
    score = float(np.median([m.score for m in agreeing])) if agreeing else 0.0
    return PieceMatch(Match(score, start, len(agreeing) * n / rate), len(agreeing),
                      len(inside), len(offsets))


def wav_contains_prompt(recording: Path | str, prompt: Path | str,
                        min_score: float = 0.5, segment_s: float | None = 3.0,
                        min_share: float = 0.75) -> Match:
    """Assert that the prompt WAV is heard in the recording WAV (resampled if the rates
    differ); see find_prompt for `segment_s`. When no segment of seconds matches, the prompt
    still counts as heard if at least `min_share` of its quarter-second pieces that fall
    inside the recording (at least one second of them) are found where the prompt's start
    puts them, give or take 0.1 s (find_prompt_pieces: a jitter-buffer slip)."""
    rec, r1 = read_wav(recording)
    ref, r2 = read_wav(prompt)
    if r1 != r2:
        ref = resample(ref, r2, r1)
    match = find_prompt(rec, ref, r1, segment_s)
    if match.score >= min_score:
        return match
    pieces = find_prompt_pieces(rec, ref, r1, min_score=min_score)
    if pieces.heard(min_share):
        return pieces.match
    raise AssertionError(f"prompt {prompt} not found in {recording}: best correlation "
                         f"{match.score:.2f} at {match.lag_s:.2f}s over {match.matched_s:.1f}"
                         f"s of the prompt (< {min_score}; recording {len(rec) / r1:.2f}s); "
                         f"by quarter-second pieces: {pieces.agreeing} of {pieces.inside} agree "
                         f"on a start at {pieces.match.lag_s:.2f}s")


def resample(signal: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Linear-interpolation resampling (good enough to compare speech prompts)."""
    if rate_in == rate_out:
        return signal
    n_out = int(round(len(signal) * rate_out / rate_in))
    x_out = np.arange(n_out) * rate_in / rate_out
    return np.interp(x_out, np.arange(len(signal)), signal)


def stereo(path: Path | str) -> tuple[np.ndarray, np.ndarray, int]:
    """(left, right, rate) of a 16-bit stereo WAV (a call recording), samples in [-1, 1]."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (2, 2), path
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    data = data.astype(np.float64).reshape(-1, 2) / 32768.0
    return data[:, 0], data[:, 1], rate


def assert_stereo_channels(path: Path | str, left_hz: float, right_hz: float,
                           seconds: float) -> float:
    """A call recording: the left channel has only `left_hz`, the right only `right_hz`,
    each for most of `seconds`; returns the file's duration."""
    left, right, rate = stereo(path)
    for name, channel, own, other in (("left", left, left_hz, right_hz),
                                      ("right", right, right_hz, left_hz)):
        mine = detect_tone(channel, rate, own)
        assert mine.seconds_with_tone >= seconds - 1.0, (name, mine)
        theirs = detect_tone(channel, rate, other)
        assert theirs.frames_with_tone == 0, (name, theirs)
    return len(left) / rate
