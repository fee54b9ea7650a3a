"""Every prompt an application plays by name exists in both system prompt sets.

The applications name their system prompts in code ("vm-leave-message-after-tone",
"call-flow-night-mode", ...), not in the config, so `softswitch check` cannot see them; a
missing one is only a "prompt not found" log line while the caller hears silence. This test
reads the names out of the applications' source (every string given to `Play`, `_play`,
`_goodbye`, `said=`, and every name in a list or tuple literal there, where prompt parts are
built up) and looks each up in prompts/manifest.json, in English and Chinese.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "softswitch" / "apps"
PLAYERS = {"Play", "_play", "_goodbye", "goodbye", "append"}  # append: parts.append(...)
NOT_PROMPTS = {"message-summary"}  # the RFC 3842 event package, in a tuple of packages
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")


def _called(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def played_names() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(APPS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.List | ast.Tuple):  # prompt parts built up in a list
                parts: list[ast.AST] = [e for e in node.elts
                                        if not isinstance(e, ast.Call | ast.Starred)]
            elif isinstance(node, ast.Call):
                parts = [*node.args, *(k.value for k in node.keywords if k.arg == "said")] \
                    if _called(node) in PLAYERS else \
                    [k.value for k in node.keywords if k.arg == "said"]
            else:
                continue
            for part in parts:
                for c in ast.walk(part):
                    if isinstance(c, ast.Constant) and isinstance(c.value, str) \
                            and NAME.match(c.value) and c.value not in NOT_PROMPTS:
                        found.setdefault(c.value, set()).add(path.name)
    return found


def test_the_scan_finds_the_voicemail_and_call_flow_prompts() -> None:
    names = played_names()
    assert {"vm-leave-message-after-tone", "vm-enter-password", "vm-message-options",
            "call-flow-night-mode", "call-flow-schedule-mode"} <= set(names)


def test_every_prompt_an_application_plays_exists_in_english_and_chinese() -> None:
    manifest = json.loads((REPO / "prompts" / "manifest.json").read_text(encoding="utf-8"))
    missing = sorted(f"{lang}/{name} (played in {', '.join(sorted(files))})"
                     for name, files in played_names().items() for lang in ("en", "zh")
                     if f"{lang}/{name}" not in manifest["prompts"])
    assert not missing, missing
