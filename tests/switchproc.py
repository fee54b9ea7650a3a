"""Start `softswitch run` as a real process for process-level tests (ports chosen by the OS:
every listener is configured with port 0 and the bound addresses are read from the
`switch ready` log line)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def base_config(workdir: Path, **sip: Any) -> dict[str, Any]:
    first = random.randrange(10000, 19800, 2)  # below the ephemeral ports (benchmarks.peers.net)
    return {
        "sip": {"listen": ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], "domain": "127.0.0.1",
                **sip},
        "rtp": {"ports": f"{first}-{first + 199}", "address": "127.0.0.1"},
        "http": {"listen": "127.0.0.1:0"},
        "database": f"sqlite:///{workdir / 'switch.sqlite3'}",
        "logging": {"format": "json", "level": "debug"},
        "extensions": [{"number": n, "name": f"Ext {n}", "password": f"pw-{n}"}
                       for n in ("1001", "1002", "1003")],
    }


@dataclass
class SwitchProcess:
    config_path: Path
    proc: subprocess.Popen[str]
    ready: dict[str, Any]
    lines: list[dict[str, Any]] = field(default_factory=list)
    log_path: Path | None = None

    @property
    def udp(self) -> tuple[str, int]:
        return self._addr("udp")

    @property
    def tcp(self) -> tuple[str, int]:
        return self._addr("tcp")

    def _addr(self, transport: str) -> tuple[str, int]:
        for entry in self.ready["sip"]:
            t, host, port = entry.rsplit(":", 2)
            if t == transport:
                return host, int(port)
        raise KeyError(transport)

    def log(self) -> list[dict[str, Any]]:
        assert self.log_path is not None
        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.log() if e.get("event") == name]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def start(workdir: Path, config: dict[str, Any], timeout: float = 20.0,
          name: str = "switch") -> SwitchProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    log_path = workdir / f"{name}.log"
    out = open(log_path, "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "softswitch", "run", "--config", str(path),
                             "--log-format", "json"], stdout=out, stderr=subprocess.STDOUT,
                            text=True, cwd=str(REPO), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            if '"switch ready"' in line:
                return SwitchProcess(path, proc, json.loads(line), log_path=log_path)
        if proc.poll() is not None:
            raise RuntimeError(f"switch exited {proc.returncode}:\n{log_path.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"switch not ready in {timeout}s:\n{log_path.read_text()}")
