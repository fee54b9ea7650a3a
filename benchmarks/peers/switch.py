"""The switch under test as a process: writes a config for loopback, starts
`softswitch run --config FILE --log-format json`, waits for its `switch ready` log event and
stops it with SIGTERM (which must end it cleanly, exit status 0).

Used by tests/interop/conftest.py (the `switch` fixture) and by benchmarks.sip_load.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.peers.net import LOOPBACK, free_port, free_port_range
from benchmarks.peers.process import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "config.example.yaml"
READY_EVENT = "switch ready"


def softswitch_binary() -> str:
    """The venv's `softswitch` console script (next to the running interpreter first)."""
    for candidate in (Path(sys.executable).with_name("softswitch"), REPO / ".venv/bin/softswitch"):
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("softswitch console script not found; run `make` (pip install -e .)")


@dataclass
class Extension:
    number: str
    password: str
    name: str = ""
    email: str = ""
    agent_id: str = ""

    def as_config(self) -> dict[str, str]:
        d = {"number": self.number, "name": self.name or f"Extension {self.number}",
             "password": self.password}
        if self.email:
            d["email"] = self.email
        if self.agent_id:
            d["agent_id"] = self.agent_id
        return d


def build_config(
    workdir: Path,
    *,
    extensions: Iterable[Extension | dict[str, Any]] | None = None,
    keep_demo_extensions: bool = True,
    queues: list[dict[str, Any]] | None = None,
    overrides: dict[str, Any] | None = None,
    sip_port: int | None = None,
    rtp_ports: int = 400,
) -> dict[str, Any]:
    """config.example.yaml with everything that binds moved to free loopback ports and the
    database into `workdir` (the prompts stay the repository's); `extensions` are appended
    (or replace the demo ones), `overrides` are merged key by key (nested dicts merge,
    anything else replaces)."""
    config: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text()) or {}
    port = sip_port or free_port()
    first, last = free_port_range(rtp_ports)
    config.setdefault("sip", {})
    config["sip"]["listen"] = [f"udp:{LOOPBACK}:{port}", f"tcp:{LOOPBACK}:{port}"]
    config["sip"]["domain"] = LOOPBACK
    config.setdefault("rtp", {})["ports"] = f"{first}-{last}"
    config.setdefault("http", {})["listen"] = f"{LOOPBACK}:{free_port(udp=False)}"
    config["database"] = f"sqlite:///{workdir / 'softswitch.sqlite3'}"
    # the file is written into workdir: keep its relative prompts directory the repo's
    config.setdefault("prompts", {})["directory"] = str(REPO / "prompts")
    exts = list(config.get("extensions") or []) if keep_demo_extensions else []
    for e in extensions or []:
        exts.append(e.as_config() if isinstance(e, Extension) else dict(e))
    config["extensions"] = exts
    if queues is not None:
        config["queues"] = queues
    if queues is not None or not keep_demo_extensions:
        # the demo's applications and scheduled reports name the demo queues and
        # extensions: a test that replaces those gets none of them (its overrides may add)
        for key in ("ivrs", "ring_groups", "call_flows", "group_voicemails",
                    "scheduled_reports"):
            config.pop(key, None)
        config.get("voicemail", {}).pop("boxes", None)
    if not keep_demo_extensions:
        # the demo's operators, pickup groups, presence choices and message queues name the
        # demo extensions
        config.pop("admins", None)
        config.get("pickup", {}).pop("groups", None)
        config.get("presence", {}).pop("extensions", None)
        config.pop("message_queues", None)
        config.pop("message_channels", None)  # the demo SIP channel routes to one of them
    if overrides:
        _merge(config, overrides)
    if config.get("smtp") is None:
        config.pop("scheduled_reports", None)  # they are sent by e-mail
    return config


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)


def _parse_listen(entry: str) -> tuple[str, str, int]:
    transport, host, port = entry.rsplit(":", 2)
    return transport.lower(), host, int(port)


@dataclass
class RunningSwitch:
    """What a test needs to talk to a started switch."""

    config: dict[str, Any]
    config_path: Path
    workdir: Path
    process: ManagedProcess
    ready_event: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return _parse_listen(self.config["sip"]["listen"][0])[1]

    def sip_port(self, transport: str = "udp") -> int:
        for entry in self.config["sip"]["listen"]:
            t, _, port = _parse_listen(entry)
            if t == transport:
                return port
        raise KeyError(f"switch has no {transport} listener: {self.config['sip']['listen']}")

    @property
    def port(self) -> int:
        return self.sip_port("udp")

    @property
    def address(self) -> str:
        """host:port of the UDP listener (what sipp takes as remote)."""
        return f"{self.host}:{self.port}"

    @property
    def domain(self) -> str:
        return str(self.config["sip"].get("domain", self.host))

    @property
    def http_url(self) -> str:
        return f"http://{self.config['http']['listen']}"

    @property
    def db_path(self) -> Path:
        return Path(self.config["database"].removeprefix("sqlite:///"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def uri(self, user: str, transport: str = "udp") -> str:
        suffix = "" if transport == "udp" else f";transport={transport}"
        return f"sip:{user}@{self.host}:{self.sip_port(transport)}{suffix}"

    def password(self, number: str) -> str:
        for e in self.config.get("extensions") or []:
            if str(e.get("number")) == str(number):
                return str(e["password"])
        raise KeyError(f"no extension {number} in the config")

    def log_lines(self) -> list[dict[str, Any]]:
        """Every JSON log line the switch printed so far (stdout and stderr), in order."""
        return read_json_lines(self.process)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.log_lines() if e.get("event") == name]

    def output(self) -> str:
        return self.process.output()

    def alive(self) -> bool:
        return self.process.alive()

    def stop(self, timeout: float = 15.0) -> int | None:
        return self.process.stop(timeout, signal.SIGTERM)


def read_json_lines(process: ManagedProcess) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in (process.stdout_path, process.stderr_path):
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    out.append(obj)
    return out


class SwitchStartError(RuntimeError):
    pass


def start_switch(
    workdir: Path,
    config: dict[str, Any],
    *,
    cpus: str | None = None,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> RunningSwitch:
    """Write `config`, start the switch, wait for `switch ready`; raises SwitchStartError with
    the process output when it exits or does not get ready within `timeout` seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "softswitch.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [softswitch_binary(), "run", "--config", str(config_path), "--log-format", "json"]
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    if env:
        full_env.update(env)
    process = ManagedProcess(argv, workdir, "softswitch", cpus=cpus, env=full_env, cwd=REPO)
    process.start()
    running = RunningSwitch(config=config, config_path=config_path, workdir=workdir,
                            process=process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = running.events(READY_EVENT)
        if ready:
            running.ready_event = ready[0]
            return running
        if not process.alive():
            raise SwitchStartError(
                f"softswitch exited with status {process.proc.returncode if process.proc else '?'}"
                f" before `{READY_EVENT}`:\n$ {' '.join(argv)}\n{process.output()}")
        time.sleep(0.05)
    process.stop(5, signal.SIGKILL)
    raise SwitchStartError(
        f"softswitch did not log `{READY_EVENT}` within {timeout:.0f}s:\n"
        f"$ {' '.join(argv)}\n{process.output()}")
