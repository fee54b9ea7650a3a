""""Show agent info" (softswitch.messaging.agentcard): the card a Live Chat visitor sees
for each setting, the ``avatar`` of an extension checked by `softswitch check` at its line,
and the avatar file served under a key that does not name the extension."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import switchproc
import yaml

from softswitch.config import ConfigError, parse_config
from softswitch.messaging.agentcard import DEFAULT_AVATAR, AgentCards

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def config_text(tmp_path: Path, avatar: str) -> str:
    raw = switchproc.base_config(tmp_path)
    raw["extensions"][0]["avatar"] = avatar
    return yaml.safe_dump(raw, sort_keys=False)


def test_the_card_for_each_setting(tmp_path: Path) -> None:
    (tmp_path / "ann.png").write_bytes(PNG)
    text = config_text(tmp_path, "ann.png")
    raw: dict[str, Any] = yaml.safe_load(text)
    raw["extensions"][1]["avatar"] = "https://cdn.example.com/bob.jpg"
    config = parse_config(yaml.safe_dump(raw), "c.yaml", tmp_path)
    ann = config.extension("1001")
    assert ann is not None and ann.avatar == str((tmp_path / "ann.png").resolve())
    cards = AgentCards(config.extension)
    default = {"name": "Agent", "avatar": DEFAULT_AVATAR}
    assert cards.card("none", "en", "1001") == default
    assert cards.card("none", "zh", "1001") == {"name": "客服", "avatar": DEFAULT_AVATAR}
    assert cards.card("name", "en", "1001") == {"name": "Ext 1001", "avatar": DEFAULT_AVATAR}
    assert cards.card("name_and_avatar", "en", None) == default  # nobody handles it yet
    assert cards.card("name_and_avatar", "en", "api") == default  # not an extension
    assert cards.card("name_and_avatar", "en", "1002") == {
        "name": "Ext 1002", "avatar": "https://cdn.example.com/bob.jpg"}
    assert cards.card("name_and_avatar", "en", "1003") == {  # no avatar configured
        "name": "Ext 1003", "avatar": DEFAULT_AVATAR}
    card = cards.card("name_and_avatar", "en", "1001")
    assert card["name"] == "Ext 1001" and card["avatar"].startswith("/livechat/avatars/")
    key = card["avatar"].rsplit("/", 1)[1]
    assert "1001" not in key and cards.file(key) == tmp_path / "ann.png"
    assert cards.file("0" * 32) is None


@pytest.mark.parametrize(("avatar", "message"), [
    ("missing.png", "cannot read the avatar"),
    ("big.png", "larger than 1 MB"),
    ("text.png", "not a PNG or JPEG"),
    ("ann.gif", "a .png, .jpg or .jpeg file"),
    ("https://", "expected an image URL"),
])
def test_a_bad_avatar_is_reported_at_its_line(tmp_path: Path, avatar: str,
                                              message: str) -> None:
    (tmp_path / "big.png").write_bytes(PNG + bytes(1024 * 1024))
    (tmp_path / "text.png").write_text("hello")
    text = config_text(tmp_path, avatar)
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml", tmp_path)
    [issue] = err.value.issues
    assert issue.path == "extensions[0].avatar" and message in issue.message, issue
    assert "avatar:" in text.splitlines()[issue.line - 1]
