"""Live Chat's configuration (through `softswitch check`'s loader, errors at their line) and
its sans-IO rules: the Origin check, frames, the pre-chat form, images by content, the
per-visitor rate limit on the injected clock, and the greeting decision of §3.12 / §13.15."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
import switchproc
import yaml

from acd.config import BusinessHours, Holiday
from softswitch.clock import VirtualClock
from softswitch.config import ConfigError, parse_config
from softswitch.messaging.files import expire as sweep
from softswitch.messaging.livechat import (
    DEFAULT_MESSAGES,
    FormField,
    FrameError,
    LiveChatOptions,
    RateLimit,
    check_form,
    check_text,
    greeting,
    image_type,
    origin_allowed,
    parse_frame,
    visitor_address,
)

PNG = b"\x89PNG\r\n\x1a\n"
JPG = b"\xff\xd8\xff\xe0"
MB = 1024 * 1024


def livechat(**over: Any) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "name": "Livechat", "type": "livechat", "number": "LC00000",
        "domains": ["www.yeasar.com"],
        "destination": {"type": "extension", "target": "1001"}}
    channel.update(over)
    return channel


def text_of(tmp_path: Path, channel: dict[str, Any]) -> str:
    raw = switchproc.base_config(tmp_path)
    raw["message_queues"] = [{"name": "Tech Support", "chat_assignment_mode":
                              "manual_take_over", "agents": ["1001"]}]
    raw["message_channels"] = [channel]
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


def load(tmp_path: Path, channel: dict[str, Any]) -> tuple[str, Any]:
    text = text_of(tmp_path, channel)
    return text, parse_config(text, "c.yaml", tmp_path)


def test_a_livechat_channel_with_defaults(tmp_path: Path) -> None:
    _, config = load(tmp_path, livechat())
    [c] = config.message_channels
    assert (c.type, c.numbers[0].number, c.numbers[0].destination.target) == (
        "livechat", "LC00000", "1001")
    o = c.options
    assert o.domains == ("www.yeasar.com",) and not o.images and o.form == ()
    assert o.online_greeting == "Hello! How can we help you?"
    assert o.max_active_sessions == 20 and o.time_zone is None


def test_all_keys(tmp_path: Path) -> None:
    _, config = load(tmp_path, livechat(
        domains=["WWW.Yeasar.com", "staging.yeasar.com"], language="zh",
        visitor_message_types="text_and_images", time_zone="Asia/Shanghai",
        auto_close_days=1, max_active_sessions=5,
        destination={"type": "message_queue", "target": "Tech Support"},
        pre_chat_form=[{"field": "name", "label": "姓名", "required": True},
                       {"field": "email"}],
        messages={"first_reply": None, "session_end": "Bye"}))
    [c] = config.message_channels
    o = c.options
    assert o.domains == ("www.yeasar.com", "staging.yeasar.com") and o.images
    assert o.form == (FormField("name", "姓名", True), FormField("email", "Email", False))
    assert o.online_greeting == DEFAULT_MESSAGES["zh"]["online_greeting"] == \
        "您好！请问有什么可以帮您的吗？"
    assert o.first_reply is None and o.session_end == "Bye"
    assert c.auto_close_days == 1 and o.max_active_sessions == 5


# Every destination type of the router, each configured once (softswitch.destinations).
ALL_DESTINATIONS: dict[str, Any] = {
    "trunks": [{"name": "carrier", "host": "192.0.2.10"}],
    "outbound_routes": [{"name": "out", "prefix": "9", "strip": 1, "trunk": "carrier"}],
    "queues": [{"number": "6400", "name": "Sales", "static_agents": ["1001"]}],
    "ivrs": [{"number": "7000", "name": "Menu", "prompt": "welcome-sales",
              "keys": {"0": {"type": "extension", "target": "1003"}},
              "fallback": {"type": "extension", "target": "1002"}}],
    "ring_groups": [{"number": "8000", "name": "Desk", "strategy": "ring_all",
                     "members": ["1001", "1002"]}],
    "call_flows": [{"number": "7100", "name": "Office", "time_zone": "UTC",
                    "in_hours": {"type": "extension", "target": "1002"},
                    "outside_hours": {"type": "extension", "target": "1003"}}],
    "business_hours": [{"time_zone": "UTC", "periods": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "time": "09:00-18:00"}]}],
    "group_voicemails": [{"number": "8100", "name": "Team", "members": ["1001", "1002"]}],
}

WIDGET_DESTINATIONS = [
    ("extension", "1001"), ("queue", "6400"), ("ivr", "7000"), ("ring_group", "8000"),
    ("call_flow", "7100"), ("voicemail", "1002"), ("group_voicemail", "8100"),
    ("prompt", "welcome-sales"), ("external", "9555123")]


def text_with_all(tmp_path: Path, destination: dict[str, Any]) -> str:
    raw = switchproc.base_config(tmp_path)
    raw.update(ALL_DESTINATIONS)
    raw["message_channels"] = [livechat(consultation_mode="chat_and_call",
                                        call_destination=destination)]
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


@pytest.mark.parametrize(("kind", "target"), WIDGET_DESTINATIONS)
def test_a_widget_call_may_go_to_every_destination_type(tmp_path: Path, kind: str,
                                                         target: str) -> None:
    """`call_destination` takes every type the destination router resolves, and resolves
    through it as the internal WebRTC trunk's inbound route (softswitch.webrtc.trunk)."""
    from softswitch.destinations import DestinationRouter

    text = text_with_all(tmp_path, {"type": kind, "target": target})
    config = parse_config(text, "c.yaml", tmp_path)
    dest = config.message_channels[0].options.call_destination
    assert (dest.type.value, dest.target) == (kind, target)
    router = DestinationRouter(config)
    assert ("message_channels[0].call_destination", dest) in list(router.references())
    assert router.problem(dest) is None


