"""Bans on a running switch process: an untrusted address banned by failed REGISTERs is
listed and lifted with `softswitch bans` and the REST API (softswitch.web.security), the
trusted admin host is never banned, and a ban ends by itself."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import switchproc
import yaml
from sipua import SipUA

from benchmarks.peers.net import free_port

ATTACKER = "127.0.0.2"  # another loopback address: outside the trusted 127.0.0.1/32


def start(tmp_path: Path, ban_time: int = 600) -> switchproc.SwitchProcess:
    cfg = switchproc.base_config(tmp_path, brute_force={"max_failures": 3, "window": 60,
                                                        "ban_time": ban_time},
                                 trusted_networks=["127.0.0.1/32"])
    cfg["http"] = {"listen": f"127.0.0.1:{free_port(udp=False)}"}  # the command reads it
    cfg["admins"] = ["1001"]
    return switchproc.start(tmp_path, cfg)


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[switchproc.SwitchProcess]:
    proc = start(tmp_path)
    yield proc
    assert proc.stop() == 0


def bans(config: Path, *args: str, env: dict[str, str] | None = None,
         user: str | None = "1001", password: str | None = "pw-1001"
         ) -> subprocess.CompletedProcess[str]:
    """`softswitch bans ARGS --config CONFIG` as an admin would type it."""
    cmd = [sys.executable, "-m", "softswitch", "bans", *args, "--config", str(config)]
    if user is not None:
        cmd += ["--user", user]
    if password is not None:
        cmd += ["--password", password]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          env={**clean, **(env or {})})


def rest(switch: switchproc.SwitchProcess, method: str, path: str,
         user: str = "1001", password: str = "pw-1001") -> tuple[int, dict[str, Any]]:
    url = f"http://{switch.ready['http']}/api/v1/security{path}"
    req = urllib.request.Request(url, method=method)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        assert exc.headers["Content-Type"].startswith("application/json")
        return exc.code, json.loads(exc.read())


async def phone(switch: switchproc.SwitchProcess, host: str, password: str = "pw-1002"
                ) -> SipUA:
    ua = SipUA("1002", password, switch.udp)
    ua.local = (host, 0)
    return await ua.start()


async def ban_attacker(switch: switchproc.SwitchProcess) -> None:
    attacker = await phone(switch, ATTACKER, password="guess")
    statuses = [(await attacker.register()).status for _ in range(3)]
    # a fresh challenge after the first failure, 403 after later ones in that Call-ID
    assert statuses == [401, 403, 403]
    # banned: refused before any challenge
    assert (await attacker.register(auth=False)).status == 403
    assert [e["source"] for e in switch.events("address banned")] == [ATTACKER]
    attacker.close()


async def test_bans_are_listed_and_lifted_with_the_command(switch) -> None:
    await ban_attacker(switch)
    [banned] = switch.events("address banned")
    assert (banned["source"], banned["failures"], banned["via"]) == (ATTACKER, 3, "sip")
    assert banned["until"].endswith("+00:00")
    # the trusted host fails as often as it likes and still registers
    local = await phone(switch, "127.0.0.1", password="guess")
    for _ in range(6):
        assert (await local.register()).status in (401, 403)
    assert (await (await phone(switch, "127.0.0.1")).register()).status == 200

    listed = bans(switch.config_path, "list", user=None, password=None,
                  env={"SOFTSWITCH_USER": "1001", "SOFTSWITCH_PASSWORD": "pw-1001"})
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ADDRESS", "FAILURES", "SINCE", "UNTIL", "REMAINING"]
    assert row.split()[:2] == [ATTACKER, "3"]

    lifted = bans(switch.config_path, "lift", ATTACKER)
    assert lifted.returncode == 0, lifted.stderr
    assert lifted.stdout.startswith(f"lifted the ban on {ATTACKER} (3 failed")
    [ended] = switch.events("ban ended")
    assert (ended["source"], ended["reason"], ended["by"]) == (ATTACKER, "lifted", "1001")
    assert bans(switch.config_path, "list").stdout.strip() == "no banned addresses"
    # the lifted address registers again with the right password
    assert (await (await phone(switch, ATTACKER)).register()).status == 200

    again = bans(switch.config_path, "lift", ATTACKER)
    assert again.returncode == 1 and f"404 {ATTACKER} is not banned" in again.stderr


async def test_command_errors_say_what_went_wrong(switch) -> None:
    wrong = bans(switch.config_path, "list", password="not-it")
    assert wrong.returncode == 1 and "401 wrong extension or password" in wrong.stderr
    not_admin = bans(switch.config_path, "list", user="1002", password="pw-1002")
    assert not_admin.returncode == 1 and "403 1002 is not an admin" in not_admin.stderr
    bad = bans(switch.config_path, "lift", "banana")
    assert bad.returncode == 1 and "400 not an IP address: 'banana'" in bad.stderr
    missing = bans(switch.config_path, "list", user=None, password=None)
    assert missing.returncode == 2 and "SOFTSWITCH_USER" in missing.stderr
    no_address = bans(switch.config_path, "lift")
    assert no_address.returncode == 2 and "ADDRESS" in no_address.stderr


async def test_rest_endpoints(switch) -> None:
    assert rest(switch, "GET", "/bans") == (200, {"bans": []})
    await ban_attacker(switch)
    status, body = rest(switch, "GET", "/bans")
    assert status == 200 and [b["address"] for b in body["bans"]] == [ATTACKER]
    assert 590 <= body["bans"][0]["remaining"] <= 600
    status, body = rest(switch, "GET", "/bans", password="nope")
    assert (status, body["error"]) == (401, "unauthorized")
    status, body = rest(switch, "DELETE", "/bans/not-an-address")
    assert (status, body["error"]) == (400, "bad_address")
    status, body = rest(switch, "DELETE", "/bans/192.0.2.1")
    assert (status, body["error"]) == (404, "not_banned")
    status, body = rest(switch, "DELETE", f"/bans/{ATTACKER}")
    assert status == 200 and body["lifted"]["address"] == ATTACKER
    assert rest(switch, "GET", "/bans") == (200, {"bans": []})


async def test_a_ban_ends_by_itself(tmp_path: Path) -> None:
    switch = start(tmp_path, ban_time=1)
    try:
        await ban_attacker(switch)
        deadline = time.monotonic() + 10
        while not switch.events("ban ended") and time.monotonic() < deadline:
            time.sleep(0.05)  # polls the log for the switch's own timer
        [ended] = switch.events("ban ended")
        assert (ended["source"], ended["reason"]) == (ATTACKER, "expired")
        assert (await (await phone(switch, ATTACKER)).register()).status == 200
    finally:
        assert switch.stop() == 0


def test_command_without_a_running_switch_says_where_it_looked(tmp_path: Path) -> None:
    cfg = switchproc.base_config(tmp_path)
    port = free_port(udp=False)  # nothing listens there
    cfg["http"] = {"listen": f"127.0.0.1:{port}"}
    path = tmp_path / "switch.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = bans(path, "list")
    assert out.returncode == 1
    assert f"cannot reach the switch at http://127.0.0.1:{port}/api/v1/security/bans" \
        in out.stderr and "Connection refused" in out.stderr
    cfg["http"] = {"listen": "127.0.0.1:0"}
    path.write_text(yaml.safe_dump(cfg))
    out = bans(path, "list")
    assert out.returncode == 1 and "http.listen has port 0" in out.stderr
