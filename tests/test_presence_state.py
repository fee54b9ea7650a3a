"""The §7.5 auto-switch rule mapping (softswitch.web.presence_state.rule_actions) and its
application through the ACD in virtual time: which sign-ins, sign-outs, pauses and resumes a
change into a presence status causes, for static and dynamic agents, and the ACD's agent
events (and so the report rows) that follow."""

from __future__ import annotations

from acd import Acd
from acd.config import parse_acd_config
from acd.events import AgentPaused, AgentResumed, AgentSignedIn, AgentSignedOut
from softswitch.clock import VirtualClock
from softswitch.config import AutoSwitchRule, PresenceConfig
from softswitch.features import Pause, Resume, SignIn, SignOut
from softswitch.presence.acd_bridge import apply_to_acd, directory_from_acd
from softswitch.presence.agents import AgentStatusBook
from softswitch.web.presence_state import PresenceStates, rule_actions

ACD = {
    "queues": [
        {"number": "6400", "name": "Sales", "static_agents": ["1002"],
         "dynamic_agents": ["1003"]},
        {"number": "6401", "name": "Support", "dynamic_agents": ["1003", "1002"]},
        {"number": "6402", "name": "Billing", "dynamic_agents": ["1003"]},
    ],
}


class Desk:
    """The parts of softswitch.agentdesk.AgentDesk the presence states use, over a real ACD
    in virtual time: actions go to the ACD, the events to the status book (as the bus does
    for the BLF notifier)."""

    def __init__(self) -> None:
        self.clock = VirtualClock(1000.0)
        self.acd = Acd(parse_acd_config(ACD), now=self.clock.monotonic(),
                       agents_registered=True)
        directory = directory_from_acd(self.acd.config)
        self.plan = type("Plan", (), {"directory": directory})()
        self.book = AgentStatusBook(directory)
        self.notifier = type("Notifier", (), {"agents": self.book})()
        self.events: list[object] = []
        self._sync()

    def _sync(self) -> None:
        from softswitch.presence.acd_bridge import acd_state

        for q in self.acd.queues():
            for agent, _ in self.acd.queue_members(q):
                self.book.set(agent, q, acd_state(self.acd, self.plan.directory, agent, q))

    def apply_actions(self, actions: list[object]) -> list[object]:
        out: list[object] = []
        for action in actions:
            out += apply_to_acd(self.acd, action, self.clock.monotonic()).events  # type: ignore[arg-type]
        self._sync()
        self.events += out
        return out


AGENT = (AgentSignedIn, AgentSignedOut, AgentPaused, AgentResumed)


def agent_events(events: list[object]) -> list[object]:
    return [e for e in events if isinstance(e, AGENT)]


def states(desk: Desk, agent: str) -> dict[str, tuple[bool, bool, str]]:
    return {q: (desk.acd.is_signed_in(agent, q), *desk.acd.pause_state(agent, q))
            for q in desk.acd.queues() if desk.acd.is_member(agent, q)}



def test_no_action_changes_nothing() -> None:
    desk = Desk()
    assert rule_actions(AutoSwitchRule("none"), "1003", desk.plan.directory, desk.book) == []


def test_sign_in_signs_dynamic_memberships_in_and_resumes_paused_ones() -> None:
    desk = Desk()
    desk.apply_actions([SignIn("1003", "6401"), Pause("1003", "6401", None),
                        Pause("1002", "6400", None)])
    d = desk.plan.directory
    assert rule_actions(AutoSwitchRule("sign_in"), "1003", d, desk.book) == [
        SignIn("1003", "6400"), Resume("1003", "6401"), SignIn("1003", "6402")]
    # a static agent: resumed (its dynamic queue 6401 is signed in too)
    assert rule_actions(AutoSwitchRule("sign_in"), "1002", d, desk.book) == [
        Resume("1002", "6400"), SignIn("1002", "6401")]


def test_sign_in_last_uses_the_remembered_set() -> None:
    desk = Desk()
    desk.apply_actions([SignIn("1003", "6400"), SignIn("1003", "6402")])
    desk.apply_actions([SignOut("1003", "6400"), SignOut("1003", "6402")])
    d = desk.plan.directory
    assert rule_actions(AutoSwitchRule("sign_in_last"), "1003", d, desk.book) == [
        SignIn("1003", "6400"), SignIn("1003", "6402")]


def test_sign_out_only_dynamic_memberships() -> None:
    desk = Desk()
    desk.apply_actions([SignIn("1003", "6400"), SignIn("1002", "6401")])
    d = desk.plan.directory
    assert rule_actions(AutoSwitchRule("sign_out"), "1003", d, desk.book) == [
        SignOut("1003", "6400")]
    # static 6400 untouched (§10.5 "no effect"), dynamic 6401 signed out
    assert rule_actions(AutoSwitchRule("sign_out"), "1002", d, desk.book) == [
        SignOut("1002", "6401")]


def test_pause_with_a_reason_in_every_signed_in_queue_and_changes_a_reason() -> None:
    desk = Desk()
    d = desk.plan.directory
    lunch, brk = d.reason_named("Lunch"), d.reason_named("Break")
    desk.apply_actions([SignIn("1003", "6400"), SignIn("1003", "6401"),
                        Pause("1003", "6401", brk)])
    assert rule_actions(AutoSwitchRule("pause", "Lunch"), "1003", d, desk.book) == [
        Pause("1003", "6400", lunch), Pause("1003", "6401", lunch)]  # 6402 signed out
    # by code too; and a plain pause leaves a paused membership as it is
    assert rule_actions(AutoSwitchRule("pause", "*01"), "1003", d, desk.book)[0] == \
        Pause("1003", "6400", lunch)
    assert rule_actions(AutoSwitchRule("pause"), "1003", d, desk.book) == [
        Pause("1003", "6400", None)]


