"""Per-extension permission to use an outbound route (`outbound_routes[].extensions`): the
config key and its file:line errors, which route an extension gets for a number, 403 when
none it may use, and the `check` warning for queue callbacks (queue-admin.md §4.1)."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from softswitch.config import ConfigError, check_command, parse_config
from softswitch.dialplan import EXTERNAL, FORBIDDEN, NOT_FOUND, Destination, DialPlan
from softswitch.trunks import OutboundCall, OutboundRefused, TrunkRouter, outbound_rule

BASE = """\
sip: {listen: [udp:127.0.0.1:5060], domain: pbx.example.com}
extensions:
  - {number: "1001", password: secret1}
  - {number: "1002", password: secret2}
  - {number: "1003", password: secret3}
trunks:
  - {name: carrier, host: 192.0.2.10}
  - {name: premium, host: 192.0.2.20}
"""


def parse(extra: str):  # type: ignore[no-untyped-def]
    return parse_config(BASE + textwrap.dedent(extra), "c.yaml", Path("/etc/ss"))


def issues(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(extra)
    return [str(i) for i in err.value.issues]


ROUTES = """\
    outbound_routes:
      - {name: local, prefix: "9", strip: 1, trunk: carrier}
      - {name: intl, prefix: "900", strip: 3, prepend: "+", trunk: premium,
         extensions: ["1001", "1002"]}
      - {name: mobile, prefix: "97", strip: 1, trunk: premium, extensions: ["1002"]}
      - {name: toll, prefix: "8", strip: 1, trunk: premium, extensions: ["1001"]}
"""


def test_the_key_is_parsed_and_absent_means_every_extension() -> None:
    c = parse(ROUTES)
    by_name = {r.name: r for r in c.outbound_routes}
    assert by_name["local"].extensions is None
    assert by_name["intl"].extensions == frozenset({"1001", "1002"})
    assert by_name["local"].refuses(["1001", "1003"]) == ()
    assert by_name["intl"].refuses(["1001", "1003", "1002"]) == ("1003",)


def test_errors_name_file_line_and_key() -> None:
    text = "\n".join(issues("""\
        outbound_routes:
          - {name: a, prefix: "9", trunk: carrier, extensions: ["1001", "1999"]}
          - {name: b, prefix: "8", trunk: carrier, extensions: []}
          - {name: c, prefix: "7", trunk: carrier, extensions: "1001"}
          - {name: d, prefix: "6", trunk: carrier, extensions: ["10x1"]}
          - {name: e, prefix: "5", trunk: carrier, extension: ["1001"]}
        """))
    assert "c.yaml:10: outbound_routes[0].extensions[1]: no extension 1999 is defined in " \
        "extensions" in text
    assert "c.yaml:11: outbound_routes[1].extensions: expected at least one extension " \
        "number (leave the key out" in text
    assert "c.yaml:12: outbound_routes[2].extensions: expected a list of extension numbers" \
        in text
    assert "c.yaml:13: outbound_routes[3].extensions[0]: expected an extension number" in text
    assert "c.yaml:14: outbound_routes[4].extension: unknown key 'extension' (did you mean " \
        "'extensions'?)" in text


def test_which_route_an_extension_gets_for_a_number() -> None:
    c = parse(ROUTES)
    r = TrunkRouter(c.trunks, (), c.outbound_routes)
    # a permitted extension gets the longest prefix
    assert r.outbound("9004412345", ["1001"]) == OutboundCall("intl", "premium", "+4412345")
    assert r.outbound("9712345", ["1002"]) == OutboundCall("mobile", "premium", "712345")
    # not permitted: the next matching route it may use (the open "9" route)
    assert r.outbound("9004412345", ["1003"]) == OutboundCall("local", "carrier", "004412345")
    assert r.outbound("9712345", ["1001"]) == OutboundCall("local", "carrier", "712345")
    # matching routes, none permitted: refused, naming the first route that matched
    refused = r.outbound("8555", ["1003"])
    assert refused == OutboundRefused("8555", "toll", ("1003",))
    assert isinstance(refused, OutboundRefused)
    assert refused.reason == "extension 1003 may not use outbound route 'toll'"
    # a group (a queue's agents): every one must be permitted
    assert r.outbound("8555", ["1001", "1002"]) == OutboundRefused("8555", "toll", ("1002",))
    both = r.outbound("8555", ["1002", "1001", "1003"])
    assert isinstance(both, OutboundRefused)
    assert both.reason == "extensions 1002, 1003 may not use outbound route 'toll'"
    assert r.outbound("9004412345", ["1001", "1002", "1003"]) == \
        OutboundCall("local", "carrier", "004412345")
    # no route matches: None (404), whatever the permissions
    assert r.outbound("7555", ["1001"]) is None
    # no users given: no permission check
    assert r.outbound("8555") == OutboundCall("toll", "premium", "555")


def test_the_dial_plan_gives_forbidden_to_an_extension_not_permitted() -> None:
    c = parse(ROUTES)
    r = TrunkRouter(c.trunks, (), c.outbound_routes)
    plan = DialPlan.default(["1001", "1002", "1003"])
    plan.add(outbound_rule(r))
    assert plan.route("8555", "1001") == Destination(EXTERNAL, "premium", ("555",))
    assert plan.route("8555", "1003") == Destination(
        FORBIDDEN, "toll", ("extension 1003 may not use outbound route 'toll'",))
    assert plan.route("9004412345", "1003") == Destination(EXTERNAL, "carrier",
                                                          ("004412345",))
    assert plan.route("7555", "1003").kind == NOT_FOUND


QUEUE = """\
    queues:
      - number: "6400"
        name: Sales
        static_agents: ["1001"]
        dynamic_agents: ["1003"]
        callback: {method: press_key, key: "1", outbound_prefix: "%s"}
"""


def test_check_warns_about_a_callback_route_an_agent_may_not_use(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE + textwrap.dedent(ROUTES + QUEUE % "8")
    c = parse_config(text, "c.yaml", Path("/etc/ss"))
    assert [str(w) for w in c.warnings] == [
        "c.yaml:20: queues[0].callback.outbound_prefix: queue 6400: agent 1003 may not use "
        "outbound route 'toll' (prefix '8'); callbacks through it fail (every agent of the "
        "queue must be listed in the route's extensions)"]
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert check_command(argparse.Namespace(config=str(path))) == 0  # valid: a warning
    err = capsys.readouterr().err
    assert "agent 1003 may not use outbound route 'toll'" in err and "(warning)" in err


def test_no_warning_when_an_open_route_matches_every_callback_number() -> None:
    """Prefix 9: the restricted 900 and 97 routes fall back to the open 9 route."""
    c = parse(ROUTES + QUEUE % "9")
    assert c.warnings == ()
    # a prefix that can reach both restricted routes without a fallback warns for each
    c = parse(ROUTES.replace('prefix: "9", strip: 1, trunk: carrier',
                             'prefix: "9", strip: 1, trunk: carrier, extensions: ["1001"]')
              + QUEUE % "9")
    assert sorted(w.message.split(";")[0] for w in c.warnings) == [
        "queue 6400: agent 1001 may not use outbound route 'mobile' (prefix '97')",
        "queue 6400: agent 1003 may not use outbound route 'intl' (prefix '900')",
        "queue 6400: agent 1003 may not use outbound route 'local' (prefix '9')",
        "queue 6400: agent 1003 may not use outbound route 'mobile' (prefix '97')",
    ]
