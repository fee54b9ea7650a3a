"""`softswitch reload` and SIGHUP against a real `softswitch run` process: the pid file, a
broken file refused with file:line while the switch keeps its configuration, restart-only
keys named in a warning, SIGHUP applying the file instead of killing the process, and an
extension added by a reload able to REGISTER (tests/sipua.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from switchproc import SwitchProcess, base_config, start


def pid_file(sw: SwitchProcess) -> Path:
    """The switch's pid file, once written (right after the `switch ready` line)."""
    path = sw.config_path.parent / "var" / f"{sw.config_path.stem}.pid"
    deadline = time.monotonic() + 5
    while not path.exists():
        assert time.monotonic() < deadline, "no pid file"
        time.sleep(0.02)
    return path


def reload(sw: SwitchProcess) -> subprocess.CompletedProcess[str]:
    pid_file(sw)
    return subprocess.run([sys.executable, "-m", "softswitch", "reload", "--config",
                           str(sw.config_path)], capture_output=True, text=True, timeout=30)


def health(sw: SwitchProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{sw.ready['http']}/api/v1/health", timeout=5) as r:
        data: dict[str, Any] = json.load(r)
    return data


def write(sw: SwitchProcess, config: dict[str, Any]) -> None:
    sw.config_path.write_text(yaml.safe_dump(config))


def config(tmp_path: Path) -> dict[str, Any]:
    cfg = base_config(tmp_path)
    cfg["queues"] = [{"number": "6400", "name": "Sales", "static_agents": ["1001"]}]
    return cfg


def test_reload_applies_refuses_a_broken_file_and_sighup_does_not_kill(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    sw = start(tmp_path, cfg)
    try:
        pids = pid_file(sw)
        assert pids.read_text().strip() == str(sw.proc.pid)
        assert health(sw)["config_generation"] == 1

        cfg["extensions"].append({"number": "1004", "name": "New", "password": "pw-1004"})
        cfg["queues"][0]["static_agents"] = ["1001", "1004"]
        cfg["queues"].append({"number": "6401", "name": "Support",
                              "dynamic_agents": ["1002"]})
        write(sw, cfg)
        done = reload(sw)
        assert done.returncode == 0, done.stderr
        assert "extensions +1004" in done.stdout and "queues +6401 ~6400" in done.stdout
        assert health(sw)["config_generation"] == 2

        broken = dict(cfg, queues=[dict(cfg["queues"][0], strategy="sideways")])
        text = yaml.safe_dump(broken)
        line = next(i for i, s in enumerate(text.splitlines(), 1) if "sideways" in s)
        sw.config_path.write_text(text)
        refused = reload(sw)
        assert refused.returncode == 1
        assert f"{sw.config_path}:{line}: queues[0].strategy" in refused.stderr
        assert "not reloaded" in refused.stderr
        assert health(sw)["config_generation"] == 2  # nothing changed

        # a SIGHUP with the broken file: refused in the log, the process lives on
        os.kill(sw.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not sw.events("reload refused: the running configuration stays"):
            assert time.monotonic() < deadline, "no reload outcome logged"
            time.sleep(0.05)
        (event,) = sw.events("reload refused: the running configuration stays")
        assert any(p.startswith(f"{sw.config_path}:{line}:") for p in event["problems"])
        assert sw.proc.poll() is None

        # SIGHUP with a valid file applies it
        cfg["rtp"]["ports"] = "20000-20099"
        write(sw, cfg)
        os.kill(sw.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while health(sw)["config_generation"] != 3:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.05)
        (warning,) = sw.events("restart needed: these keys keep their running values until "
                               "the next start")
        assert warning["keys"] == ["rtp.ports"]
        assert sw.proc.poll() is None
    finally:
        assert sw.stop() == 0
    assert not pids.exists()


def test_reload_without_a_running_switch_says_so(tmp_path: Path) -> None:
    path = tmp_path / "switch.yaml"
    path.write_text(yaml.safe_dump(config(tmp_path)))
    done = subprocess.run([sys.executable, "-m", "softswitch", "reload", "--config",
                           str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "no running switch found" in done.stderr


async def test_reload_changes_who_may_register(tmp_path: Path) -> None:
    """Added extension registers, a changed password is the one asked for, a removed
    extension's registration is dropped at once."""
    from sipua import SipUA

    cfg = config(tmp_path)
    sw = start(tmp_path, cfg)
    phones: list[SipUA] = []

    async def ua(user: str, password: str) -> SipUA:
        phone = await SipUA(user, password, sw.udp).start()
        phones.append(phone)
        return phone

    try:
        gone = await ua("1003", "pw-1003")
        assert (await gone.register()).status == 200
        assert health(sw)["registrations"] == 1
        cfg["extensions"] = [e for e in cfg["extensions"] if e["number"] != "1003"]
        cfg["extensions"].append({"number": "1004", "name": "New", "password": "pw-1004"})
        for e in cfg["extensions"]:
            if e["number"] == "1002":
                e["password"] = "changed-1002"
        write(sw, cfg)
        done = reload(sw)
        assert done.returncode == 0, done.stderr
        assert "extensions +1004 -1003 ~1002" in done.stdout
        assert health(sw)["registrations"] == 0  # 1003's phone was dropped
        assert (await (await ua("1004", "pw-1004")).register()).status == 200
        assert (await (await ua("1002", "pw-1002")).register()).status != 200
        assert (await (await ua("1002", "changed-1002")).register()).status == 200
        assert (await (await ua("1003", "pw-1003")).register()).status != 200
    finally:
        for phone in phones:
            phone.close()
        assert sw.stop() == 0


async def test_call_of_a_removed_extension_goes_on_until_hung_up(tmp_path: Path) -> None:
    from sipua import SipUA
    from test_switch_calls import (
        Phones,
        answered_call,
        in_dialog,
        media_addr,
        recv,
        rtp_packet,
        rtp_socket,
    )

    cfg = config(tmp_path)
    sw = start(tmp_path, cfg)
    caller = await SipUA("1001", "pw-1001", sw.udp).start()
    callee = await SipUA("1002", "pw-1002", sw.udp).start()
    p = Phones(caller, callee, rtp_socket(), rtp_socket())
    try:
        assert (await callee.register()).status == 200
        ok, req = await answered_call(p)
        cfg["extensions"] = [e for e in cfg["extensions"] if e["number"] != "1002"]
        write(sw, cfg)
        done = reload(sw)
        assert done.returncode == 0 and "extensions -1002" in done.stdout, done.stderr
        assert health(sw)["registrations"] == 0
        assert health(sw)["active_calls"] == 1
        # the audio still flows both ways, and the BYE still reaches the other side
        to_callee, to_caller = media_addr(req.body), media_addr(ok.body)
        for i in range(3):
            p.caller_rtp.sendto(rtp_packet(i, b"\xaa" * 160), to_caller)
            p.callee_rtp.sendto(rtp_packet(i, b"\x55" * 160, ssrc=0x99), to_callee)
        assert (await recv(p.callee_rtp))[12:] == b"\xaa" * 160
        assert (await recv(p.caller_rtp))[12:] == b"\x55" * 160
        callee.send_raw(in_dialog(callee, "BYE", req, we_are_caller=False))
        assert (await callee.response()).status == 200
        bye = await caller.next_request("BYE")
        caller.reply(bye, 200)
    finally:
        for s in (p.caller_rtp, p.callee_rtp):
            s.close()
        caller.close()
        callee.close()
        assert sw.stop() == 0
