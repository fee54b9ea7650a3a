"""Parsing of ivrs, ring_groups, call_flows, group_voicemails and voicemail
(softswitch.apps.settings): values, defaults, and errors naming the key path."""

from __future__ import annotations

import pytest
import yaml

from acd.config import AcdConfigError, BusinessHours, Destination, DestinationType
from softswitch.apps.ring_group import RingStrategy
from softswitch.apps.settings import parse_apps_config

EXTENSIONS = {"1001": "alice@example.com", "1002": "", "1003": "carol@example.com"}
HOURS = (BusinessHours("Europe/Berlin", {}),)

GOOD = yaml.safe_load("""
ivrs:
  - number: "7000"
    name: Main menu
    prompt: main-menu
    keys:
      1: {type: queue, target: "6400"}
      "0": {type: extension, target: "1003"}
    direct_dial: true
    fallback: {type: voicemail, target: "1001"}
ring_groups:
  - number: "8000"
    name: Sales
    strategy: sequential
    members: ["1001", "1002", "95551234"]
    member_timeout: 15
    failover: {type: group_voicemail, target: "8100"}
call_flows:
  - number: "7100"
    name: Office
    time_zone: Europe/Berlin
    in_hours: {type: ivr, target: "7000"}
    outside_hours: {type: voicemail, target: "1001"}
    toggle_code: "*280"
group_voicemails:
  - number: "8100"
    name: Sales team
    members: ["1001", "1002"]
    pin: "2468"
    emails: [sales@example.com]
voicemail:
  max_message_seconds: 120
  boxes:
    "1001": {pin: "4321"}
    "1002": {emails: [bob@example.org]}
""")


def test_good_config_values_and_defaults() -> None:
    apps = parse_apps_config(GOOD, EXTENSIONS, HOURS)
    ivr = apps.ivrs["7000"]
    assert ivr.keys["1"] == Destination(DestinationType.QUEUE, "6400")
    assert (ivr.direct_dial, ivr.timeout, ivr.repeat) == (True, 5.0, 3)
    group = apps.ring_groups["8000"]
    assert group.strategy is RingStrategy.SEQUENTIAL and group.members[-1] == "95551234"
    flow = apps.call_flows["7100"]
    assert flow.rule.holiday == flow.rule.outside_business_hours  # holiday defaults to it
    boxes = apps.boxes()
    assert boxes["1001"].pin == "4321" and boxes["1001"].emails == ("alice@example.com",)
    assert boxes["1002"].emails == ("bob@example.org",)
    assert boxes["1003"].pin == "" and boxes["1003"].max_seconds == 120
    assert boxes["8100"].owners == ("1001", "1002")
    assert apps.numbers() == {"7000": "ivrs", "8000": "ring_groups", "7100": "call_flows",
                              "8100": "group_voicemails"}
    paths = dict(apps.destinations())
    assert paths["ring_groups[0].failover"] == Destination(DestinationType.GROUP_VOICEMAIL,
                                                           "8100")


@pytest.mark.parametrize(("patch", "path", "words"), [
    ({"ivrs": [{"number": "7000", "name": "x"}]}, ("ivrs", 0, "prompt"), "required"),
    ({"ivrs": [{"number": "7000", "name": "x", "prompt": "p", "keys": {"12": {
        "type": "hangup"}}}]}, ("ivrs", 0, "keys", "12"), "0-9"),
    ({"ring_groups": [{"number": "8000", "name": "x", "members": []}]},
     ("ring_groups", 0, "members"), "at least one"),
    ({"ring_groups": [{"number": "8000", "name": "x", "members": ["1001"],
                       "strategy": "hunt"}]}, ("ring_groups", 0, "strategy"), "ring_all"),
    ({"call_flows": [{"number": "7100", "name": "x", "time_zone": "Asia/Tokyo",
                      "in_hours": {"type": "hangup"}, "outside_hours": {"type": "hangup"}}]},
     ("call_flows", 0, "time_zone"), "business_hours"),
    ({"group_voicemails": [{"number": "8100", "name": "x", "members": ["1009"]}]},
     ("group_voicemails", 0, "members", 0), "not defined"),
    ({"group_voicemails": [{"number": "1001", "name": "x", "members": ["1002"]}]},
     ("group_voicemails", 0, "number"), "extension"),
    ({"voicemail": {"boxes": {"1001": {"pin": "12"}}}}, ("voicemail", "boxes", "1001", "pin"),
     "4 to 12"),
    ({"ivrs": [{"number": "7000", "name": "x", "prompt": "p"}],
      "ring_groups": [{"number": "7000", "name": "y", "members": ["1001"]}]},
     ("ring_groups", 0, "number"), "already used"),
])
def test_errors_name_the_key(patch: dict[str, object], path: tuple[object, ...],
                             words: str) -> None:
    with pytest.raises(AcdConfigError) as info:
        parse_apps_config(patch, EXTENSIONS, HOURS)
    assert tuple(info.value.path) == path
    assert words in str(info.value.message)
