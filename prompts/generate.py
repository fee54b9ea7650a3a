"""Generate the system prompt sets (en, zh) and the music-on-hold track.

    .venv/bin/python prompts/generate.py            # writes prompts/{en,zh,moh}/ + manifest

Speech: espeak-ng (``-v en-us``; Mandarin with ``-v cmn-latn-pinyin`` from tone-numbered
pinyin, because the packaged cmn dictionary lacks most of the characters used here and
would spell them in English) -> sox (trim leading/trailing silence, normalise, 8 kHz 16-bit
mono WAV). The manifest keeps the Chinese text and the pinyin actually spoken. Music:
synthesised here with numpy (a I-vi-IV-V progression in C major, soft arpeggios over pads
and a bass line); no third-party recordings. The output is deterministic for a given
espeak-ng/sox version, and committed.

The ids are what ``media.player`` composes: ``num-0``..``num-99`` whole words, ``num-hundred``
/ ``num-thousand`` / ``num-million`` (en), ``num-bai`` / ``num-qian`` / ``num-wan`` /
``num-liang`` (zh), ordinals ``ord-*`` (en) and ``ord-prefix`` 第 (zh), and the phrases of
the queue flow (manual: queue-admin §2.5, §4 callback, §9 survey, §10 time-based routing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 8000

EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
           "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
           "seventeen", "eighteen", "nineteen"]
EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
           "ninety"]
EN_ORD = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
          "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
          "sixteenth", "seventeenth", "eighteenth", "nineteenth"]
EN_ORD_TENS = ["", "", "twentieth", "thirtieth", "fortieth", "fiftieth", "sixtieth",
               "seventieth", "eightieth", "ninetieth"]
ZH_DIGITS = "零一二三四五六七八九"


def en_number(n: int) -> str:
    if n < 20:
        return EN_ONES[n]
    tens, ones = divmod(n, 10)
    return EN_TENS[tens] + (f"-{EN_ONES[ones]}" if ones else "")


ZH_PINYIN = ["ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3"]


def zh_number_pinyin(n: int) -> str:
    """Tone-numbered pinyin of 0..99 (十 is shi2; 一 in 十一 keeps tone 1)."""
    if n < 10:
        return ZH_PINYIN[n]
    tens, ones = divmod(n, 10)
    head = "shi2" if tens == 1 else f"{ZH_PINYIN[tens]} shi2"
    return head + (f" {ZH_PINYIN[ones]}" if ones else "")


def zh_number(n: int) -> str:
    if n < 10:
        return ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "十" if tens == 1 else ZH_DIGITS[tens] + "十"
    return head + (ZH_DIGITS[ones] if ones else "")


# Phrases of the queue flow: id -> (English, Chinese, Chinese as tone-numbered pinyin).
# The Chinese text is what the manifest shows; espeak-ng speaks the pinyin: its cmn
# dictionary lacks most characters used here and would spell them out in English.
PHRASES: dict[str, tuple[str, str, str]] = {
    "welcome-to-queue": (
        "Thank you for calling. Please hold, and your call will be answered by the next "
        "available agent.",
        "感谢您的来电，请稍候，我们将尽快为您接通坐席。",
        "gan3 xie4 nin2 de5 lai2 dian4, qing3 shao1 hou4, wo3 men5 jiang1 jin3 kuai4 wei4 nin2 "
        "jie1 tong1 zuo4 xi2."),
    "all-agents-busy": (
        "All of our agents are currently busy.",
        "所有坐席正忙。",
        "suo3 you3 zuo4 xi2 zheng4 mang2."),
    "please-hold": (
        "Please hold.",
        "请稍候。",
        "qing3 shao1 hou4."),
    "please-stay-on-the-line": (
        "Please stay on the line.",
        "请不要挂机。",
        "qing3 bu2 yao4 gua4 ji1."),
    "thank-you-for-patience": (
        "Thank you for your patience. Your call is important to us.",
        "感谢您的耐心等待。",
        "gan3 xie4 nin2 de5 nai4 xin1 deng3 dai4."),
    "you-are-caller-number": (
        "You are caller number",
        "您是第",
        "nin2 shi4 di4"),
    "caller-suffix": (
        "",
        "位来电者。",
        "wei4 lai2 dian4 zhe3."),
    "there-are": (
        "There are",
        "您前面还有",
        "nin2 qian2 mian4 hai2 you3"),
    "callers-ahead-of-you": (
        "callers ahead of you.",
        "位来电者在等待。",
        "wei4 lai2 dian4 zhe3 zai4 deng3 dai4."),
    "there-is-one-caller-ahead": (
        "There is one caller ahead of you.",
        "您前面还有一位来电者在等待。",
        "nin2 qian2 mian4 hai2 you3 yi2 wei4 lai2 dian4 zhe3 zai4 deng3 dai4."),
    "no-callers-ahead": (
        "You are next in line.",
        "您是下一位。",
        "nin2 shi4 xia4 yi2 wei4."),
    "estimated-wait-time": (
        "Your estimated wait time is about",
        "您的预计等待时间约为",
        "nin2 de5 yu4 ji4 deng3 dai4 shi2 jian1 yue1 wei2"),
    "minute": (
        "minute",
        "分钟",
        "fen1 zhong1"),
    "minutes": (
        "minutes",
        "分钟",
        "fen1 zhong1"),
    "second": (
        "second",
        "秒",
        "miao3"),
    "seconds": (
        "seconds",
        "秒",
        "miao3"),
    "agent": (
        "agent",
        "坐席",
        "zuo4 xi2"),
    "agent-id-prefix": (
        "Agent number",
        "工号",
        "gong1 hao4"),
    "agent-id-suffix": (
        "",
        "为您服务。",
        "wei4 nin2 fu2 wu4."),
    "queue-call-for-agent": (
        "Queue call.",
        "队列来电。",
        "dui4 lie4 lai2 dian4."),
    "press-1-for-callback": (
        "To request a callback instead of waiting, press 1.",
        "如需回拨，请按1。",
        "ru2 xu1 hui2 bo1, qing3 an4 yi1."),
    "callback-offer": (
        "To request a callback instead of waiting, press",
        "如需回拨，请按",
        "ru2 xu1 hui2 bo1, qing3 an4"),
    "callback-number-confirm-prefix": (
        "Your callback number is",
        "您的回拨号码是",
        "nin2 de5 hui2 bo1 hao4 ma3 shi4"),
    "press-1-to-confirm-or-2-to-change": (
        "Press 1 to confirm this number, or press 2 to enter another number.",
        "确认此号码请按1，输入其他号码请按2。",
        "que4 ren4 ci3 hao4 ma3 qing3 an4 yi1, shu1 ru4 qi2 ta1 hao4 ma3 qing3 an4 er4."),
    "enter-callback-number": (
        "Please enter your callback number, followed by the pound key.",
        "请输入您的回拨号码，以井号键结束。",
        "qing3 shu1 ru4 nin2 de5 hui2 bo1 hao4 ma3, yi3 jing3 hao4 jian4 jie2 shu4."),
    "callback-confirmed": (
        "Your callback has been confirmed. We will call you back as soon as an agent is "
        "available. Goodbye.",
        "您的回拨请求已确认，坐席空闲时我们将尽快给您回电。再见。",
        "nin2 de5 hui2 bo1 qing3 qiu2 yi3 que4 ren4, zuo4 xi2 kong4 xian2 shi2 wo3 men5 jiang1 "
        "jin3 kuai4 gei3 nin2 hui2 dian4. zai4 jian4."),
    "invalid-number": (
        "The number you entered is not valid.",
        "您输入的号码无效。",
        "nin2 shu1 ru4 de5 hao4 ma3 wu2 xiao4."),
    "invalid-entry": (
        "Sorry, that is not a valid choice.",
        "对不起，您的输入无效。",
        "dui4 bu5 qi3, nin2 de5 shu1 ru4 wu2 xiao4."),
    "survey-question": (
        "Are you satisfied with this service? Press 1 if satisfied, press 2 if not satisfied. "
        "Hang up to finish. Thank you.",
        "您对本次的服务是否满意？满意请按1，不满意请按2。结束请挂机。谢谢。",
        "nin2 dui4 ben3 ci4 de5 fu2 wu4 shi4 fou3 man3 yi4? man3 yi4 qing3 an4 yi1, bu4 man3 "
        "yi4 qing3 an4 er4. jie2 shu4 qing3 gua4 ji1. xie4 xie5."),
    "survey-rate-1-to-5": (
        "Please rate our service from 1 to 5, where 5 is excellent. Press a key from 1 to 5.",
        "请为本次服务评分，5分为非常满意，请按1到5键。",
        "qing3 wei4 ben3 ci4 fu2 wu4 ping2 fen1, wu3 fen1 wei2 fei1 chang2 man3 yi4, qing3 an4 "
        "yi1 dao4 wu3 jian4."),
    "survey-thanks": (
        "Thank you for calling, goodbye.",
        "感谢您的来电，再见。",
        "gan3 xie4 nin2 de5 lai2 dian4, zai4 jian4."),
    "holiday-greeting": (
        "Thank you for calling. We are closed for the holiday. Please call again on our next "
        "business day.",
        "感谢您的来电，节假日期间暂停服务，请在工作日再来电。",
        "gan3 xie4 nin2 de5 lai2 dian4, jie2 jia4 ri4 qi1 jian1 zan4 ting2 fu2 wu4, qing3 zai4 "
        "gong1 zuo4 ri4 zai4 lai2 dian4."),
    "outside-business-hours": (
        "Thank you for calling. You have reached us outside our business hours. Please call "
        "again during business hours.",
        "感谢您的来电，现在是非工作时间，请在工作时间内再来电。",
        "gan3 xie4 nin2 de5 lai2 dian4, xian4 zai4 shi4 fei1 gong1 zuo4 shi2 jian1, qing3 zai4 "
        "gong1 zuo4 shi2 jian1 nei4 zai4 lai2 dian4."),
    "no-agents-available": (
        "We are sorry, no agent is available to take your call right now.",
        "很抱歉，暂时没有可用的坐席接听您的来电。",
        "hen3 bao4 qian4, zan4 shi2 mei2 you3 ke3 yong4 de5 zuo4 xi2 jie1 ting1 nin2 de5 lai2 "
        "dian4."),
    "transferring": (
        "Please hold while we transfer your call.",
        "正在为您转接，请稍候。",
        "zheng4 zai4 wei4 nin2 zhuan3 jie1, qing3 shao1 hou4."),
    "goodbye": (
        "Goodbye.",
        "再见。",
        "zai4 jian4."),
    # agent feature codes (queue-admin §6.7, softswitch.features.Prompt)
    "agent-signed-in": (
        "Agent signed in.",
        "坐席已签入。",
        "zuo4 xi2 yi3 qian1 ru4."),
    "agent-signed-out": (
        "Agent signed out.",
        "坐席已签出。",
        "zuo4 xi2 yi3 qian1 chu1."),
    "agent-paused": (
        "Agent paused.",
        "坐席已暂停。",
        "zuo4 xi2 yi3 zan4 ting2."),
    "agent-resumed": (
        "Agent resumed.",
        "坐席已恢复。",
        "zuo4 xi2 yi3 hui1 fu4."),
    "agent-not-signed-in": (
        "You are not signed in to this queue.",
        "您尚未签入该队列。",
        "nin2 shang4 wei4 qian1 ru4 gai1 dui4 lie4."),
    "feature-not-permitted": (
        "This feature is not permitted.",
        "您无权使用此功能。",
        "nin2 wu2 quan2 shi3 yong4 ci3 gong1 neng2."),
    "feature-code-invalid": (
        "That feature code is not valid.",
        "特征码无效。",
        "te4 zheng1 ma3 wu2 xiao4."),
    "press": (
        "Press",
        "请按",
        "qing3 an4"),
    "pound": (
        "pound",
        "井号",
        "jing3 hao4"),
    "star": (
        "star",
        "星号",
        "xing1 hao4"),
}


def prompt_table() -> dict[str, dict[str, tuple[str, str]]]:
    """lang -> id -> (text, what espeak-ng is given), for every prompt the player composes."""
    en: dict[str, tuple[str, str]] = {}
    zh: dict[str, tuple[str, str]] = {}
    for n in range(100):
        en[f"num-{n}"] = (en_number(n), en_number(n))
        zh[f"num-{n}"] = (zh_number(n), zh_number_pinyin(n))
    for pid, word in (("num-hundred", "hundred"), ("num-thousand", "thousand"),
                      ("num-million", "million"), ("ord-hundred", "hundredth"),
                      ("ord-thousand", "thousandth"), ("ord-million", "millionth")):
        en[pid] = (word, word)
    zh.update({"num-bai": ("百", "bai3"), "num-qian": ("千", "qian1"),
               "num-wan": ("万", "wan4"), "num-liang": ("两", "liang3"),
               "ord-prefix": ("第", "di4")})
    for n in range(1, 20):
        en[f"ord-{n}"] = (EN_ORD[n], EN_ORD[n])
    for t in range(2, 10):
        en[f"ord-{t * 10}"] = (EN_ORD_TENS[t], EN_ORD_TENS[t])
    for pid, (e, z, pinyin) in PHRASES.items():
        if e:
            en[pid] = (e, e)
        if z:
            zh[pid] = (z, pinyin)
    return {"en": en, "zh": zh}


VOICES = {"en": ["-v", "en-us", "-s", "155"], "zh": ["-v", "cmn-latn-pinyin", "-s", "150"]}


def synthesize(text: str, lang: str, out: Path, tmp: Path) -> None:
    raw = tmp / "raw.wav"
    subprocess.run(["espeak-ng", *VOICES[lang], "-w", str(raw), text], check=True)
    # Trim silence at both ends (so composed numbers flow), normalise to -3 dBFS,
    # band-limit and resample to telephone format.
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out),
                    "silence", "1", "0.01", "0.3%", "reverse", "silence", "1", "0.01", "0.3%",
                    "reverse", "norm", "-3"], check=True)


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())


def music_on_hold(seconds: float = 32.0) -> np.ndarray:
    """A calm piece: I-vi-IV-V in C major at 80 BPM, 8 bars x 2 cycles; soft arpeggio (sine
    with a little 2nd harmonic, bell-like decay) over a pad and a bass note per bar. Kept
    within 150-3400 Hz and at about -16 dBFS RMS so it stays pleasant through G.711."""
    bpm = 80.0
    beat = 60.0 / bpm
    n = int(seconds * RATE)
    out = np.zeros(n)
    t_all = np.arange(n) / RATE

    def midi(m: float) -> float:
        return float(440.0 * 2 ** ((m - 69) / 12))

    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]  # C Am F G
    bar = 4 * beat
    pattern = [0, 1, 2, 1, 0 + 12, 2, 1, 2]  # eighth notes through the chord (+octave)
    t = 0.0
    i = 0
    while t < seconds:
        chord = chords[i % len(chords)]
        start = int(t * RATE)
        end = min(n, int((t + bar) * RATE))
        tt = t_all[start:end] - t
        # pad: the triad an octave up, slow attack, gentle release
        env = np.minimum(1.0, tt / 0.6) * np.minimum(1.0, (bar - tt) / 0.4)
        pad = sum(np.sin(2 * np.pi * midi(m + 12) * tt) for m in chord) / 3
        out[start:end] += 0.10 * pad * env
        # bass: the root two octaves down (kept above 130 Hz for telephone band: octave down)
        root = midi(chord[0] - 12)
        out[start:end] += 0.16 * np.sin(2 * np.pi * root * tt) * np.exp(-tt / 1.8)
        # arpeggio in eighth notes
        for k, step in enumerate(pattern):
            note = chord[step % 3] + 12 + (12 if step >= 12 else 0)
            s = start + int(k * beat / 2 * RATE)
            e = min(n, s + int(1.2 * RATE))
            if s >= n:
                break
            nt = np.arange(e - s) / RATE
            f = midi(note)
            tone = np.sin(2 * np.pi * f * nt) + 0.25 * np.sin(2 * np.pi * 2 * f * nt)
            out[s:e] += 0.22 * tone * np.exp(-nt / 0.35) * np.minimum(1.0, nt / 0.005)
        t += bar
        i += 1
    # fade the loop seam (last 0.5 s into the first) so the loop is seamless
    fade = int(0.5 * RATE)
    out[:fade] *= np.linspace(0.0, 1.0, fade) ** 0.5
    out[-fade:] *= np.linspace(1.0, 0.0, fade) ** 0.5
    rms = float(np.sqrt(np.mean(out ** 2)))
    out *= (10 ** (-16 / 20) * 32767) / rms
    peak = float(np.abs(out).max())
    if peak > 30000:
        out *= 30000 / peak
    return np.round(out).astype(np.int16)


def main() -> int:
    """``--only id,id``: (re)generate just those prompt ids, keep every other file and
    manifest entry as it is (adding a prompt does not re-render the whole set)."""
    only: set[str] | None = None
    if "--only" in sys.argv[1:]:
        i = sys.argv.index("--only")
        only = set(sys.argv[i + 1].split(",")) if i + 1 < len(sys.argv) else set()
        if not only:
            print("generate.py: --only needs a comma-separated list of prompt ids",
                  file=sys.stderr)
            return 2
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"generate.py: {tool} is not installed (apt-get install {tool})",
                  file=sys.stderr)
            return 1
    manifest: dict[str, dict[str, dict[str, object]]] = {"prompts": {}, "music": {}}
    table = prompt_table()
    if only is not None:
        unknown = only - {pid for prompts in table.values() for pid in prompts}
        if unknown:
            print(f"generate.py: unknown prompt id(s): {', '.join(sorted(unknown))}",
                  file=sys.stderr)
            return 2
        manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
        table = {lang: {k: v for k, v in prompts.items() if k in only}
                 for lang, prompts in table.items()}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for lang, prompts in table.items():
            (HERE / lang).mkdir(exist_ok=True)
            for pid, (text, spoken) in sorted(prompts.items()):
                rel = f"{lang}/{pid}.wav"
                synthesize(spoken, lang, HERE / rel, tmp)
                entry: dict[str, object] = {
                    "file": rel, "text": text, "language": lang,
                    "duration": round(wav_duration(HERE / rel), 3)}
                if spoken != text:
                    entry["spoken"] = spoken  # what the synthesizer was given (pinyin)
                manifest["prompts"][f"{lang}/{pid}"] = entry
    if only is not None:
        (HERE / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
            encoding="utf-8")
        print(f"wrote {sum(len(p) for p in table.values())} prompts to {HERE}")
        return 0
    (HERE / "moh").mkdir(exist_ok=True)
    write_wav(HERE / "moh" / "default.wav", music_on_hold())
    manifest["music"]["moh/default"] = {
        "file": "moh/default.wav", "text": "Generated music on hold (C-Am-F-G arpeggios)",
        "language": "", "duration": round(wav_duration(HERE / "moh" / "default.wav"), 3)}
    (HERE / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
        encoding="utf-8")
    print(f"wrote {len(manifest['prompts'])} prompts and {len(manifest['music'])} music "
          f"track(s) to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
