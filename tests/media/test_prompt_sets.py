"""The installed prompt sets (prompts/manifest.json, prompts/generate.py): every id has its
file, English speaks with the Asterisk recordings where Asterisk has them, the converted
files are the ones `make prompts` writes and are kept out of the repository, and every
announcement the queue composes resolves to files in both languages."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from media.player import PromptLibrary, load_wav
from softswitch.queue.announce import agent_id_parts, callback_confirm_parts, position_parts

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
MANIFEST = json.loads((PROMPTS / "manifest.json").read_text(encoding="utf-8"))
PACKAGES = ("asterisk-core-sounds-en-wav", "asterisk-moh-opsound-wav")


def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prompts_generate", PROMPTS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("prompts_generate", module)
    spec.loader.exec_module(module)
    return module


def test_every_manifest_id_has_its_file_after_installation():
    lib = PromptLibrary(PROMPTS)
    for pid in lib.entries:
        assert lib.missing(pid) is None, pid
        assert len(lib.get(pid).samples) > 0, pid


def test_english_numbers_and_queue_phrases_are_the_asterisk_recordings():
    prompts = MANIFEST["prompts"]
    for n in range(100):
        entry = prompts[f"en/num-{n}"]
        assert entry["source"] == "asterisk-core-sounds-en-wav", n
        tens, ones = divmod(n, 10)
        assert entry["sounds"] == ([f"digits/{n}"] if n < 20 or ones == 0
                                   else [f"digits/{tens * 10}", f"digits/{ones}"])
    for pid, sound in (("thank-you-for-patience", "queue-thankyou"),
                       ("no-callers-ahead", "queue-youarenext"),
                       ("estimated-wait-time", "queue-holdtime"), ("minutes", "minutes"),
                       ("ord-hundred", "digits/h-hundred"), ("goodbye", "goodbye")):
        assert prompts[f"en/{pid}"]["sounds"] == [sound]
    # what Asterisk has no recording for is synthesised, and all of Chinese is
    assert prompts["en/callers-ahead-of-you"]["source"] == "espeak-ng"
    assert prompts["en/welcome-sales"]["source"] == "espeak-ng"
    assert {e["source"] for p, e in prompts.items() if p.startswith("zh/")} == {"espeak-ng"}
    assert MANIFEST["music"]["moh/default"]["source"] == "asterisk-moh-opsound-wav"


def test_installed_files_are_the_conversion_of_the_debian_sounds():
    """What `generate.py --install` writes: the recordings trimmed of their silence and
    joined (twenty + one), the music trimmed and levelled; so a fresh install reproduces
    the manifest's files exactly."""
    gen = generate()
    table = gen.asterisk_en()
    for pid in ("en/num-21", "en/agent-id-prefix", "en/no-callers-ahead"):
        installed = load_wav(PROMPTS / MANIFEST["prompts"][pid]["file"]).samples
        expected = gen.recorded_prompt(table[pid.split("/", 1)[1]])
        assert np.array_equal(installed, expected), pid
    twenty, one = (gen.trim(gen.read_pcm(gen.SOUNDS / f"digits/{d}.wav")) for d in (20, 1))
    assert len(load_wav(PROMPTS / "en/num-21.wav").samples) == len(twenty) + len(one)
    raw = gen.read_pcm(gen.SOUNDS / "digits/1.wav")
    assert len(twenty) < len(gen.read_pcm(gen.SOUNDS / "digits/20.wav"))
    assert len(gen.trim(raw)) < len(raw) - 0.15 * 8000  # ~0.3 s of silence gone
    music = load_wav(PROMPTS / "moh/default.wav").samples.astype(float)
    rms_db = 20 * np.log10(np.sqrt(np.mean(music ** 2)) / 32768)
    assert -21.0 < rms_db < -19.0 and np.abs(music).max() <= 30000
    assert len(music) / 8000 > 200  # the whole track, minus its closing silence


def test_converted_files_stay_out_of_the_repository_and_licences_are_noted():
    from_packages = sorted(e["file"] for e in [*MANIFEST["prompts"].values(),
                                               *MANIFEST["music"].values()]
                           if e["source"] in PACKAGES)
    ignored = [line[1:] for line in (PROMPTS / ".gitignore").read_text().splitlines()
               if line.startswith("/")]
    assert ignored == from_packages and len(ignored) > 150
    for package in PACKAGES:
        source = MANIFEST["sources"][package]
        assert source["licence"] == "CC-BY-SA-3.0" and source["author"]
        # what the installed package itself says (its Debian copyright file)
        words = " ".join((Path("/usr/share/doc") / package / "copyright").read_text().split())
        assert "License: CC-BY-SA-3.0" in words or "Attribution-ShareAlike 3.0" in words
    readme = (PROMPTS / "README.md").read_text()
    assert "CC-BY-SA 3.0" in readme and "Allison Smith" in readme


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_queue_announcement_resolves_to_existing_files(lang):
    lib = PromptLibrary(PROMPTS)
    parts_list = [position_parts(p, w, True, lang)
                  for p in (1, 2, 3, 12, 22, 101, 1234) for w in (None, 30.0, 61.0, 3599.0)]
    parts_list += [callback_confirm_parts("13800138000", lang), callback_confirm_parts("", lang),
                   agent_id_parts("0101", lang)]
    for parts in parts_list:
        seq = lib.sequence(lang, *parts)
        assert seq.items and all(len(p.samples) > 0 for p in seq.items), parts
        speech = [p for p in seq.items if p.name != "silence"]
        assert all(np.abs(p.samples).max() > 3000 for p in speech), parts
