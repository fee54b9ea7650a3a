"""`softswitch run` as a process: bad configs and busy ports stop start-up cleanly, the
`switch ready` line, the health endpoint, SIGINT."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import switchproc
import yaml


def run(config_path: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "softswitch", "run", "--config",
                           str(config_path), "--log-format", "json"],
                          capture_output=True, text=True, timeout=timeout)


def test_bad_config_names_file_line_key_and_starts_nothing(tmp_path: Path) -> None:
    cfg = switchproc.base_config(tmp_path)
    cfg["sip"]["listen"].append("foo")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = run(path)
    assert res.returncode == 1
    assert f"{path}:" in res.stderr and "sip.listen[2]: expected transport:host:port" \
        in res.stderr
    assert "switch ready" not in res.stdout
    assert not (tmp_path / "switch.sqlite3").exists()  # not even the database was created


def test_busy_port_stops_start_up_with_exit_1(tmp_path: Path) -> None:
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    try:
        cfg = switchproc.base_config(tmp_path)
        port = busy.getsockname()[1]
        cfg["sip"]["listen"] = [f"udp:127.0.0.1:{port}"]
        path = tmp_path / "busy.yaml"
        path.write_text(yaml.safe_dump(cfg))
        res = run(path)
    finally:
        busy.close()
    assert res.returncode == 1
    events = [json.loads(line)["event"] for line in res.stdout.splitlines()
              if line.startswith("{")]
    assert "cannot start" in events and "switch ready" not in events
    assert f"cannot listen for SIP on udp:127.0.0.1:{port} (sip.listen): Address already in use" \
        in res.stdout
    assert events[-2:] == ["switch stopped", "exit"]


def test_ready_line_health_endpoint_and_sigint(tmp_path: Path) -> None:
    sw = switchproc.start(tmp_path, switchproc.base_config(tmp_path))
    try:
        ready = sw.ready
        assert ready["event"] == "switch ready"
        assert [a.split(":")[0] for a in ready["sip"]] == ["udp", "tcp"]
        assert all(not a.endswith(":0") for a in ready["sip"])  # the bound ports
        with urllib.request.urlopen(f"http://{ready['http']}/api/v1/health", timeout=5) as r:
            health = json.load(r)
        assert health["status"] == "ok" and health["active_calls"] == 0
    finally:
        assert sw.stop(signal.SIGINT) == 0
    assert sw.events("switch stopped")
