"""Kamailio as a peer: in-memory registrar with digest auth that proxies to registered
contacts (see kamailio.cfg next to this file for the routing logic)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from benchmarks.peers.net import LOOPBACK, free_port, wait_sip_ready
from benchmarks.peers.process import ManagedProcess

TEMPLATE = Path(__file__).with_name("kamailio.cfg")
MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules")


def _kamailio_binary() -> str:
    for candidate in ("kamailio", "/usr/sbin/kamailio"):
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError("kamailio is not installed (Debian package `kamailio`)")


def _module_dir() -> str:
    for d in MODULE_DIRS:
        if Path(d, "tm.so").exists():
            return d
    raise RuntimeError(f"kamailio modules not found in {MODULE_DIRS}")


def _quote(value: str) -> str:
    if any(c in value for c in "\"\\\n\r$"):
        raise ValueError(f"password {value!r} has a character the config cannot hold")
    return value


class Kamailio:
    """A running Kamailio on loopback; `users` are (username, password) pairs."""

    def __init__(
        self,
        workdir: Path,
        users: Iterable[tuple[str, str]],
        *,
        port: int | None = None,
        children: int = 1,
        cpus: str | None = None,
        debug: int = 1,
    ) -> None:
        self.host = LOOPBACK
        self.port = port or free_port()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        pw_lines = "\n".join(
            f'\t$sht(pw=>{_quote(u)}) = "{_quote(p)}";' for u, p in users
        )
        cfg = (
            TEMPLATE.read_text()
            .replace("@@DEBUG@@", str(debug))
            .replace("@@CHILDREN@@", str(children))
            .replace("@@HOST@@", self.host)
            .replace("@@PORT@@", str(self.port))
            .replace("@@MPATH@@", _module_dir())
            .replace("@@SECRET@@", secrets.token_hex(8))
            .replace("@@PASSWORDS@@", pw_lines)
        )
        self.cfg_path = self.workdir / "kamailio.cfg"
        self.cfg_path.write_text(cfg)
        rundir = self.workdir / "run"
        rundir.mkdir(exist_ok=True)
        argv = [
            _kamailio_binary(),
            "-f", str(self.cfg_path),
            "-DD", "-E",                    # no daemon (but fork workers), log to stderr
            "-P", str(self.workdir / "kamailio.pid"),
            "-Y", str(rundir),              # runtime dir (control sockets)
            "-m", "128", "-M", "16",        # shared / private memory (MB)
            "-n", str(children),            # UDP workers per listener
        ]
        self.process = ManagedProcess(argv, self.workdir, "kamailio", cpus=cpus)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.process.start()
        if not wait_sip_ready(self.host, self.port, timeout=timeout, alive=self.process.alive):
            out = self.process.output()
            self.process.stop()
            raise RuntimeError(f"kamailio did not answer OPTIONS on {self.address}:\n{out}")

    def pids(self) -> list[int]:
        """All processes of this Kamailio (main and forked workers) share its process group."""
        import os

        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        pids.append(int(entry.name))
                except (ProcessLookupError, PermissionError):
                    pass
        return sorted(pids)

    def stop(self) -> int | None:
        return self.process.stop()

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
