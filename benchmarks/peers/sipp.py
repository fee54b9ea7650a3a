"""Running sipp (SIPp 3.x) and reading its results.

sipp writes its cumulative counters with `-trace_stat` (a `;`-separated CSV, last row = final
state) and every response-time sample with `-trace_rtt -rtt_freq 1`; this module reads both,
so a caller gets successful/failed call counts and response-time percentiles without scraping
the screen.

Digest credentials per line of the injection file: sipp 3.6 cannot nest `[fieldN]` inside
`[authentication ...]` in a scenario, but it does parse an `[authentication ...]` keyword that
comes *from* an injected field at run time (call.cpp, E_Message_Injection). So the CSV files
written by `injection_file()` carry the whole keyword as their last field, and the scenarios
put that field on its own line.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.peers.net import wait_tcp_listening, wait_udp_bound
from benchmarks.peers.process import pinned

BENCH_SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if not found:
        raise RuntimeError("sipp is not installed (Debian package `sip-tester`)")
    return found


def injection_file(path: Path, rows: Iterable[Sequence[str]], *, order: str = "SEQUENTIAL",
                   auth: tuple[int, int] | None = (0, 1)) -> Path:
    """Write a sipp -inf file; with `auth=(user_field, password_field)` an
    `[authentication username=U password=P]` keyword is appended to every row as the last
    field (see the module docstring)."""
    lines = [order]
    for row in rows:
        cols = [str(c) for c in row]
        for c in cols:
            if ";" in c or "\n" in c:
                raise ValueError(f"sipp injection field {c!r} may not contain ';' or a newline")
        if auth is not None:
            user, password = cols[auth[0]], cols[auth[1]]
            if " " in user or " " in password or "]" in password:
                raise ValueError(f"credentials {user!r}/{password!r} cannot go into sipp")
            cols.append(f"[authentication username={user} password={password}]")
        lines.append(";".join(cols))
    path.write_text("\n".join(lines) + "\n")
    return path


def _epoch(stamp: str | None) -> float:
    """sipp's time stamp `YYYY-MM-DD<TAB>HH:MM:SS.us<TAB>EPOCH.us` as epoch seconds."""
    try:
        return float((stamp or "").split("\t")[-1])
    except ValueError:
        return 0.0


