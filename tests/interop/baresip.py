"""baresip (Debian package) as a headless softphone for interop tests.

Audio: the `aufile` module sends a WAV file we generate (a tone or a prompt) as the
microphone; the `sndfile` filter module writes what the phone sends (`*-enc.wav`) and what it
receives and decodes (`*-dec.wav`) to `snd_path`; playback goes to `aubridge` with a device
nobody reads, so no sound card (ALSA) is touched. Codecs: g711 only.

Control: the `ctrl_tcp` module (JSON in netstrings on a loopback TCP port): commands such as
`dial`, `accept`, `hangup`, and events `REGISTER_OK`, `CALL_INCOMING`, `CALL_ESTABLISHED`,
`CALL_CLOSED`, ... which this driver collects.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.peers.net import LOOPBACK, free_port

MODULE_DIRS = ("/usr/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules")


class BaresipError(AssertionError):
    pass


@dataclass
class BaresipAccount:
    user: str
    password: str
    host: str
    port: int
    transport: str = "udp"
    answermode: str = "manual"  # manual | auto (answers every call by itself)
    regint: int = 300  # 0: do not register

    def line(self) -> str:
        params = [f"auth_pass={self.password}", f"answermode={self.answermode}",
                  f"regint={self.regint}", "audio_codecs=pcmu,pcma", "ptime=20"]
        return (f"<sip:{self.user}@{self.host}:{self.port};transport={self.transport}>;"
                + ";".join(params))

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.host}:{self.port};transport={self.transport}"


def _module_dir() -> str:
    for d in MODULE_DIRS:
        if Path(d, "g711.so").exists():
            return d
    raise BaresipError(f"baresip modules not found in {MODULE_DIRS}")


class Baresip:
    """One baresip process. `source_wav` is what it sends in calls (8 kHz mono WAV)."""

    def __init__(self, workdir: Path, name: str, source_wav: Path,
                 accounts: list[BaresipAccount]) -> None:
        binary = shutil.which("baresip")
        if binary is None:
            raise BaresipError("baresip is not installed (Debian package `baresip`)")
        self.name = name
        self.dir = Path(workdir) / name
        self.snd_dir = self.dir / "snd"
        self.snd_dir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port()
        self.ctrl_port = free_port(udp=False)
        rtp_first = 20000 + (self.ctrl_port % 2000) * 10
        config = f"""\
