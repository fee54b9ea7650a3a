"""Sippy B2BUA (pip `sippy`) as the peer for call load: `sippy.b2bua_simple` listening on a
loopback port and sending every INVITE on to one fixed next hop (the sipp uas).

b2bua_simple is Sippy's two-leg B2BUA without RTP proxying and without authentication: it
terminates the caller's dialog and originates a new one to the next hop, relaying SDP as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks.peers.net import LOOPBACK, free_port, wait_sip_ready
from benchmarks.peers.process import ManagedProcess


class SippyB2BUA:
    def __init__(self, workdir: Path, next_hop: str, *, port: int | None = None,
                 cpus: str | None = None) -> None:
        self.host = LOOPBACK
        self.port = port or free_port()
        self.next_hop = next_hop
        argv = [sys.executable, "-m", "sippy.b2bua_simple", "-f", "-l", self.host,
                "-p", str(self.port), "-n", next_hop]
        # Its SIP message log (stderr by default) off, as a production deployment would run.
        env = dict(os.environ, SIPLOG_BEND="none", PYTHONUNBUFFERED="1")
        self.process = ManagedProcess(argv, Path(workdir), "sippy", cpus=cpus, env=env)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.process.start()
        # b2bua_simple answers OPTIONS with 501, which is a response all the same.
        if not wait_sip_ready(self.host, self.port, timeout=timeout, alive=self.process.alive):
            out = self.process.output()
            self.process.stop()
            raise RuntimeError(f"Sippy B2BUA did not answer on {self.address}:\n{out}")

    def stop(self) -> int | None:
        return self.process.stop()

    def __enter__(self) -> SippyB2BUA:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
