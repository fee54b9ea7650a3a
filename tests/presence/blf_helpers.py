"""Shared set-up: the manual's example queue 6400 (§6.2) with agents 1001-1003."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from softswitch.features import FeatureCodePlan, FeatureCodes, FeatureOutcome
from softswitch.presence import (
    Notifier,
    Notify,
    QueueDirectory,
    SubscribeRequest,
    SubscribeResult,
)

DI = "{urn:ietf:params:xml:ns:dialog-info}"
PIDF = "{urn:ietf:params:xml:ns:pidf}"
DOMAIN = "pbx.example"
EXTENSIONS = ["1001", "1002", "1003", "1004", "1005"]


def directory() -> QueueDirectory:
    return QueueDirectory.from_config(
        [{"number": "6400", "static_agents": ["1003"],
          "dynamic_agents": ["1001", {"extension": "1002", "skill": 2}]},
         {"number": "6401", "dynamic_agents": ["1001"]}],
        None)


@dataclass
class Phone:
    """What a BLF phone keeps per key: its dialog with the switch and the last body."""

    result: SubscribeResult
    call_id: str
    from_tag: str

    @property
    def to_tag(self) -> str:
        assert self.result.response.to_tag is not None
        return self.result.response.to_tag


class Switch:
    def __init__(self, **kw: object) -> None:
        self.directory = directory()
        self.plan = FeatureCodePlan(FeatureCodes(), self.directory)
        self.notifier = Notifier(domain=DOMAIN, extensions=EXTENSIONS,
                                 directory=self.directory,
                                 resolve_agent_key=self.plan.blf_resource,
                                 tag_factory=self._tags, **kw)  # type: ignore[arg-type]
        self._n = 0

    def _tags(self) -> str:
        self._n += 1
        return f"srv{self._n}"

    def subscribe(self, resource: str, subscriber: str, now: float, *, event: str = "dialog",
                  expires: int | None = 600, accept: tuple[str, ...] | None = None,
                  call_id: str | None = None) -> Phone:
        call_id = call_id or f"c-{resource}-{subscriber}-{now}"
        req = SubscribeRequest(call_id=call_id, from_tag="ph", to_tag=None, event=event,
                               resource=resource, subscriber=subscriber, accept=accept,
                               expires=expires)
        return Phone(self.notifier.handle_subscribe(req, now), call_id, "ph")

    def refresh(self, phone: Phone, now: float, expires: int | None = 600,
                event: str = "dialog") -> SubscribeResult:
        req = SubscribeRequest(call_id=phone.call_id, from_tag=phone.from_tag,
                               to_tag=phone.to_tag, event=event, resource="x",
                               subscriber="x", expires=expires)
        return self.notifier.handle_subscribe(req, now)


def dialogs(notify: Notify) -> list[ET.Element]:
    root = ET.fromstring(notify.body)
    assert root.tag == f"{DI}dialog-info"
    assert root.get("state") == "full"
    return root.findall(f"{DI}dialog")


def version(notify: Notify) -> int:
    return int(ET.fromstring(notify.body).get("version", "-1"))


def lamp(notify: Notify) -> str:
    """How a phone renders the key: green (idle), red (busy), blinking (held/ringing)."""
    ds = dialogs(notify)
    states = [d.findtext(f"{DI}state") for d in ds]
    held = any(p.get("pname") == "+sip.rendering" and p.get("pvalue") == "no"
               for d in ds for p in d.iter(f"{DI}param"))
    if "early" in states or held:
        return "red blinking"
    if "confirmed" in states:
        return "red"
    assert all(s == "terminated" for s in states)
    return "green"


def basic(notify: Notify) -> str:
    root = ET.fromstring(notify.body)
    assert root.tag == f"{PIDF}presence"
    value = root.findtext(f"{PIDF}tuple/{PIDF}status/{PIDF}basic")
    assert value is not None
    return value


def dial(sw: Switch, caller: str, dialled: str, now: float) -> tuple[FeatureOutcome, list[Notify]]:
    """An agent dials a feature code; the ACD applies the actions and reports the new
    states to the notifier (what the switch wires together)."""
    from softswitch.features import Pause, Resume, SignIn, SignOut, state_after

    outcome = sw.plan.dial(dialled, caller, sw.notifier.agents)
    assert outcome is not None, dialled
    sent: list[Notify] = []
    for action in outcome.actions:
        assert isinstance(action, SignIn | SignOut | Pause | Resume)
        sent += sw.notifier.agent_state_changed(action.agent, action.queue,
                                                state_after(action), now)
    return outcome, sent