poll_method\t\tepoll
sip_listen\t\t{LOOPBACK}:{self.sip_port}
call_local_timeout\t120
call_max_calls\t\t4
audio_buffer\t\t20
audio_player\t\taubridge,{name}-nowhere
audio_alert\t\taubridge,{name}-nowhere
audio_source\t\taufile,{source_wav}
ausrc_srate\t\t8000
auplay_srate\t\t8000
ausrc_channels\t\t1
auplay_channels\t\t1
audio_level\t\tno
rtp_stats\t\tno
rtp_ports\t\t{rtp_first}-{rtp_first + 9}
jitter_buffer_delay\t1-10
net_interface\t\t{LOOPBACK}
module_path\t\t{_module_dir()}
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
snd_path\t\t{self.snd_dir}
module_tmp\t\tuuid.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t{LOOPBACK}:{self.ctrl_port}
"""
        (self.dir / "config").write_text(config)
        (self.dir / "accounts").write_text("\n".join(a.line() for a in accounts) + "\n")
        (self.dir / "contacts").write_text("")
        self.accounts = accounts
        self.log_path = self.dir / "baresip.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([binary, "-f", str(self.dir), "-v"], stdin=subprocess.PIPE,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)
        self.events: list[dict[str, Any]] = []
        self._responses: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._token = 0
        self._sock = self._connect()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # --- control channel ----------------------------------------------------------------------
    def _connect(self, timeout: float = 10.0) -> socket.socket:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BaresipError(f"{self.name}: baresip exited ({self.proc.returncode})\n"
                                   f"{self.log()}")
            try:
                return socket.create_connection((LOOPBACK, self.ctrl_port), timeout=1)
            except OSError:
                time.sleep(0.05)
        raise BaresipError(f"{self.name}: ctrl_tcp did not open\n{self.log()}")

    def _read(self) -> None:
        buf = b""
        self._sock.settimeout(None)
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while True:
                colon = buf.find(b":")
                if colon < 0:
                    break
                size = int(buf[:colon])
                if len(buf) < colon + 1 + size + 1:
                    break
                payload = buf[colon + 1: colon + 1 + size]
                buf = buf[colon + 1 + size + 1:]  # skip the trailing ','
                try:
                    msg = json.loads(payload)
                except ValueError:
                    continue
                with self._cond:
                    if msg.get("response"):
                        self._responses[str(msg.get("token"))] = msg
                    else:
                        msg["t"] = time.monotonic()
                        self.events.append(msg)
                    self._cond.notify_all()
        with self._cond:
            self.events.append({"type": "EXITED", "t": time.monotonic()})
            self._cond.notify_all()

    def command(self, command: str, params: str = "", timeout: float = 10.0) -> str:
        """Run a baresip command (as typed in its menu, long form) and return its output."""
        with self._cond:
            self._token += 1
            token = str(self._token)
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._sock.sendall(str(len(body)).encode() + b":" + body + b",")
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BaresipError(f"{self.name}: no response to {command}\n{self.log()}")
                self._cond.wait(left)
            resp = self._responses.pop(token)
        if not resp.get("ok", False):
            raise BaresipError(f"{self.name}: {command} {params} failed: {resp.get('data')}")
        return str(resp.get("data", ""))

    def wait_event(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
                   what: str = "event", since: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if pred(e):
                        return e
                    if e["type"] == "EXITED":
                        raise BaresipError(f"{self.name}: exited waiting for {what}\n"
                                           f"{self.log()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [e.get("type") for e in self.events]
                    raise BaresipError(f"{self.name}: no {what} in {timeout}s (events: {seen})"
                                       f"\n{self.log()}")
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def log(self, chars: int = 4000) -> str:
        try:
            return "--- baresip log ---\n" + self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    # --- phone operations ---------------------------------------------------------------------
    def registration_status(self) -> dict[str, str]:
        """{user: 'OK' | 'ERR' | 'zzz' ...} from the `reginfo` command."""
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.command("reginfo"))
        status: dict[str, str] = {}
        for line in text.splitlines():
            m = re.match(r"^[> ]\s*sip:([^@\s]+)@\S+\s+(\S+)", line)
            if m:
                status[m.group(1)] = m.group(2)
        return status

    def wait_registered(self, timeout: float = 10.0) -> dict[str, str]:
        """Wait until every registering account has a result; raise unless all are OK.
        (Registration starts at launch, before the control channel is up, so this polls
        `reginfo` instead of waiting for REGISTER_OK events.)"""
        wanted = {a.user for a in self.accounts if a.regint}
        deadline = time.monotonic() + timeout
        while True:
            status = self.registration_status()
            done = {u: status.get(u, "") for u in wanted}
            if all(v in ("OK", "ERR") for v in done.values()):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if any(v != "OK" for v in done.values()):
            raise BaresipError(f"{self.name}: registration failed: {done}\n{self.log()}")
        return done

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def accept(self) -> None:
        self.command("accept")

    def transfer(self, uri: str) -> None:
        """Blind transfer of the current call's remote party to `uri` (menu `/transfer`:
        a REFER, RFC 3515)."""
        self.command("transfer", uri)

    def hangup(self) -> None:
        self.command("hangup")

    def wait_call_event(self, kind: str, timeout: float = 10.0, since: int = 0
                        ) -> dict[str, Any]:
        """CALL_INCOMING, CALL_RINGING, CALL_PROGRESS, CALL_ESTABLISHED, CALL_CLOSED ..."""
        return self.wait_event(lambda e: e.get("type") == kind, timeout=timeout, what=kind,
                               since=since)

    def recordings(self) -> dict[str, list[Path]]:
        """WAVs written by sndfile: 'dec' = what this phone received, 'enc' = what it sent."""
        out: dict[str, list[Path]] = {"dec": [], "enc": []}
        for p in sorted(self.snd_dir.glob("*.wav"), key=lambda p: p.stat().st_mtime):
            out["dec" if p.stem.endswith("dec") else "enc"].append(p)
        return out

    def received_wav(self) -> Path:
        """The most recent recording of received audio (ends when the call is closed)."""
        rec = self.recordings()["dec"]
        if not rec:
            raise BaresipError(f"{self.name}: no received-audio recording in {self.snd_dir}")
        return rec[-1]

    def close(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit", timeout=2)
            except (BaresipError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:
            self._sock.close()
        except OSError:
            pass
        self._log.close()
