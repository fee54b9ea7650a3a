"""The one destination router (softswitch.destinations): every type of §11.1 resolved, and
`softswitch check` refusing what would end in silence, with file:line."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from acd.config import Destination, DestinationType
from softswitch import destinations
from softswitch.apps.flow import FlowBase
from softswitch.apps.prompt import PromptFlow
from softswitch.config import ConfigError, parse_config
from softswitch.destinations import (
    DestinationRouter,
    ExtensionRoute,
    ExternalRoute,
    FlowRoute,
    HangupRoute,
    QueueRoute,
    Unavailable,
    register_application,
)

BASE = """\
sip: {listen: [udp:127.0.0.1:5060], domain: pbx.example.com}
extensions:
  - {number: "1001", password: secret1}
  - {number: "1002", password: secret2}
trunks:
  - {name: carrier, host: 192.0.2.10}
outbound_routes:
  - {name: out, prefix: "9", strip: 1, trunk: carrier}
queues:
  - {number: "6400", name: Sales, static_agents: ["1001"]}
"""


def parse(extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_config(BASE + textwrap.dedent(extra), "c.yaml", Path("/etc/ss"))


def issues(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(extra)
    return [str(i) for i in err.value.issues]


IVR_KEYS: list[tuple[str, Destination]] = []


@pytest.fixture
def ivr_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """An IVR application as the IVR module registers it: IVRs 7000 and 7001 exist, their
    keys' destinations are `IVR_KEYS` (path, destination)."""
    built: list[str] = []
    IVR_KEYS.clear()

    class Menu(FlowBase):
        pass

    def factory(config: object, target: str) -> Menu:
        built.append(target)
        return Menu()

    monkeypatch.setattr(destinations, "_APPLICATIONS", dict(destinations.applications()))
    register_application(DestinationType.IVR, factory, section="ivrs",
                         exists=lambda config, target: target in ("7000", "7001"),
                         references=lambda config: list(IVR_KEYS))
    yield built
    IVR_KEYS.clear()


def test_every_type_resolves() -> None:
    router = DestinationRouter(parse())
    d = Destination
    assert router.resolve(d(DestinationType.HANGUP)) == HangupRoute()
    assert router.resolve(d(DestinationType.EXTENSION, "1002")) == ExtensionRoute("1002")
    assert router.resolve(d(DestinationType.QUEUE, "6400")) == QueueRoute("6400")
    assert router.resolve(d(DestinationType.EXTERNAL, "95550100")) == \
        ExternalRoute("95550100", "carrier", "5550100")
    prompt = router.resolve(d(DestinationType.PROMPT, "goodbye"))
    assert isinstance(prompt, FlowRoute)
    flow = prompt.factory()
    assert isinstance(flow, PromptFlow) and flow.prompt == "goodbye"
    # every extension has a voicemail box; leaving a message needs the running switch's
    # boxes (the router of `check` has no context)
    assert router.resolve(d(DestinationType.VOICEMAIL, "1001")) == \
        Unavailable("voicemail needs the running switch")
    for kind, section in ((DestinationType.GROUP_VOICEMAIL, "group_voicemails"),
                          (DestinationType.IVR, "ivrs"), (DestinationType.CALL_FLOW,
                                                          "call_flows"),
                          (DestinationType.RING_GROUP, "ring_groups")):
        route = router.resolve(d(kind, "1001"))
        assert route == Unavailable(f"no {kind.value} 1001 is defined in {section}")
    assert router.resolve(d(DestinationType.EXTENSION, "1999")) == \
        Unavailable("no extension 1999 is defined under extensions")
    assert router.resolve(d(DestinationType.QUEUE, "6499")) == \
        Unavailable("no queue 6499 is defined in queues")
    assert router.resolve(d(DestinationType.EXTERNAL, "5550100")) == \
        Unavailable("no outbound route matches the external number 5550100")
    assert router.resolve(d(DestinationType.PROMPT, "no-such-prompt")) == \
        Unavailable("no prompt no-such-prompt is defined in prompts")


def test_registered_application_resolves_to_its_flow(ivr_registered: list[str]) -> None:
    router = DestinationRouter(parse())
    route = router.resolve(Destination(DestinationType.IVR, "7000"))
    assert isinstance(route, FlowRoute) and route.type is DestinationType.IVR
    route.factory()
    assert ivr_registered == ["7000"]
    assert router.resolve(Destination(DestinationType.IVR, "7002")) == \
        Unavailable("no ivr 7002 is defined in ivrs")


def test_check_refuses_targets_that_do_not_exist_with_file_and_line() -> None:
    found = issues("""\
        inbound_routes:
          - {name: a, did: "1", destination: {type: ivr, target: "7000"}}
          - {name: b, did: "2", destination: {type: ring_group, target: "600"}}
          - {name: c, did: "3", destination: {type: prompt, target: nothing-like-it}}
          - {name: d, did: "4", destination: {type: external, target: "5550100"}}
          - {name: e, did: "5", destination: {type: prompt, target: goodbye}}
        """)
    assert found == [
        "c.yaml:12: inbound_routes[0].destination.target: no ivr 7000 is defined in ivrs",
        "c.yaml:13: inbound_routes[1].destination.target: no ring_group 600 is defined in "
        "ring_groups",
        "c.yaml:14: inbound_routes[2].destination.target: no prompt nothing-like-it is "
        "defined in prompts",
        "c.yaml:15: inbound_routes[3].destination.target: no outbound route matches the "
        "external number 5550100",
    ]


def test_check_covers_queue_destinations() -> None:
    found = issues("""\
          - number: "6401"
            name: Support
            static_agents: ["1002"]
            failover: {type: voicemail, target: "1009"}
            time_based_routing:
              time_zone: UTC
              outside_business_hours: {type: queue, target: "6400"}
              holiday: {type: call_flow, target: "1"}
            key_press_events:
              - {key: "1", destination: {type: group_voicemail, target: "500"}}
              - {key: "2", destination: {type: extension, target: "1002"}}
        business_hours:
          - {time_zone: UTC, periods: [{days: [mon], time: "09:00-17:00"}]}
        """)
    text = "\n".join(found)
    assert "queues[1].failover.target: no voicemail 1009 is defined in extensions" in text
    assert "queues[1].time_based_routing.holiday.target: no call_flow 1 is defined" in text
    assert "queues[1].key_press_events[0].destination.target: no group_voicemail 500" in text
    assert "outside_business_hours" not in text and "key_press_events[1]" not in text


def test_check_accepts_registered_types_and_checks_their_targets(
        ivr_registered: list[str]) -> None:
    IVR_KEYS.append(("ivrs[0].keys.1", Destination(DestinationType.QUEUE, "6499")))
    found = issues("""\
        inbound_routes:
          - {name: a, did: "1", destination: {type: ivr, target: "7000"}}
          - {name: b, did: "2", destination: {type: ivr, target: "7002"}}
        """)
    assert found == [
        "c.yaml:1: ivrs[0].keys.1.target: no queue 6499 is defined in queues",
        "c.yaml:13: inbound_routes[1].destination.target: no ivr 7002 is defined in ivrs",
    ]
