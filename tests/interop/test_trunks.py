"""SIP trunks over real sockets, with sipp as the provider: an INVITE from the trunk's
address reaches the extension its DID routes to (no digest auth), an extension dials
9 + number and the provider receives the stripped number, an extension a route does not
permit gets 403, and a provider that challenges gets the trunk's credentials
(softswitch/trunks.py)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import urllib.request
from collections.abc import Callable
from hashlib import md5
from pathlib import Path

import pytest

from benchmarks.peers.net import free_port
from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

CALLER = ("4000", "caller-0-pw")
CALLEE = ("5000", "callee-0-pw")
EXTENSIONS = [Extension(*CALLER), Extension(*CALLEE)]
TRUNK_PORT = free_port()  # the provider's address: sipp binds it in each test


def trunk_config(port: int, **trunk: str) -> dict:  # type: ignore[type-arg]
    return {
        "sip": {"auth": {"algorithms": ["MD5"]}},  # sipp answers MD5 only
        "trunks": [{"name": "provider", "host": "127.0.0.1", "port": port, **trunk}],
        "inbound_routes": [
            {"name": "to-callee", "did": "15550100",
             "destination": {"type": "extension", "target": CALLEE[0]}},
        ],
        "outbound_routes": [{"name": "out", "prefix": "9", "strip": 1, "trunk": "provider"}],
    }


def provider_scenario(tmp_path: Path, name: str, **values: str) -> Path:
    """A copy of tests/interop/sipp/<name> with NUMBER/USER/PASSWORD filled in."""
    text = (Path(__file__).parent / "sipp" / name).read_text()
    for key, value in values.items():
        text = text.replace(key.upper(), value)
    out = tmp_path / name
    out.write_text(text)
    return out


def cdr(switch: RunningSwitch, want: int, timeout: float = 5.0) -> list[tuple]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(switch.db_path)
        try:
            rows = con.execute("SELECT caller, callee, disposition, sip_code FROM cdr"
                               " WHERE state='closed' ORDER BY id").fetchall()
        finally:
            con.close()
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=trunk_config(TRUNK_PORT))
def test_trunk_call_to_a_did_reaches_the_extension(switch: RunningSwitch,
                                                   sipp: Callable[..., Sipp],
                                                   tmp_path: Path) -> None:
    uas_port = free_port()
    uas = sipp("uas.xml", None, local_port=uas_port).start()
    reg = injection_file(tmp_path / "reg.csv",
                         [(CALLEE[0], CALLEE[1], switch.domain, f"127.0.0.1:{uas_port}")])
    res = sipp("register_auth.xml", switch.address, inf=reg, max_calls=1).run(30)
    assert res.successful == 1, res.output
    # the provider: no credentials at all, from the trunk's address
    calls = injection_file(tmp_path / "in.csv", [("15551230000", "-", switch.domain,
                                                  "15550100"),
                                                 ("15551230000", "-", switch.domain,
                                                  "15550199")])
    provider = sipp("uac.xml", switch.address, local_port=TRUNK_PORT, inf=calls,
                    max_calls=2, rate=5).run(60)
    answered = uas.stop()
    # the routed DID is answered by the extension; the unknown DID is refused (404)
    assert (provider.successful, provider.failed) == (1, 1), provider.output
    assert answered.successful == 1, answered.output
    rows = cdr(switch, 1)
    assert ("15551230000", CALLEE[0], "ANSWERED", 200) in rows


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=trunk_config(TRUNK_PORT))
def test_extension_dials_out_through_the_trunk(switch: RunningSwitch,
                                              sipp: Callable[..., Sipp],
                                              tmp_path: Path) -> None:
    provider = sipp(provider_scenario(tmp_path, "trunk_uas.xml", number="5551234"), None,
                    local_port=TRUNK_PORT).start()
    calls = injection_file(tmp_path / "out.csv",
                           [(CALLER[0], CALLER[1], switch.domain, "95551234")])
    res = sipp("uac_auth.xml", switch.address, inf=calls, max_calls=1).run(60)
    got = provider.stop()
    assert (res.successful, res.failed) == (1, 0), res.output
    assert (got.successful, got.failed) == (1, 0), got.output  # Request-URI user 5551234
    assert (CALLER[0], "5551234", "ANSWERED", 200) in cdr(switch, 1)


def permitted_config(port: int) -> dict:  # type: ignore[type-arg]
    """The `out` route limited to CALLER: CALLEE may not dial out."""
    config = trunk_config(port)
    config["outbound_routes"][0]["extensions"] = [CALLER[0]]
    return config


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=permitted_config(TRUNK_PORT))
def test_only_permitted_extensions_dial_out_through_a_route(switch: RunningSwitch,
                                                            sipp: Callable[..., Sipp],
                                                            tmp_path: Path) -> None:
    """`outbound_routes[].extensions`: an extension not listed gets 403 Forbidden (reason
    phrase and a log line say why; the provider sees nothing); a listed one reaches the
    provider with the stripped number."""
    provider = sipp(provider_scenario(tmp_path, "trunk_uas.xml", number="5551234"), None,
                    local_port=TRUNK_PORT).start()
    denied = injection_file(tmp_path / "denied.csv",
                            [(CALLEE[0], CALLEE[1], switch.domain, "95551234")])
    uac = sipp(Path(__file__).parent / "sipp" / "uac_auth_refused.xml", switch.address,
               inf=denied, max_calls=1, trace_msg=True)
    refused = uac.run(30)
    assert (refused.successful, refused.failed) == (1, 0), refused.output
    trace = (uac.workdir / "messages.log").read_text()
    assert "SIP/2.0 403 Forbidden (outbound route not permitted)" in trace, trace
    [line] = switch.events("outbound route not permitted")
    assert line["caller"] == CALLEE[0] and line["route"] == "out"
    assert line["reason"] == f"extension {CALLEE[0]} may not use outbound route 'out'"
    allowed = injection_file(tmp_path / "allowed.csv",
                             [(CALLER[0], CALLER[1], switch.domain, "95551234")])
    res = sipp("uac_auth.xml", switch.address, inf=allowed, max_calls=1).run(60)
    got = provider.stop()
    assert (res.successful, res.failed) == (1, 0), res.output
    assert (got.successful, got.failed) == (1, 0), got.output  # only the permitted call
    rows = cdr(switch, 2)
    assert (CALLEE[0], "95551234", "FAILED", 403) in rows, rows
    assert (CALLER[0], "5551234", "ANSWERED", 200) in rows, rows


@pytest.mark.switch_config(extensions=EXTENSIONS,
                           overrides=trunk_config(TRUNK_PORT, username="acct77",
                                                  password="trunk-secret"))
def test_outbound_answers_the_providers_challenge(switch: RunningSwitch,
                                                  sipp: Callable[..., Sipp],
                                                  tmp_path: Path) -> None:
    scenario = provider_scenario(tmp_path, "trunk_uas_auth.xml", number="5551234",
                                 user="acct77", password="trunk-secret")
    provider = sipp(scenario, None, local_port=TRUNK_PORT, trace_msg=True).start()
    calls = injection_file(tmp_path / "out.csv",
                           [(CALLER[0], CALLER[1], switch.domain, "95551234")])
    res = sipp("uac_auth.xml", switch.address, inf=calls, max_calls=1).run(60)
    got = provider.stop()
    assert (res.successful, res.failed) == (1, 0), res.output
    assert (got.successful, got.failed) == (1, 0), got.output
    # RFC 2617 §3.2.2: the digest answers the provider's nonce with the trunk's password
    trace = (provider.workdir / "messages.log").read_text()
    header = re.search(r"Proxy-Authorization: Digest (.*)", trace)
    assert header is not None, trace
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', header[1]))
    assert (p["username"], p["realm"]) == ("acct77", "provider")
    ha1 = md5(b"acct77:provider:trunk-secret").hexdigest()
    ha2 = md5(f"INVITE:{p['uri']}".encode()).hexdigest()
    assert p["response"] == md5(f"{ha1}:{p['nonce']}:{ha2}".encode()).hexdigest()
    assert (CALLER[0], "5551234", "ANSWERED", 200) in cdr(switch, 1)


REGISTER_PORT = free_port()


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides={
    "sip": {"auth": {"algorithms": ["MD5"]}},
    "trunks": [{"name": "provider", "host": "127.0.0.1", "port": REGISTER_PORT,
                "username": "4420001", "password": "trunk-secret", "register": True}]})
def test_trunk_registers_to_the_provider_and_refreshes(switch: RunningSwitch,
                                                       sipp: Callable[..., Sipp],
                                                       tmp_path: Path) -> None:
    """`register: true`: the switch REGISTERs to the provider, answers its digest challenge
    with the trunk's credentials, and refreshes before the granted 4 s run out (again
    challenged and answered); GET /api/v1/health shows the trunk registered."""
    scenario = provider_scenario(tmp_path, "trunk_registrar.xml", user="4420001")
    provider = sipp(scenario, None, local_port=REGISTER_PORT, trace_msg=True,
                    max_calls=1).start()

    def trunk_state() -> dict:  # type: ignore[type-arg]
        url = f"{switch.http_url}/api/v1/health"
        return json.loads(urllib.request.urlopen(url, timeout=5).read())["trunks"]["provider"]

    deadline = time.monotonic() + 5
    while trunk_state()["state"] != "registered" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert trunk_state() == {"state": "registered", "status": 200, "expires": 4}
    got = provider.wait(30)
    assert (got.successful, got.failed) == (1, 0), got.output
    trace = (provider.workdir / "messages.log").read_text()
    headers = re.findall(r"\nAuthorization: Digest (.*)", trace)
    assert len(headers) == 2, trace
    for header in headers:  # RFC 2617 §3.2.2 with qop=auth, the trunk's password
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
        assert (p["username"], p["realm"], p["qop"]) == ("4420001", "provider", "auth")
        ha1 = md5(b"4420001:provider:trunk-secret").hexdigest()
        ha2 = md5(f"REGISTER:{p['uri']}".encode()).hexdigest()
        assert p["response"] == md5(
            f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}".encode()).hexdigest()
    assert re.search(r"\nContact: <sip:4420001@127\.0\.0\.1:\d+>", trace), trace
    assert [e["expires"] for e in switch.events("trunk registered")][:2] == [4, 4]