@pytest.mark.parametrize(("kind", "target"), [
    (k, {"extension": "4711", "voicemail": "4711", "external": "555123",
         "prompt": "no-such-prompt"}.get(k, "9999")) for k, _ in WIDGET_DESTINATIONS])
def test_a_widget_call_destination_that_does_not_resolve_is_refused_at_its_line(
        tmp_path: Path, kind: str, target: str) -> None:
    """The same check as every other reference: file:line at the call_destination's
    target, with the router's message."""
    text = text_with_all(tmp_path, {"type": kind, "target": target})
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml", tmp_path)
    [issue] = err.value.issues
    assert issue.path == "message_channels[0].call_destination.target"
    assert issue.file == "c.yaml" and target in text.splitlines()[issue.line - 1]
    assert target in issue.message or kind in issue.message


def test_chat_and_call(tmp_path: Path) -> None:
    _, config = load(tmp_path, livechat(
        consultation_mode="chat_and_call",
        call_destination={"type": "extension", "target": "1001"}))
    o = config.message_channels[0].options
    assert o.calls and o.max_concurrent_calls == 5
    assert (o.call_destination.type.value, o.call_destination.target) == ("extension", "1001")
    _, config = load(tmp_path, livechat(
        consultation_mode="chat_and_call", max_concurrent_calls=10,
        call_destination={"type": "extension", "target": "1001"}))
    assert config.message_channels[0].options.max_concurrent_calls == 10
    _, config = load(tmp_path, livechat())
    assert not config.message_channels[0].options.calls


