"""The ``message_channels`` section through `softswitch check`'s loader: the commented
example of config.example.yaml works once uncommented, and each mistake is reported with
the file's line and the key's path (softswitch.messaging.config)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from softswitch.config import ConfigError, parse_config
from softswitch.messaging.config import ChannelConfig

ROOT = Path(__file__).resolve().parents[2]


def example_with_channels() -> str:
    text = (ROOT / "config.example.yaml").read_text()
    start = text.index("# --- messaging begin ---")
    end = text.index("# --- messaging end ---")
    block = text[start:end]
    lines = block.splitlines()
    # the Phones channel is on as shipped; the provider entries around it are commented
    first = next(i for i, line in enumerate(lines) if line.startswith("message_channels:"))
    uncommented = "\n".join(lines[:first + 1] + [line[2:] if line.startswith("# ") else line
                                                 for line in lines[first + 1:]]) + "\n"
    return text[:start] + uncommented + text[end:]


def test_the_commented_example_works() -> None:
    config = parse_config(example_with_channels(), "config.example.yaml", ROOT)
    channel, phones, tw, tx, bw, fr, wa, fb = config.message_channels
    assert isinstance(channel, ChannelConfig)
    assert (tw.provider, tw.cred("account_sid"), tw.base_url, tw.send_rate) == (
        "twilio", "AC0123456789abcdef0123456789abcdef", "https://api.twilio.com", None)
    assert tw.cred("public_url").startswith("https://pbx.example.com/")
    assert (tx.provider, tx.base_url, tx.numbers[0].destination.type) == (
        "telnyx", "https://api.telnyx.com", "message_queue")
    assert (bw.provider, bw.cred("account_id"), bw.cred("callback_username")) == (
        "bandwidth", "9900000", "pbx")
    assert (fr.provider, fr.base_url, fr.cred("access_key")) == (
        "flowroute", "https://api.flowroute.com", "change-me")
    assert (wa.type, wa.provider, wa.send_rate, wa.cred("number_id"), wa.cred("waba_id")) == (
        "whatsapp", "whatsapp", 80, "123", "456")
    assert (wa.numbers[0].number, wa.numbers[0].allowed_extensions) == (
        "+15559871234", ("1001",))
    assert (fb.type, fb.send_rate, fb.numbers[0].number, fb.numbers[0].allowed_extensions) == (
        "messenger", 40, "334079033132769", ())
    assert (phones.type, phones.numbers[0].number, phones.numbers[0].destination.target) == (
        "sip", "6590", "Web Support")
    assert channel.name == "General SMS Channel" and channel.auto_close_days == 1
    assert channel.send_rate == 5 and channel.verify_interval == 300
    [number] = channel.numbers
    assert (number.number, number.destination.type, number.destination.target,
            number.allowed_extensions) == ("+14102161183", "message_queue", "Web Support",
                                           ("1001",))


@pytest.mark.parametrize(("old", "new", "path", "message"), [
    ('"+14102161183"', '"+86-592-5503309"', "message_channels[0].numbers[0].number",
     "E.164"),
    ('"+14102161183"', '"8613912345678"', "message_channels[0].numbers[0].number", "E.164"),
    ("target: Web Support", "target: Nobody", "message_channels[0].numbers[0].destination"
     ".target", "no message queue 'Nobody'"),
    ('allowed_extensions: ["1001"]', 'allowed_extensions: ["4711"]',
     "message_channels[0].numbers[0].allowed_extensions[0]", "no extension 4711"),
    ("provider: general", "provider: voicemeup", "message_channels[0].provider",
     "not built yet"),
    ("account_sid: AC0123456789abcdef0123456789abcdef", "account_sid: AC12",
     "message_channels[2].account_sid", "AC and 32"),
    ("public_key: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "public_key: abc",
     "message_channels[3].public_key", "Ed25519"),
    ("api_key: KEY-change-me", "api_kee: KEY-change-me", "message_channels[3].api_kee",
     "unknown key"),
    ('number_id: "123"', 'number_id: "12a"', "message_channels[6].number_id", "digits"),
    ('number: "+15559871234"', 'number: "15559871234"', "message_channels[6].number",
     "E.164"),
    ("waba_id", "waba", "message_channels[6].waba", "unknown key"),
    ("    callback_password: change-me-too", "", "message_channels[4].callback_password",
     "go together"),
    ('page_id: "334079033132769"', 'page_id: "+14155550100"',
     "message_channels[7].page_id", "digits"),
    ("page_name: Yeastar", "page_name: Yeastar\n    send_rate: 41",
     "message_channels[7].send_rate", "from 1 to 40"),
    ("token: 429ced149ff9437695be795aff38407b", "token: abc", "message_channels[0].token",
     "32 lowercase hex"),
    ("auto_close_days: 1 ", "auto_close_days: 0 ", "message_channels[0].auto_close_days",
     "from 1 to 365"),
    ("send_url: https://service-provider.example.com/sendmessage", "send_url: nowhere",
     "message_channels[0].send_url", "http(s) URL"),
    ('number: "6590"', 'number: "1001"', "message_channels[1].numbers[0].number",
     "an extension's number"),
    ('number: "6590"', 'number: "+6590"', "message_channels[1].numbers[0].number",
     "2 to 20 digits"),
    ("type: sip", "type: instagram", "message_channels[1].type", "expected sms, sip"),
])
def test_mistakes_are_reported_at_their_line(old: str, new: str, path: str,
                                             message: str) -> None:
    text = example_with_channels()
    assert old in text
    text = text.replace(old, new, 1)
    with pytest.raises(ConfigError) as err:
        parse_config(text, "config.example.yaml", ROOT)
    [issue] = [i for i in err.value.issues if i.path == path]
    assert message in issue.message
    line = text.splitlines()[issue.line - 1]
    key = re.split(r"[.\[]", path.rsplit(".", 1)[-1])[0]
    assert key in line or new.split(":")[0] in line


def test_an_alphanumeric_sender_id_is_a_number() -> None:
    text = example_with_channels().replace('"+14102161183"', "YEASTAR", 1)
    channel = parse_config(text, "config.example.yaml", ROOT).message_channels[0]
    assert channel.numbers[0].number == "YEASTAR"


def test_one_page_per_messenger_channel() -> None:
    """§3.10: a Page belongs to one channel (its ID stands in the channel's numbers)."""
    text = example_with_channels()
    start = text.index("  - name: Facebook channel")
    end = text.index("# --- messaging end ---")
    block = text[start:end]
    second = block.replace("Facebook channel", "Facebook again").replace(
        "7d2a9e4c1f5b6a8d0c3e4f5a6b7c8d9e", "0d2a9e4c1f5b6a8d0c3e4f5a6b7c8d9e")
    with pytest.raises(ConfigError) as err:
        parse_config(text[:end] + second + text[end:], "config.example.yaml", ROOT)
    assert any("334079033132769 is already a number of message_channels[7]" in i.message
               for i in err.value.issues)