@dataclass
class SippResult:
    """What one sipp run achieved."""

    scenario: str
    returncode: int | None
    successful: int = 0
    failed: int = 0
    created: int = 0
    retransmissions: int = 0
    elapsed_s: float = 0.0
    rtt_ms: list[float] = field(default_factory=list)
    counters: dict[str, str] = field(default_factory=dict)
    output: str = ""

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of response time 1, in ms (nearest rank); NaN if none."""
        if not self.rtt_ms:
            return math.nan
        data = sorted(self.rtt_ms)
        rank = max(1, math.ceil(q / 100.0 * len(data)))
        return data[min(rank, len(data)) - 1]

    @property
    def rate(self) -> float:
        """Successful calls per second over the run."""
        return self.successful / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def failure_counters(self) -> dict[str, int]:
        """The non-zero `Failed*(C)` counters, e.g. {'FailedTimeoutOnRecv': 3}."""
        out = {}
        for key, value in self.counters.items():
            if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)":
                try:
                    n = int(value)
                except ValueError:
                    continue
                if n:
                    out[key[:-3]] = n
        return out

    def summary(self) -> str:
        p50, p95, p99 = (self.percentile(q) for q in (50, 95, 99))
        return (f"{self.scenario}: ok={self.successful} failed={self.failed} "
                f"created={self.created} in {self.elapsed_s:.1f}s  rt p50={p50:.1f} "
                f"p95={p95:.1f} p99={p99:.1f} ms  {self.failure_counters() or ''}")


class Sipp:
    """One sipp process (client or server scenario) with its traces in `workdir`.

    `remote` is "host:port" for client scenarios and None for a server (uas) scenario.
    `keys` become `-key NAME VALUE` (used in scenarios as [NAME]).
    """

    def __init__(
        self,
        scenario: Path | str,
        remote: str | None,
        workdir: Path,
        *,
        local_ip: str = "127.0.0.1",
        local_port: int | None = None,
        transport: str = "u1",
        rate: float | None = None,
        max_calls: int | None = None,
        limit: int | None = None,
        inf: Path | None = None,
        keys: dict[str, str] | None = None,
        duration_ms: int = 0,
        recv_timeout_ms: int = 5000,
        timeout_s: float | None = None,
        cpus: str | None = None,
        trace_msg: bool = False,
        name: str | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        scen = Path(scenario)
        if not scen.is_absolute() and not scen.exists():
            scen = BENCH_SCENARIOS / scen
        if not scen.exists():
            raise FileNotFoundError(f"sipp scenario not found: {scenario}")
        self.scenario = scen
        self.name = name or scen.stem
        self.workdir = Path(workdir) / self.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stat_path = self.workdir / "stat.csv"
        self.local_port = local_port
        self.transport = transport
        self.remote = remote
        argv = [sipp_binary()]
        if remote:
            argv.append(remote)
        argv += ["-sf", str(scen), "-i", local_ip, "-t", transport, "-nostdin",
                 "-trace_stat", "-stf", str(self.stat_path), "-fd", "1",
                 "-trace_rtt", "-rtt_freq", "1",
                 "-trace_err", "-error_file", str(self.workdir / "errors.log"),
                 "-trace_screen", "-screen_file", str(self.workdir / "screen.log"),
                 "-recv_timeout", str(recv_timeout_ms),
                 "-d", str(duration_ms),
                 "-max_socket", "2000",
                 # sipp's default socket buffers are 64 KiB: at >10k messages/s it drops
                 # responses itself and retransmits, which would be charged to the target
                 "-buff_size", str(8 * 1024 * 1024)]
        if local_port is not None:
            argv += ["-p", str(local_port)]
        if rate is not None:
            # -r is calls per -rp period; give sub-1/s and fractional rates exact periods.
            argv += ["-r", f"{rate:g}"] if float(rate).is_integer() else \
                ["-r", str(int(round(rate * 1000))), "-rp", "1000000"]
        if max_calls is not None:
            argv += ["-m", str(max_calls)]
        if limit is not None:
            argv += ["-l", str(limit)]
        if inf is not None:
            argv += ["-inf", str(inf)]
        if timeout_s is not None:
            argv += ["-timeout", f"{int(math.ceil(timeout_s))}s"]
        for k, v in (keys or {}).items():
            argv += ["-key", k, str(v)]
        if trace_msg:
            argv += ["-trace_msg", "-message_file", str(self.workdir / "messages.log")]
        argv += list(extra)
        self.argv = pinned(argv, cpus)
        self.proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._ended = 0.0

    def start(self) -> Sipp:
        self._out = open(self.workdir / "sipp.out", "wb")  # noqa: SIM115 (closed in wait)
        self._started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if self.remote is None and self.local_port:
            # a server scenario is only useful once it listens: wait for its socket
            bound = wait_tcp_listening if self.transport.startswith("t") else wait_udp_bound
            if not bound(self.local_port, alive=self.alive):
                raise RuntimeError(f"sipp {self.name} did not bind port {self.local_port}:\n"
                                   f"{self._result().output}")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for sipp to exit by itself (-m reached / -timeout); SIGKILL after `timeout`."""
        assert self.proc is not None, "start() first"
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        return self._result()

    def stop(self, grace: float = 8.0) -> SippResult:
        """Ask sipp to finish (SIGUSR1: stop placing calls, let open ones end), then SIGKILL."""
        assert self.proc is not None, "start() first"
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGUSR1)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self._result()

    def run(self, timeout: float | None = None) -> SippResult:
        return self.start().wait(timeout)

    def counters(self) -> dict[str, str]:
        """sipp's latest cumulative counters (written every second with -fd 1)."""
        rows = _read_stat_rows(self.stat_path)
        return rows[-1] if rows else {}

    def failed_so_far(self) -> int:
        return _int(self.counters().get("FailedCall(C)"))

    def messages(self) -> str:
        """The -trace_msg log (when trace_msg=True)."""
        p = self.workdir / "messages.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def _result(self) -> SippResult:
        assert self.proc is not None
        if not self._ended:
            self._ended = time.monotonic()
        if not self._out.closed:
            self._out.close()
        res = SippResult(scenario=self.name, returncode=self.proc.returncode)
        rows = _read_stat_rows(self.stat_path)
        if rows:
            last = rows[-1]
            res.counters = last
            res.successful = _int(last.get("SuccessfulCall(C)"))
            res.failed = _int(last.get("FailedCall(C)"))
            res.created = _int(last.get("TotalCallCreated"))
            res.retransmissions = _int(last.get("Retransmissions(C)"))
            res.elapsed_s = _epoch(last.get("CurrentTime")) - _epoch(last.get("StartTime"))
        if not res.elapsed_s:
            res.elapsed_s = self._ended - self._started
        res.rtt_ms = _read_rtt(self.workdir)
        res.output = _tail(self.workdir / "sipp.out") + _tail(self.workdir / "errors.log") \
            + _tail(self.workdir / "screen.log")
        return res


def _int(v: str | None) -> int:
    try:
        return int(v or 0)
    except ValueError:
        return 0


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return f"--- {path.name} ---\n{text[-limit:]}\n" if text.strip() else ""


def _read_stat_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f, delimiter=";")
            header = next(reader, None)
            if not header:
                return []
            return [dict(zip(header, row, strict=False)) for row in reader if row]
    except FileNotFoundError:
        return []


def _read_rtt(workdir: Path) -> list[float]:
    """Response time 1 samples (ms) from `<scenario>_<pid>_rtt.csv` (date_ms;rtt_ms;rtd_no)."""
    samples: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        with open(path, newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 3 and row[2].strip() in ("1", "rtd1"):
                    try:
                        samples.append(float(row[1]))
                    except ValueError:
                        continue
    return samples
