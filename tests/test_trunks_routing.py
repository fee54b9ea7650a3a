"""Trunks: inbound/outbound route config (file:line errors) and the sans-IO router."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from softswitch.config import ConfigError, Trunk, parse_config
from softswitch.trunks import InboundRoute, OutboundCall, TrunkRouter

BASE = """\
sip: {listen: [udp:127.0.0.1:5060], domain: pbx.example.com}
extensions:
  - {number: "1001", password: secret1}
trunks:
  - {name: carrier, host: 192.0.2.10, port: 5070, username: acct, password: pw}
  - {name: backup, host: 192.0.2.20}
queues:
  - {number: "6400", name: Sales, static_agents: ["1001"]}
"""


def parse(extra: str):  # type: ignore[no-untyped-def]
    return parse_config(BASE + textwrap.dedent(extra), "c.yaml", Path("/etc/ss"))


def issues(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(extra)
    return [str(i) for i in err.value.issues]


def test_routes_are_parsed() -> None:
    c = parse("""\
        inbound_routes:
          - {name: support, trunk: carrier, did: "15550106400",
             destination: {type: queue, target: "6400"}}
          - {name: rest, did: "*", destination: {type: extension, target: "1001"}}
          - {name: block, did: "999", destination: {type: hangup}}
        outbound_routes:
          - {name: out, prefix: "9", strip: 1, trunk: carrier}
          - {name: intl, prefix: "00", strip: 2, prepend: "+", trunk: backup}
        """)
    assert c.inbound_routes[0] == InboundRoute("support", "15550106400", "queue", "6400",
                                               "carrier")
    assert c.inbound_routes[1].trunk == "" and c.inbound_routes[2].destination_type == "hangup"
    assert [r.name for r in c.outbound_routes] == ["out", "intl"]
    assert c.outbound_routes[1].prepend == "+"


def test_unknown_trunk_and_bad_destination_are_reported_with_lines() -> None:
    found = issues("""\
        inbound_routes:
          - {name: a, trunk: nosuch, did: "1", destination: {type: queue, target: "6400"}}
          - {name: b, did: "2", destination: {type: ivr, target: "1"}}
          - {name: c, did: "3", destination: {type: extension, target: "1999"}}
          - {name: d, did: "4", destination: {type: queue}}
        outbound_routes:
          - {name: o, prefix: "9", trunk: gone}
          - {name: p, prefix: "9x", trunk: carrier}
          - {name: q, prefix: "9", strip: 3, trunk: carrier}
        """)
    text = "\n".join(found)
    assert "c.yaml:10: inbound_routes[0].trunk: unknown trunk 'nosuch'" in text
    assert "c.yaml:11: inbound_routes[1].destination.target: no ivr 1 is defined" in text
    assert "c.yaml:12: inbound_routes[2].destination.target: no extension 1999" in text
    assert "c.yaml:13:" in text and "needs a target" in text
    assert "c.yaml:15: outbound_routes[0].trunk: unknown trunk 'gone'" in text
    assert "c.yaml:16: outbound_routes[1].prefix" in text
    assert "c.yaml:17: outbound_routes[2].strip" in text


def test_inbound_route_to_a_queue_that_does_not_exist() -> None:
    """Refused at start-up (file:line), not discovered when the first caller arrives."""
    text = "\n".join(issues("""\
        inbound_routes:
          - {name: sales, did: "100", destination: {type: queue, target: "6400"}}
          - {name: typo, did: "200", destination: {type: queue, target: "6410"}}
        """))
    assert text == "c.yaml:11: inbound_routes[1].destination.target: no queue 6410 is " \
        "defined in queues"


def test_missing_required_keys() -> None:
    text = "\n".join(issues("""\
        inbound_routes:
          - {name: a, destination: {type: hangup}}
        outbound_routes:
          - {name: o, prefix: "9"}
        """))
    assert "did" in text and "trunk" in text


def _router() -> TrunkRouter:
    c = parse("""\
        inbound_routes:
          - {name: support, trunk: carrier, did: "6400", destination: {type: queue, target: "6400"}}
          - {name: any, trunk: backup, did: "*", destination: {type: extension, target: "1001"}}
        outbound_routes:
          - {name: out, prefix: "9", strip: 1, trunk: carrier}
          - {name: intl, prefix: "900", strip: 3, prepend: "+", trunk: backup}
        """)
    return TrunkRouter(c.trunks, c.inbound_routes, c.outbound_routes)


def test_source_address_identifies_the_trunk() -> None:
    r = _router()
    assert r.trunk_for_source("192.0.2.10", 5070).name == "carrier"
    assert r.trunk_for_source("192.0.2.10", 5060) is None  # carrier names port 5070
    assert r.trunk_for_source("192.0.2.20", 5060).name == "backup"
    assert r.trunk_for_source("192.0.2.20", 41234) is None  # a phone behind that address
    tcp = TrunkRouter([Trunk("tcp-carrier", "192.0.2.30", 5060, "tcp")])
    assert tcp.trunk_for_source("192.0.2.30", 41234, "tcp").name == "tcp-carrier"
    assert tcp.trunk_for_source("192.0.2.30", 5060, "udp") is None
    assert r.trunk_for_source("198.51.100.1", 5060) is None


def test_inbound_did_routing() -> None:
    r = _router()
    route = r.inbound("carrier", "6400")
    assert route is not None and route.destination_target == "6400"
    assert r.inbound("carrier", "6401") is None  # unmatched DID -> the switch answers 404
    any_route = r.inbound("backup", "5551234")
    assert any_route is not None and any_route.destination_type == "extension"


def test_outbound_longest_prefix_strip_prepend() -> None:
    r = _router()
    assert r.outbound("95551234") == OutboundCall("out", "carrier", "5551234")
    assert r.outbound("9004412345") == OutboundCall("intl", "backup", "+4412345")
    assert r.outbound("9") is None
    assert r.outbound("1001") is None