@pytest.mark.parametrize(("over", "path", "message"), [
    ({"number": "LC123"}, "message_channels[0].number", "LC and 5 digits"),
    ({"domains": ["https://www.yeasar.com"]}, "message_channels[0].domains[0]", "host name"),
    ({"domains": []}, "message_channels[0].domains", "at least one"),
    ({"consultation_mode": "chat_and_call"}, "message_channels[0].consultation_mode",
     "needs call_destination"),
    ({"consultation_mode": "video"}, "message_channels[0].consultation_mode",
     "chat or chat_and_call"),
    ({"consultation_mode": "chat_and_call",
      "call_destination": {"type": "extension", "target": "4711"}},
     "message_channels[0].call_destination.target", "no extension 4711"),
    ({"consultation_mode": "chat_and_call",
      "call_destination": {"type": "api"}},
     "message_channels[0].call_destination.type", "expected one of"),
    ({"consultation_mode": "chat_and_call",
      "call_destination": {"type": "hangup"}},
     "message_channels[0].call_destination.type", "not hangup"),
    ({"consultation_mode": "chat_and_call", "max_concurrent_calls": 11,
      "call_destination": {"type": "extension", "target": "1001"}},
     "message_channels[0].max_concurrent_calls", "from 1 to 10"),
    ({"max_concurrent_calls": 3}, "message_channels[0].max_concurrent_calls",
     "only with consultation_mode: chat_and_call"),
    ({"visitor_message_types": "images"}, "message_channels[0].visitor_message_types",
     "text or text_and_images"),
    ({"language": "fr"}, "message_channels[0].language", "en, zh"),
    ({"time_zone": "Mars/Base"}, "message_channels[0].time_zone", "unknown time zone"),
    ({"max_active_sessions": 0}, "message_channels[0].max_active_sessions", "from 1 to 5000"),
    ({"pre_chat_form": [{"field": "age"}]}, "message_channels[0].pre_chat_form[0].field",
     "name, email, phone"),
    ({"messages": {"greeting": "hi"}}, "message_channels[0].messages.greeting",
     "unknown key"),
    ({"destination": {"type": "extension", "target": "4711"}},
     "message_channels[0].destination.target", "no extension 4711"),
    ({"domain": "x"}, "message_channels[0].domain", "unknown key"),
    ({"show_agent_info": "avatar"}, "message_channels[0].show_agent_info",
     "none, name, name_and_avatar"),
])
def test_mistakes_are_reported_at_their_line(tmp_path: Path, over: dict[str, Any],
                                             path: str, message: str) -> None:
    text = text_of(tmp_path, livechat(**over))
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml", tmp_path)
    [issue] = [i for i in err.value.issues if i.path == path]
    assert message in issue.message
    line = text.splitlines()[issue.line - 1]
    key = re.split(r"[.\[]", path.rsplit(".", 1)[-1])[0]
    assert key in line or str(next(iter(over.values()))).strip("[]{}'")[:5] in line


def options(**over: Any) -> LiveChatOptions:
    base: dict[str, Any] = dict(
        domains=("www.yeasar.com",), images=True, language="en", form=(),
        online_greeting="on", offline_greeting="off", first_reply="first", session_end="end")
    base.update(over)
    return LiveChatOptions(**base)


def test_origin_check() -> None:
    o = options()
    assert origin_allowed(o, "https://www.yeasar.com")
    assert origin_allowed(o, "http://WWW.YEASAR.COM:8080")
    assert not origin_allowed(o, "https://evil.example")
    assert not origin_allowed(o, "https://www.yeasar.com.evil.example")
    assert not origin_allowed(o, None)
    assert not origin_allowed(o, "null")
    assert not origin_allowed(o, "file://www.yeasar.com")


def test_frames_and_texts() -> None:
    assert parse_frame('{"type": "hello"}') == {"type": "hello"}
    for raw, code in (("{nope", "bad_json"), ("[1]", "bad_frame"), ('{"type": 1}', "bad_frame"),
                      ('{"type":"message","text":"' + "x" * 9000 + '"}', "too_large")):
        with pytest.raises(FrameError) as err:
            parse_frame(raw)
        assert err.value.code == code
    assert check_text("hi") == "hi"
    for bad, code in (("", "bad_frame"), ("   ", "bad_frame"), (5, "bad_frame"),
                      ("x" * 2001, "too_long")):
        with pytest.raises(FrameError) as err:
            check_text(bad)
        assert err.value.code == code
    assert visitor_address("LC00000", "a" * 32) == visitor_address("LC00000", "a" * 32)
    assert visitor_address("LC00000", "a" * 32) != visitor_address("LC00001", "a" * 32)
    assert re.fullmatch(r"visitor-[0-9a-f]{16}", visitor_address("LC00000", "t"))


def test_pre_chat_form() -> None:
    fields = (FormField("name", "Name", True), FormField("email", "Email", False),
              FormField("phone", "Phone", False))
    assert check_form(fields, {"name": " Ann ", "email": "ann@example.com"}) == {
        "name": "Ann", "email": "ann@example.com"}
    for values, part in (({}, "Name is required"), ({"name": "A", "email": "no"}, "email"),
                         ({"name": "A", "phone": "call me"}, "phone"),
                         ({"name": "A", "age": "3"}, "unknown fields: age"),
                         ({"name": "x" * 201}, "at most 200"), ("Ann", "object")):
        with pytest.raises(FrameError) as err:
            check_form(fields, values)
        assert part in err.value.message