def test_transitions_in_virtual_time_through_the_acd() -> None:
    """Spec tests 59-62: lunch = pause/Lunch, available = sign in, off work = sign out, away
    = no action; only a transition runs a rule."""
    desk = Desk()
    cfg = PresenceConfig(auto_switch=(
        ("available", AutoSwitchRule("sign_in")), ("lunch", AutoSwitchRule("pause", "Lunch")),
        ("off_work", AutoSwitchRule("sign_out"))))
    written: list[tuple[str, tuple[object, ...]]] = []

    class Store:
        def write(self, sql: str, params: tuple[object, ...]) -> None:
            written.append((sql, params))

        async def fetch(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
            return []

    told: list[str] = []
    ps = PresenceStates(lambda: cfg, desk, Store(), changed=told.append,
                        wall=lambda: 1_700_000_000.0 + desk.clock.monotonic())
    assert ps.status("1003") == "available"
    assert ps.set("1003", "available", "1003") == (False, [])  # no transition
    changed, raw = ps.set("1003", "off_work", "1003")
    events = agent_events(raw)
    assert changed and events == []  # nothing signed in yet
    desk.clock.advance(60)
    changed, raw = ps.set("1003", "available", "1003")
    events = agent_events(raw)
    assert [type(e) for e in events] == [AgentSignedIn] * 3
    assert all(e.at == 1060.0 for e in events)  # type: ignore[attr-defined]
    desk.clock.advance(30)
    _, raw = ps.set("1003", "lunch", "1003")
    events = agent_events(raw)
    assert [(type(e), e.reason) for e in events] == [(AgentPaused, "Lunch")] * 3  # type: ignore[attr-defined]
    assert states(desk, "1003") == {q: (True, True, "Lunch") for q in ("6400", "6401", "6402")}
    _, raw = ps.set("1003", "away", "1003")
    events = agent_events(raw)
    assert events == [] and states(desk, "1003")["6400"] == (True, True, "Lunch")
    _, raw = ps.set("1003", "available", "1003")
    events = agent_events(raw)
    assert [type(e) for e in events] == [AgentResumed] * 3
    _, raw = ps.set("1003", "off_work", "1003")
    events = agent_events(raw)
    assert [type(e) for e in events] == [AgentSignedOut] * 3
    # a static agent on off work: unchanged (test 61)
    desk.apply_actions([Pause("1002", "6400", None)])
    _, raw = ps.set("1002", "off_work", "1002")
    events = agent_events(raw)
    assert events == [] and states(desk, "1002")["6400"] == (True, True, "")
    _, raw = ps.set("1002", "available", "1002")
    events = agent_events(raw)
    assert [type(e) for e in events] == [AgentResumed, AgentSignedIn]
    assert told == ["1003"] * 6 + ["1002"] * 2
    assert [p[:2] for _, p in written][:3] == [("1003", "off_work"), ("1003", "available"),
                                               ("1003", "lunch")]
    assert written[1][1][2] == 1_700_000_000.0 + 1060.0


def test_per_extension_overrides() -> None:
    cfg = PresenceConfig(auto_switch=(("away", AutoSwitchRule("pause", "Break")),),
                         extensions=(("1003", (("away", AutoSwitchRule("none")),)),))
    assert cfg.rule("1003", "away") == AutoSwitchRule("none")
    assert cfg.rule("1002", "away") == AutoSwitchRule("pause", "Break")
    assert cfg.rule("1002", "dnd") == AutoSwitchRule("none")


CONFIG = """sip:
  domain: example.test
  listen: [udp:127.0.0.1:0]
extensions:
  - {number: "1001", name: A, password: pw-1001}
presence:
  initial: away
  auto_switch:
    available: sign_in
    off_work: {action: sign_out, reason: Lunch}
    away: {action: pause, reason: Nope}
    dnd: sleep
    lunch: {action: pause, reason: "*01"}
  extensions:
    "1001": {away: none}
    "1009": {away: none}
"""


def test_the_config_section_is_checked_with_file_and_line(tmp_path) -> None:
    import pytest

    from softswitch.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as err:
        parse_config(CONFIG, "c.yaml", tmp_path)
    assert [str(i) for i in err.value.issues] == [
        "c.yaml:10: presence.auto_switch.off_work.reason: only the pause action takes a reason",
        "c.yaml:11: presence.auto_switch.away.reason: no pause reason 'Nope' (pause_reasons: "
        "*01, *02, *03, Break, Lunch, Wrap up)",
        "c.yaml:12: presence.auto_switch.dnd: expected one of sign_in, sign_in_last, "
        "sign_out, pause, none, got 'sleep'",
        "c.yaml:16: presence.extensions.1009: no extension 1009 is defined in extensions"]
    good = "\n".join(line for line in CONFIG.splitlines()
                     if not any(k in line for k in ("off_work", "Nope", "sleep", "1009")))
    cfg = parse_config(good, "c.yaml", tmp_path).presence
    assert cfg.initial == "away"
    assert cfg.rule("1001", "lunch") == AutoSwitchRule("pause", "*01")
    assert cfg.rule("1001", "away") == AutoSwitchRule("none")
    assert cfg.rule("1001", "available") == AutoSwitchRule("sign_in")


def test_the_example_configuration_documents_the_section() -> None:
    from pathlib import Path

    from softswitch.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "config.example.yaml").presence
    assert cfg.rule("1002", "away") == AutoSwitchRule("pause", "Break")
    assert cfg.rule("1001", "lunch") == AutoSwitchRule("pause", "Lunch")
