"""Feature codes run through the real ACD engine light the BLF keys (manual §6.2, §6.7,
§6.8, §2.4 auto-pause)."""

from __future__ import annotations

from blf_helpers import DOMAIN, EXTENSIONS, lamp

from acd import Acd, parse_acd_config
from acd.events import AgentPaused
from softswitch.features import FeatureCodePlan, FeatureCodes, Prompt
from softswitch.presence import Notifier, Notify, SubscribeRequest
from softswitch.presence.acd_bridge import (
    apply_to_acd,
    directory_from_acd,
    notifies_for_events,
    sync_from_acd,
)

SECTIONS = {
    "queues": [
        {"number": "6400", "name": "Support", "strategy": "linear",
         "static_agents": ["1003"], "dynamic_agents": ["1001", "1002"],
         "agent_auto_pause": {"missed_calls": 2}},
        {"number": "6401", "name": "Sales", "dynamic_agents": ["1001"],
         "dynamic_agent_default_status": "logged_in"},
    ],
}


class Shell:
    """What the switch does between the ACD, the feature codes and the notifier."""

    def __init__(self) -> None:
        self.acd = Acd(parse_acd_config(SECTIONS, extensions=EXTENSIONS), now=0.0)
        directory = directory_from_acd(self.acd.config)
        self.plan = FeatureCodePlan(FeatureCodes(), directory)
        self.notifier = Notifier(domain=DOMAIN, extensions=EXTENSIONS, directory=directory,
                                 resolve_agent_key=self.plan.blf_resource)
        sync_from_acd(self.notifier, self.acd, 0.0)

    def subscribe(self, value: str, subscriber: str) -> Notify:
        r = self.notifier.handle_subscribe(SubscribeRequest(
            f"c-{value}-{subscriber}", "t", None, "dialog", value, subscriber,
            expires=3600), 0.0)
        assert r.response.status == 200
        return r.notifies[0]

    def dial(self, caller: str, dialled: str, now: float) -> tuple[Prompt, list[Notify]]:
        outcome = self.plan.dial(dialled, caller, self.notifier.agents)
        assert outcome is not None
        sent: list[Notify] = []
        for action in outcome.actions:
            output = apply_to_acd(self.acd, action, now)
            sent += notifies_for_events(self.notifier, self.acd, output.events, now)
        return outcome.prompt, sent


def test_default_status_from_the_acd_config() -> None:
    sh = Shell()
    assert lamp(sh.subscribe("*76401", "1001")) == "green"  # logged_in by default (§6.4)
    assert lamp(sh.subscribe("*76400", "1001")) == "red"
    assert lamp(sh.subscribe("*76400", "1003")) == "green"  # static


def test_feature_codes_through_the_acd() -> None:
    sh = Shell()
    sh.subscribe("*76400", "1001")
    sh.subscribe("*076400", "1001")
    sh.subscribe("*071001*6400*03", "1005")
    prompt, [n] = sh.dial("1001", "*76400", 1.0)
    assert prompt is Prompt.AGENT_SIGNED_IN and lamp(n) == "green"
    assert sh.acd.is_signed_in("1001", "6400")
    prompt, sent = sh.dial("1001", "*076400*03", 2.0)
    assert prompt is Prompt.AGENT_PAUSED
    assert sorted(lamp(n) for n in sent) == ["red blinking", "red blinking"]
    assert sh.acd.pause_state("1001", "6400") == (True, "Wrap up")
    # signing out while paused: the ACD resumes first, then signs out (one NOTIFY per key)
    prompt, sent = sh.dial("1001", "*76400", 3.0)
    assert prompt is Prompt.AGENT_SIGNED_OUT
    assert sorted(lamp(n) for n in sent) == ["green", "green", "red"]


def test_auto_pause_by_the_acd_lights_the_pause_key() -> None:
    sh = Shell()
    key = sh.subscribe("*076400", "1003")
    for i, task in enumerate(("call-1", "call-2")):
        now = 10.0 * (i + 1)
        out = sh.acd.handle_task_arrived(task, "6400", now, caller="5551234")
        assert any(getattr(c, "agents", None) == ("1003",) for c in out.commands), out
        out = sh.acd.handle_offer_rejected(task, "1003", now + 1)
        sent = notifies_for_events(sh.notifier, sh.acd, out.events, now + 1)
        sh.acd.handle_task_left(task, now + 2)
    assert any(isinstance(e, AgentPaused) and e.auto for e in out.events)
    [n] = sent
    assert n.key == key.key and lamp(n) == "red blinking"
