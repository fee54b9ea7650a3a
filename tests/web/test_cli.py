"""`softswitch show ...` and `softswitch agent ...` against a running switch process, as an
operator types them (softswitch.web.client)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import switchproc
from live_support import live_config

from benchmarks.peers.net import free_port


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[switchproc.SwitchProcess]:
    tmp = tmp_path_factory.mktemp("cli")
    cfg = live_config(tmp, presence={"auto_switch": {
        "lunch": {"action": "pause", "reason": "Lunch"}, "available": "sign_in"}})
    cfg["http"] = {"listen": f"127.0.0.1:{free_port(udp=False)}"}  # the command reads it
    proc = switchproc.start(tmp, cfg)
    yield proc
    assert proc.stop() == 0


def run(switch: switchproc.SwitchProcess, *args: str, user: str = "1005"
        ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "softswitch", *args, "--config", str(switch.config_path),
           "--user", user, "--password", f"pw-{user}"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=clean)


def test_an_admin_signs_an_agent_in_and_sees_it(switch: switchproc.SwitchProcess) -> None:
    out = run(switch, "agent", "signin", "1003", "6400")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "agent 1003 in queue 6400: unregistered"
    out = run(switch, "agent", "pause", "1003", "6400", "--reason", "Lunch")
    assert out.returncode == 0 and out.stdout.strip().endswith("paused (Lunch)")
    agents = run(switch, "show", "agents").stdout.splitlines()
    assert agents[0].split() == ["QUEUE", "AGENT", "NAME", "TYPE", "STATE", "PAUSE",
                                 "REASON", "REGISTERED", "PRESENCE"]
    row = next(r for r in map(str.split, agents) if r[:2] == ["6400", "1003"])
    assert row[:7] == ["6400", "1003", "Ext", "1003", "dynamic", "paused", "Lunch"]
    queues = run(switch, "show", "queues").stdout.splitlines()
    assert queues[1].split()[:3] == ["6400", "Sales", "2/2"]
    out = run(switch, "agent", "resume", "1003", "6400")
    assert out.returncode == 0


def test_refusals_print_the_switchs_reason(switch: switchproc.SwitchProcess) -> None:
    out = run(switch, "agent", "pause", "1002", "6400", user="1004")
    assert out.returncode == 1
    assert "403 1004 lacks the permission to change agent status (P1)" in out.stderr
    out = run(switch, "show", "registrations", user="1001")
    assert out.returncode == 1 and "403 1001 is not an admin" in out.stderr
    out = run(switch, "agent", "signout", "1002", "6400")
    assert out.returncode == 1 and "409" in out.stderr and "static" in out.stderr
    out = run(switch, "agent", "resume", "1002", "6400", "--reason", "x")
    assert out.returncode == 2


def test_show_registrations_calls_and_bans(switch: switchproc.SwitchProcess) -> None:
    assert run(switch, "show", "registrations").stdout.strip() == "no registrations"
    calls = run(switch, "show", "calls")
    assert calls.returncode == 0 and calls.stdout.startswith("0 calls in progress")
    assert run(switch, "show", "bans").stdout.strip() == "no banned addresses"


def test_show_needs_credentials(switch: switchproc.SwitchProcess, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "softswitch", "show", "queues", "--config",
           str(switch.config_path)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=clean)
    assert out.returncode == 2 and "SOFTSWITCH_USER" in out.stderr


def test_presence_shown_and_set(switch: switchproc.SwitchProcess) -> None:
    out = run(switch, "presence", "1002", user="1002")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["extension 1002: available (not registered)",
                                       "  queue 6400: signed in"]
    out = run(switch, "presence", "1002", "lunch", user="1002")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["extension 1002: lunch (not registered)",
                                       "  queue 6400: paused (Lunch)"]
    row = next(r for r in map(str.split, run(switch, "show", "agents").stdout.splitlines())
               if r[:2] == ["6400", "1002"])
    assert row[-1] == "lunch"
    out = run(switch, "presence", "1002", "lunch", user="1002")
    assert out.stdout.splitlines()[0].endswith("; unchanged")
    out = run(switch, "presence", "1002", "available", user="1003")
    assert out.returncode == 1 and "403 1003 lacks the permission" in out.stderr
    out = run(switch, "presence", "1002", "available", user="1001")  # P1 in 6400
    assert out.returncode == 0 and out.stdout.splitlines()[1] == "  queue 6400: signed in"
    out = run(switch, "presence", "1002", "offline")
    assert out.returncode == 2


def test_hangup_a_waiting_call(switch: switchproc.SwitchProcess) -> None:
    import asyncio

    from sipua import SipUA, sdp

    async def scenario() -> None:
        ua = await SipUA("1006", "pw-1006", switch.udp).start()
        ua.call_id = "cli-hangup"
        uri = "sip:6400@127.0.0.1"
        resp = await ua.request("INVITE", uri, to=f"<{uri}>", body=sdp(40100))
        assert resp.status == 200
        ua.send_raw(ua.build("ACK", uri, to=f"<{uri}>", to_tag=resp.to.tag,
                             cseq=int(resp.get("CSeq").split()[0])))
        calls = await asyncio.to_thread(run, switch, "show", "calls")
        assert "cli-hangup" in calls.stdout
        out = await asyncio.to_thread(run, switch, "hangup", "6400", "cli-hangup",
                                      user="1001")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "hung up queue call cli-hangup of queue 6400 (waiting)"
        bye = await ua.next_request("BYE")
        ua.reply(bye, 200)
        ua.close()
        out = await asyncio.to_thread(run, switch, "hangup", "6400", "cli-hangup",
                                      user="1001")
        assert out.returncode == 1 and "404" in out.stderr

    asyncio.run(scenario())