def test_images_png_jpg_up_to_10_mb() -> None:
    """§13.11: a 9 MB .png is accepted; an 11 MB .jpg or any .gif is refused."""
    assert image_type(PNG + bytes(9 * MB)) == "png"
    assert image_type(JPG + bytes(100)) == "jpg"
    assert image_type(PNG + bytes(10 * MB - len(PNG))) == "png"
    for data, code in ((JPG + bytes(11 * MB), "too_large"), (b"GIF89a" + bytes(10), "bad_image"),
                       (b"", "bad_image"), (b"<svg/>", "bad_image")):
        with pytest.raises(FrameError) as err:
            image_type(data)
        assert err.value.code == code


def test_rate_limit_per_visitor_on_the_injected_clock() -> None:
    clock = VirtualClock()
    limit = RateLimit(clock.monotonic)
    assert [limit.allow("a") for _ in range(6)] == [True] * 5 + [False]
    assert limit.allow("b")  # per visitor
    clock.advance(1.0)
    assert limit.allow("a") and not limit.allow("a")
    clock.advance(60.0)
    assert [limit.allow("a") for _ in range(6)] == [True] * 5 + [False]


def test_greeting_follows_destination_presence_hours_and_holidays() -> None:
    """§13.15: business hours + extension logged in and Available -> online; DND or not
    logged in -> offline; a holiday -> offline whatever the destination."""
    tz = "Asia/Shanghai"
    hours = (BusinessHours(tz, {d: ((dt.time(9), dt.time(18)),) for d in range(5)}),)
    holidays = (Holiday("National Day", tz, dt.date(2026, 10, 1), dt.date(2026, 10, 7)),)
    o = options(time_zone=tz)
    monday_10 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    monday_20 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)  # 20:00
    holiday_10 = dt.datetime(2026, 10, 5, 2, 0, tzinfo=dt.UTC)  # a Monday, 10:00

    def decide(route: str, when: dt.datetime, online: bool = True,
               status: str = "available") -> str:
        return greeting(o, route, "1001", when, hours, holidays, lambda e: online,
                        lambda e: status)[0]

    assert decide("extension", monday_10) == "online_greeting"
    assert decide("message_queue", monday_10, online=False) == "online_greeting"
    assert decide("extension", monday_10, status="dnd") == "offline_greeting"
    for status in ("away", "business_trip", "lunch", "off_work"):
        assert decide("extension", monday_10, status=status) == "offline_greeting"
    assert decide("extension", monday_10, online=False) == "offline_greeting"
    assert decide("extension", monday_20) == "offline_greeting"
    assert decide("message_queue", monday_20) == "offline_greeting"
    assert decide("message_queue", holiday_10) == "offline_greeting"
    assert decide("extension", holiday_10) == "offline_greeting"
    # no time zone: always business hours
    assert greeting(options(), "message_queue", "q", monday_20, hours, holidays,
                    lambda e: False, lambda e: "dnd") == ("online_greeting", "on")


def test_images_are_kept_72_hours(tmp_path: Path) -> None:
    old, new = tmp_path / ("a" * 32 + ".png"), tmp_path / ("b" * 32 + ".jpg")
    old.write_bytes(PNG)
    new.write_bytes(JPG)
    now = 1_800_000_000.0
    os.utime(old, (now - 72 * 3600 - 1, now - 72 * 3600 - 1))
    os.utime(new, (now - 71 * 3600, now - 71 * 3600))
    assert sweep(tmp_path, now) == [old.name]
    assert not old.exists() and new.exists()
    assert sweep(tmp_path / "none", now) == []


def test_the_commented_example_works() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "config.example.yaml").read_text()
    start = text.index("# --- livechat begin ---")
    end = text.index("# --- livechat end ---")
    lines = text[start:end].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("# livechat_example:"))
    example = yaml.safe_load("\n".join(line[2:] for line in lines[first:]))
    raw = yaml.safe_load(text)
    raw["message_channels"] = example["livechat_example"]
    config = parse_config(yaml.safe_dump(raw, allow_unicode=True), "config.example.yaml", root)
    [c] = config.message_channels
    assert (c.type, c.numbers[0].number, c.numbers[0].destination.target) == (
        "livechat", "LC00000", "Web Support")
    assert c.options.images and c.options.form[0] == FormField("name", "Your name", True)
    assert c.options.first_reply == "Thanks! An agent will be with you shortly."
    assert c.options.time_zone == "America/New_York" and c.auto_close_days == 1
    assert c.options.calls and (c.options.call_destination.type.value,
                                c.options.call_destination.target) == ("queue", "6400")
    assert c.options.max_concurrent_calls == 5
