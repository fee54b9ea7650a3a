"""The configuration of the call applications: the top-level keys `ivrs`, `ring_groups`,
`call_flows`, `group_voicemails` and `voicemail` (documented in config.example.yaml).

Parsed like the ACD's sections (`acd.config`): a problem raises `AcdConfigError(path,
message)`, which `softswitch.config` reports with the file and line of that key. Numbers
must be digits and unique across these sections; that they do not clash with extensions and
queues, and that every destination inside them resolves, is checked by the switch config
(`softswitch.config`) through the destination router.

Decisions:
- Every extension has a voicemail box (its number is the extension's). `voicemail.boxes`
  gives a box a PIN, a custom greeting or other e-mail addresses; without an entry the box
  has no PIN (its owner listens from their own phone only) and mails the extension's e-mail.
- The access code (`voicemail.access_code`, default `*97`) opens the caller's own box;
  `*97<number>` opens another box (a group box, or a colleague's with its PIN).
- Message-waiting lamps go to phones that subscribe (RFC 3842). Unsolicited NOTIFYs (no
  subscription) only where configured (`unsolicited_mwi`, globally or per box): a phone
  that does not expect one may answer it with an error or, for scripted clients, fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acd.config import (
    AcdConfigError,
    BusinessHours,
    Destination,
    DestinationType,
    Holiday,
    TimeBasedRouting,
    parse_destination,
)
from acd.config import _bool as as_bool  # the ACD config's value checkers, one home
from acd.config import _digits as as_digits
from acd.config import _enum as as_enum
from acd.config import _int as as_int
from acd.config import _list as as_list
from acd.config import _mapping as as_mapping
from acd.config import _number as as_number
from acd.config import _text as as_text
from acd.config import _time_zone as as_time_zone
from softswitch.apps.call_flow import CallFlowConfig
from softswitch.apps.ivr import IvrConfig
from softswitch.apps.ring_group import RingGroupConfig, RingStrategy
from softswitch.apps.voicemail import VoicemailBox

SECTIONS = ("ivrs", "ring_groups", "call_flows", "group_voicemails", "voicemail")
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class VoicemailSettings:
    directory: str = "var/voicemail"
    access_code: str = "*97"
    max_message_seconds: float = 180.0
    min_message_seconds: float = 1.0
    silence_seconds: float = 10.0
    max_messages: int = 100
    attach_audio: bool = True
    unsolicited_mwi: bool = False
    boxes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppsConfig:
    ivrs: Mapping[str, IvrConfig] = field(default_factory=dict)
    ring_groups: Mapping[str, RingGroupConfig] = field(default_factory=dict)
    call_flows: Mapping[str, CallFlowConfig] = field(default_factory=dict)
    group_voicemails: Mapping[str, VoicemailBox] = field(default_factory=dict)
    voicemail: VoicemailSettings = VoicemailSettings()
    extension_boxes: Mapping[str, VoicemailBox] = field(default_factory=dict)

    def boxes(self) -> dict[str, VoicemailBox]:
        return {**self.extension_boxes, **self.group_voicemails}

    def numbers(self) -> dict[str, str]:
        """Every number these sections define -> the section defining it."""
        out: dict[str, str] = {}
        for section in ("ivrs", "ring_groups", "call_flows", "group_voicemails"):
            for number in getattr(self, section):
                out[number] = section
        return out

    def destinations(self) -> Iterable[tuple[str, Destination]]:
        """Every destination inside these sections with its config path."""
        for i, ivr in enumerate(self.ivrs.values()):
            base = f"ivrs[{i}]"
            for key, dest in ivr.keys.items():
                yield f"{base}.keys.{key}", dest
            yield f"{base}.fallback", ivr.fallback
            if ivr.invalid_destination is not None:
                yield f"{base}.invalid_destination", ivr.invalid_destination
            if ivr.timeout_destination is not None:
                yield f"{base}.timeout_destination", ivr.timeout_destination
        for i, group in enumerate(self.ring_groups.values()):
            yield f"ring_groups[{i}].failover", group.failover
        for i, flow in enumerate(self.call_flows.values()):
            base = f"call_flows[{i}]"
            yield f"{base}.in_hours", flow.in_hours
            yield f"{base}.outside_hours", flow.rule.outside_business_hours
            yield f"{base}.holiday", flow.rule.holiday


def _unique(number: str, path: Path, seen: dict[str, Path]) -> None:
    if number in seen:
        raise AcdConfigError(path, f"number {number} is already used at "
                                   f"{'.'.join(str(p) for p in seen[number])}")
    seen[number] = path


def parse_apps_config(sections: Mapping[str, Any], extensions: Mapping[str, str],
                      business_hours: Iterable[BusinessHours] = (),
                      holidays: Iterable[Holiday] = ()) -> AppsConfig:
    """`extensions`: number -> e-mail ("" when none), for the default boxes."""
    del holidays  # holidays are matched at call time by the call flow's time zone
    zones = {h.time_zone for h in business_hours}
    seen: dict[str, Path] = {}
    ivrs: dict[str, IvrConfig] = {}
    for i, item in enumerate(as_list(sections.get("ivrs"), ("ivrs",))):
        ivr = _ivr(item, ("ivrs", i))
        _unique(ivr.number, ("ivrs", i, "number"), seen)
        ivrs[ivr.number] = ivr
    groups: dict[str, RingGroupConfig] = {}
    for i, item in enumerate(as_list(sections.get("ring_groups"), ("ring_groups",))):
        group = _ring_group(item, ("ring_groups", i))
        _unique(group.number, ("ring_groups", i, "number"), seen)
        groups[group.number] = group
    flows: dict[str, CallFlowConfig] = {}
    for i, item in enumerate(as_list(sections.get("call_flows"), ("call_flows",))):
        flow = _call_flow(item, ("call_flows", i), zones)
        _unique(flow.number, ("call_flows", i, "number"), seen)
        flows[flow.number] = flow
    vm = _voicemail(sections.get("voicemail"), ("voicemail",), extensions)
    group_boxes: dict[str, VoicemailBox] = {}
    for i, item in enumerate(as_list(sections.get("group_voicemails"),
                                     ("group_voicemails",))):
        path: Path = ("group_voicemails", i)
        m = as_mapping(item, path, ("number", "name", "members", "pin", "emails", "greeting"),
                       ("number", "name", "members"))
        number = as_digits(m["number"], (*path, "number"), "a group voicemail number")
        if number in extensions:
            raise AcdConfigError((*path, "number"), f"{number} is an extension's number")
        _unique(number, (*path, "number"), seen)
        members = tuple(_extension(v, (*path, "members", j), extensions)
                        for j, v in enumerate(as_list(m["members"], (*path, "members"))))
        if not members:
            raise AcdConfigError((*path, "members"), "needs at least one extension")
        group_boxes[number] = _box(
            vm, number, as_text(m["name"], (*path, "name")), members,
            tuple(as_text(v, (*path, "emails", j)) for j, v in
                  enumerate(as_list(m.get("emails"), (*path, "emails")))),
            _pin(m.get("pin", ""), (*path, "pin")),
            as_text(m.get("greeting", ""), (*path, "greeting"), allow_empty=True))
    ext_boxes: dict[str, VoicemailBox] = {}
    for number, email in extensions.items():
        own = vm.boxes.get(number, {})
        emails = own.get("emails")
        ext_boxes[number] = _box(
            vm, number, number, (number,),
            tuple(emails) if emails is not None else ((email,) if email else ()),
            str(own.get("pin", "")), str(own.get("greeting", "")),
            own.get("unsolicited_mwi"))
    return AppsConfig(ivrs, groups, flows, group_boxes, vm, ext_boxes)


def _box(vm: VoicemailSettings, number: str, name: str, owners: tuple[str, ...],
         emails: tuple[str, ...], pin: str, greeting: str,
         unsolicited: bool | None = None) -> VoicemailBox:
    return VoicemailBox(number, name, owners, emails=emails, pin=pin, greeting=greeting,
                        max_seconds=vm.max_message_seconds,
                        min_seconds=vm.min_message_seconds,
                        silence_seconds=vm.silence_seconds, max_messages=vm.max_messages,
                        attach_audio=vm.attach_audio,
                        unsolicited_mwi=vm.unsolicited_mwi if unsolicited is None
                        else unsolicited)


def _extension(value: object, path: Path, extensions: Mapping[str, str]) -> str:
    number = as_digits(value, path, "an extension number")
    if number not in extensions:
        raise AcdConfigError(path, f"extension {number} is not defined under extensions")
    return number


def _pin(value: object, path: Path) -> str:
    text = as_text(value, path, allow_empty=True)
    if text and (not text.isdigit() or not 4 <= len(text) <= 12):
        raise AcdConfigError(path, "a PIN is 4 to 12 digits")
    return text


def _ivr(value: object, path: Path) -> IvrConfig:
    m = as_mapping(value, path, ("number", "name", "prompt", "keys", "direct_dial", "timeout",
                                 "digit_timeout", "repeat", "invalid_prompt", "timeout_prompt",
                                 "fallback", "invalid_destination", "timeout_destination"),
                   ("number", "name", "prompt"))
    keys: dict[str, Destination] = {}
    raw_keys = m.get("keys") or {}
    if not isinstance(raw_keys, Mapping):
        raise AcdConfigError((*path, "keys"), "expected a mapping of key -> destination")
    for key, dest in raw_keys.items():
        k = str(key)
        if len(k) != 1 or k not in "0123456789*#":
            raise AcdConfigError((*path, "keys", k), "a key is one of 0-9, * or #")
        keys[k] = parse_destination(dest, (*path, "keys", k))

    def optional(name: str) -> Destination | None:
        return parse_destination(m[name], (*path, name)) if m.get(name) is not None else None

    return IvrConfig(
        number=as_digits(m["number"], (*path, "number"), "an IVR number"),
        name=as_text(m["name"], (*path, "name")),
        prompt=as_text(m["prompt"], (*path, "prompt")),
        keys=keys,
        direct_dial=as_bool(m.get("direct_dial", False), (*path, "direct_dial")),
        timeout=as_number(m.get("timeout", 5), (*path, "timeout"), 1, 60),
        digit_timeout=as_number(m.get("digit_timeout", 3), (*path, "digit_timeout"), 1, 20),
        repeat=as_int(m.get("repeat", 3), (*path, "repeat"), 1, 10),
        invalid_prompt=as_text(m.get("invalid_prompt", "invalid-entry"),
                               (*path, "invalid_prompt"), allow_empty=True),
        timeout_prompt=as_text(m.get("timeout_prompt", "no-entry"), (*path, "timeout_prompt"),
                               allow_empty=True),
        fallback=optional("fallback") or Destination(DestinationType.HANGUP),
        invalid_destination=optional("invalid_destination"),
        timeout_destination=optional("timeout_destination"))


def _ring_group(value: object, path: Path) -> RingGroupConfig:
    m = as_mapping(value, path, ("number", "name", "strategy", "members", "member_timeout",
                                 "group_timeout", "failover"), ("number", "name", "members"))
    members = tuple(as_text(v, (*path, "members", j)) for j, v in
                    enumerate(as_list(m["members"], (*path, "members"))))
    for j, member in enumerate(members):
        if not member.lstrip("+").isdigit():
            raise AcdConfigError((*path, "members", j),
                                 "expected an extension or external number (digits)")
    if not members:
        raise AcdConfigError((*path, "members"), "needs at least one member")
    return RingGroupConfig(
        number=as_digits(m["number"], (*path, "number"), "a ring group number"),
        name=as_text(m["name"], (*path, "name")),
        members=members,
        strategy=as_enum(RingStrategy, m.get("strategy", "ring_all"), (*path, "strategy")),
        member_timeout=as_number(m.get("member_timeout", 20), (*path, "member_timeout"), 5,
                                 300),
        group_timeout=as_number(m.get("group_timeout", 60), (*path, "group_timeout"), 5,
                                3600),
        failover=(parse_destination(m["failover"], (*path, "failover"))
                  if m.get("failover") is not None else Destination(DestinationType.HANGUP)))


def _call_flow(value: object, path: Path, zones: set[str]) -> CallFlowConfig:
    m = as_mapping(value, path, ("number", "name", "time_zone", "in_hours", "outside_hours",
                                 "holiday", "ignore_holidays", "toggle_code"),
                   ("number", "name", "time_zone", "in_hours", "outside_hours"))
    tz = as_time_zone(m["time_zone"], (*path, "time_zone"))
    if tz not in zones:
        raise AcdConfigError((*path, "time_zone"),
                             f"no business_hours entry for time zone {tz}; add one")
    outside = parse_destination(m["outside_hours"], (*path, "outside_hours"))
    holiday = (parse_destination(m["holiday"], (*path, "holiday")) if m.get("holiday")
               is not None else outside)
    code = as_text(m.get("toggle_code", ""), (*path, "toggle_code"), allow_empty=True)
    if code and not all(c in "0123456789*#" for c in code):
        raise AcdConfigError((*path, "toggle_code"), "a feature code is digits, * and #")
    return CallFlowConfig(
        number=as_digits(m["number"], (*path, "number"), "a call flow number"),
        name=as_text(m["name"], (*path, "name")),
        in_hours=parse_destination(m["in_hours"], (*path, "in_hours")),
        rule=TimeBasedRouting(tz, outside, holiday,
                              as_bool(m.get("ignore_holidays", False),
                                      (*path, "ignore_holidays"))),
        toggle_code=code)


def _voicemail(value: object, path: Path, extensions: Mapping[str, str]) -> VoicemailSettings:
    if value is None:
        return VoicemailSettings()
    m = as_mapping(value, path, ("directory", "access_code", "max_message_seconds",
                                 "min_message_seconds", "silence_seconds", "max_messages",
                                 "attach_audio", "unsolicited_mwi", "boxes"))
    code = as_text(m.get("access_code", "*97"), (*path, "access_code"))
    if not all(c in "0123456789*#" for c in code):
        raise AcdConfigError((*path, "access_code"), "a feature code is digits, * and #")
    boxes: dict[str, Mapping[str, Any]] = {}
    raw_boxes = m.get("boxes") or {}
    if not isinstance(raw_boxes, Mapping):
        raise AcdConfigError((*path, "boxes"), "expected a mapping of extension -> box")
    for key, box in raw_boxes.items():
        bpath: Path = (*path, "boxes", str(key))
        number = _extension(key, bpath, extensions)
        b = as_mapping(box, bpath, ("pin", "greeting", "emails", "unsolicited_mwi"))
        entry: dict[str, Any] = {"pin": _pin(b.get("pin", ""), (*bpath, "pin")),
                                 "greeting": as_text(b.get("greeting", ""),
                                                     (*bpath, "greeting"), allow_empty=True)}
        if "unsolicited_mwi" in b:
            entry["unsolicited_mwi"] = as_bool(b["unsolicited_mwi"],
                                               (*bpath, "unsolicited_mwi"))
        if b.get("emails") is not None:
            entry["emails"] = [as_text(v, (*bpath, "emails", j)) for j, v in
                               enumerate(as_list(b["emails"], (*bpath, "emails")))]
        boxes[number] = entry
    return VoicemailSettings(
        directory=as_text(m.get("directory", "var/voicemail"), (*path, "directory")),
        access_code=code,
        max_message_seconds=as_number(m.get("max_message_seconds", 180),
                                      (*path, "max_message_seconds"), 5, 3600),
        min_message_seconds=as_number(m.get("min_message_seconds", 1),
                                      (*path, "min_message_seconds"), 0, 60),
        silence_seconds=as_number(m.get("silence_seconds", 10), (*path, "silence_seconds"),
                                  0, 300),
        max_messages=as_int(m.get("max_messages", 100), (*path, "max_messages"), 1, 10000),
        attach_audio=as_bool(m.get("attach_audio", True), (*path, "attach_audio")),
        unsolicited_mwi=as_bool(m.get("unsolicited_mwi", False), (*path, "unsolicited_mwi")),
        boxes=boxes)
