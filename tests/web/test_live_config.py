"""`softswitch check` on the live API's config keys: a queue's panel_permissions (§7.4:
each role only what the manual's matrix lets it have) and the company contacts (§6.9)."""

from __future__ import annotations

import textwrap

import pytest

from softswitch.config import ConfigError, parse_config
from softswitch.web.contacts import Contacts

BASE = """\
    sip: {listen: [udp:127.0.0.1:5060], domain: x.org}
    extensions:
      - {number: "1001", password: abcd}
      - {number: "1002", password: efgh}
    queues:
      - number: "6400"
        name: Sales
        managers: ["1001"]
        dynamic_agents: ["1002"]
        panel_permissions:
          managers: [queue_panel, change_agent_status]
          agents: [queue_panel, call_logs]
          call_logs: {members: ["1002"], scope: [missed]}
    contacts:
      match_last_digits: 7
      entries:
        - {name: Kristin Hale, number: "5550100"}
    """


def issue(text: str) -> tuple[int, str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "c.yaml")
    first = info.value.issues[0]
    return first.line, first.path, first.message


def test_the_keys_parse_into_the_queue_and_the_contacts() -> None:
    cfg = parse_config(textwrap.dedent(BASE), "c.yaml")
    perms = cfg.acd.queues[0].panel_permissions
    assert perms.managers == {"queue_panel", "change_agent_status"}
    assert perms.agents == {"queue_panel", "call_logs"}
    assert (perms.call_log_members, perms.call_log_scope) == ({"1002"}, {"missed"})
    assert cfg.contacts.entries == (("5550100", "Kristin Hale"),)


@pytest.mark.parametrize(("old", "new", "line", "path", "words"), [
    ("agents: [queue_panel, call_logs]", "agents: [queue_panel, change_agent_status]", 12,
     "queues[0].panel_permissions.agents[1]", "only managers can have it"),
    ("managers: [queue_panel, change_agent_status]", "managers: [call_logs]", 11,
     "queues[0].panel_permissions.managers[0]", "only agents can have it"),
    ('members: ["1002"]', 'members: ["1999"]', 13,
     "queues[0].panel_permissions.call_logs.members[0]", "no extension 1999"),
    ("scope: [missed]", "scope: [everything]", 13,
     "queues[0].panel_permissions.call_logs.scope[0]", "inbound or missed"),
    ("match_last_digits: 7", "match_last_digits: 3", 15,
     "contacts.match_last_digits", "4"),
])
def test_bad_values_are_refused_with_their_line(old: str, new: str, line: int, path: str,
                                                words: str) -> None:
    found = issue(BASE.replace(old, new))
    assert found[:2] == (line, path) and words in found[2]


def test_matching_on_the_last_digits() -> None:
    contacts = Contacts(7, (("5550100", "Kristin Hale"), ("1006", "Front desk")))
    assert contacts.name("+1 (212) 555-0100") == "Kristin Hale"
    assert contacts.name("5550100") == "Kristin Hale"
    assert contacts.name("550100") is None  # shorter: exact only
    assert contacts.name("1006") == "Front desk"
    assert contacts.name("21006") is None
    assert contacts.name("anonymous") is None
