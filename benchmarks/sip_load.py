"""SIP load benchmark: REGISTER-with-digest rate and extension-to-extension call rate of the
switch, and of its peers under the same load: Kamailio (in-memory registrar, digest auth) for
REGISTER, Sippy B2BUA for calls.

    python -m benchmarks.sip_load [--quick] [--only register|calls] [--out DIR]

Method (benchmarks/README.md has the long form):
- "cores a/b" in a step line: how busy the target's core and sipp's core were in total
  (every process on them, not only ours) - the machine is shared.
- The system under test runs pinned to CPU 0 (`taskset -c 0`, every process and thread of
  it: the switch's one process, Kamailio's main + 1 UDP worker + timers, Sippy's process);
  sipp, the load generator, runs pinned to CPU 1. On a one-CPU machine nothing is pinned.
- Rates are stepped up (each step a fresh sipp run of `rate x step_seconds` calls at a fixed
  rate); a step passes when every call succeeded and sipp achieved >= 90 % of the asked
  rate. After the first failing step one step halfway between is tried. The result is the
  highest passing rate. Response-time percentiles come from sipp's per-call `-trace_rtt`
  samples of that step (1 ms resolution).
- REGISTER: 200 extensions re-registering in turn (scenario benchmarks/sipp/register_auth.xml:
  REGISTER, 401, REGISTER with Authorization, 200); digest MD5 for both (sipp 3.6 has no
  SHA-256), so the switch is configured with `sip.auth.algorithms: [MD5]`.
- Calls: sipp uac -> target -> sipp uas; the switch's 500 caller extensions authenticate
  (407) and call one callee extension registered with the uas as contact (sipp 3.6 sets the
  digest `uri=` per run with -auth_uri, not per call, so one Request-URI per run); Sippy's
  b2bua_simple takes unauthenticated INVITEs and sends them to the uas. Each call: INVITE,
  180, 200 with SDP (PCMU), ACK, 500 ms hold, BYE, 200. sipp sends no RTP; the switch still
  allocates a relay.
- `failed_calls` is the number of failed calls (at the caller or at the callee) in a 10 s
  run at the target rate (200 calls/s).

The last line printed is one JSON object (the keys issue 2 asks for, the peers' figures,
percentiles and whether each target is met).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.peers.kamailio import Kamailio
from benchmarks.peers.net import LOOPBACK, free_port
from benchmarks.peers.sipp import Sipp, SippResult, injection_file
from benchmarks.peers.sippy_b2bua import SippyB2BUA
from benchmarks.peers.switch import Extension, RunningSwitch, build_config, start_switch

REGISTER_TARGET = 1000.0
REGISTER_SHARE_OF_KAMAILIO = 0.25
CALLS_TARGET = 200.0
HOLD_MS = 500
DOMAIN = LOOPBACK

REG_USERS = [(f"3{i:03d}", f"reg-{i:03d}-pw") for i in range(200)]
CALLERS = [(f"4{i:03d}", f"caller-{i:03d}-pw") for i in range(500)]
# One callee extension takes every call (the switch forwards the phone's own 486, it does not
# invent "busy"): sipp 3.6 can only put one digest `uri=` per run (-auth_uri), and RFC 2617
# wants it equal to the Request-URI, so every INVITE of a run carries the same one.
CALLEES = [("5000", "callee-5000-pw")]
CALLEE_URI = f"{CALLEES[0][0]}@{DOMAIN}"
# A late 180 (sent before the 200 but overtaken by it: Sippy answers from another thread)
# arriving during the hold must not abort the call.
CALL_OPTIONS = ("-pause_msg_ign", "-auth_uri", CALLEE_URI)

REGISTER_STEPS = (250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 20000,
                  24000, 32000)
CALL_STEPS = (50, 100, 200, 300, 400, 600, 800, 1200)


def cpu_sets() -> tuple[str | None, str | None]:
    """(cpus of the system under test, cpus of the load generator)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = list(range(os.cpu_count() or 1))
    if len(cpus) < 2:
        return None, None
    return str(cpus[0]), ",".join(str(c) for c in cpus[1:])


def process_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (all their threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def core_times() -> dict[str, tuple[float, float]]:
    """{"cpu0": (busy, total), ...} jiffies from /proc/stat (everything running there)."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts and parts[0].startswith("cpu") and parts[0] != "cpu":
            vals = [float(v) for v in parts[1:9]]
            idle = vals[3] + vals[4]
            out[parts[0]] = (sum(vals) - idle, sum(vals))
    return out


def core_busy(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]],
              cpus: str | None) -> float:
    """Busy % of the given cores between two core_times() snapshots (all processes)."""
    if not cpus:
        return math.nan
    busy = total = 0.0
    for c in cpus.split(","):
        key = f"cpu{c}"
        if key in before and key in after:
            busy += after[key][0] - before[key][0]
            total += after[key][1] - before[key][1]
    return round(100 * busy / total, 1) if total else math.nan


@dataclass
class Step:
    rate: float
    attempted: int
    successful: int
    failed: int
    achieved: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_pct: float
    retransmissions: int
    passed: bool
    note: str = ""
    sut_core_busy_pct: float = math.nan  # the target's core, all processes on it
    gen_core_busy_pct: float = math.nan  # sipp's core(s), all processes on it


@dataclass
class Ramp:
    target: str
    kind: str
    steps: list[Step] = field(default_factory=list)

    @property
    def best(self) -> Step | None:
        ok = [s for s in self.steps if s.passed]
        return max(ok, key=lambda s: s.rate) if ok else None

    @property
    def best_rate(self) -> float:
        b = self.best
        return b.rate if b else 0.0

    @property
    def limited_by_top_step(self) -> bool:
        """True when even the highest step passed (the real limit is higher)."""
        return bool(self.steps) and all(s.passed for s in self.steps)


def run_step(make_sipp: Callable[[float, int], Sipp], rate: float, seconds: float,
             pids: Callable[[], list[int]], alive: Callable[[], bool],
             call_tail_s: float = 0.0) -> Step:
    """One fixed-rate sipp run. `call_tail_s` is how long the last call lasts after it was
    started (hold time), which is not part of the achieved call-start rate."""
    calls = max(1, int(rate * seconds))
    runner = make_sipp(rate, calls)
    cpu0 = process_cpu_seconds(pids())
    cores0 = core_times()
    res: SippResult = runner.run(timeout=seconds * 4 + 30)
    cpu_s = process_cpu_seconds(pids()) - cpu0
    cores1 = core_times()
    sut_cpus, gen_cpus = cpu_sets()
    busy = max(res.elapsed_s, 1e-3)
    cpu = cpu_s / busy * 100
    starting = max(res.elapsed_s - call_tail_s, 1e-3)
    achieved = res.successful / starting if res.elapsed_s > 0 else 0.0
    note = ""
    if not alive():
        note = "target died"
    elif res.failed:
        note = ", ".join(f"{k}={v}" for k, v in res.failure_counters().items()) or "failed"
    elif achieved < 0.9 * rate:
        note = "rate not reached"
    passed = (not note) and res.successful == calls
    if not passed and not note:
        note = f"only {res.successful}/{calls} completed"
    return Step(rate, calls, res.successful, res.failed, round(achieved, 1),
                res.percentile(50), res.percentile(95), res.percentile(99), round(cpu, 1),
                res.retransmissions, passed, note, core_busy(cores0, cores1, sut_cpus),
                core_busy(cores0, cores1, gen_cpus))


def ramp(target: str, kind: str, steps: tuple[int, ...], seconds: float,
         make_sipp: Callable[[float, int], Sipp], pids: Callable[[], list[int]],
         alive: Callable[[], bool], log: Callable[[str], None],
         call_tail_s: float = 0.0) -> Ramp:
    result = Ramp(target, kind)
    last_pass = 0.0
    for rate in steps:
        step = run_step(make_sipp, rate, seconds, pids, alive, call_tail_s)
        result.steps.append(step)
        log(_step_line(target, kind, step))
        if not step.passed:
            if last_pass and alive():
                mid = float(int((last_pass + rate) / 2))
                if mid not in (last_pass, rate):
                    s2 = run_step(make_sipp, mid, seconds, pids, alive, call_tail_s)
                    result.steps.append(s2)
                    log(_step_line(target, kind, s2))
            break
        last_pass = rate
        time.sleep(0.5)  # let retransmission timers of the previous step run out
    return result


def _step_line(target: str, kind: str, s: Step) -> str:
    return (f"  {target:<9} {kind:<8} {s.rate:>7.0f}/s  ok {s.successful:>6}/{s.attempted:<6}"
            f" failed {s.failed:>5}  got {s.achieved:>8.1f}/s  rt p50/95/99 "
            f"{_ms(s.p50_ms)}/{_ms(s.p95_ms)}/{_ms(s.p99_ms)} ms  cpu {s.cpu_pct:5.1f}% "
            f"(cores {_pct(s.sut_core_busy_pct)}/{_pct(s.gen_core_busy_pct)})  "
            f"{'PASS' if s.passed else 'FAIL'} {s.note}")


def _pct(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.0f}%"


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.0f}"


class Bench:
    def __init__(self, out: Path, quick: bool) -> None:
        self.out = out
        self.quick = quick
        self.sut_cpus, self.gen_cpus = cpu_sets()
        self.step_seconds = 2.0 if quick else 4.0
        self.call_step_seconds = 3.0 if quick else 5.0
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def sipp(self, scenario: str, remote: str | None, name: str, **kw: Any) -> Sipp:
        return Sipp(scenario, remote, self.out / "sipp", cpus=self.gen_cpus, name=name, **kw)

    # --- REGISTER ----------------------------------------------------------------------------
    def register_ramp(self, target: str, address: str, pids: Callable[[], list[int]],
                      alive: Callable[[], bool]) -> Ramp:
        inf = injection_file(self.out / f"reg-{target}.csv",
                             [(u, p, DOMAIN, f"{LOOPBACK}:5999") for u, p in REG_USERS])
        counter = iter(range(1000))

        def make(rate: float, calls: int) -> Sipp:
            return self.sipp("register_auth.xml", address, f"reg-{target}-{next(counter)}",
                             inf=inf, rate=rate, max_calls=calls, recv_timeout_ms=4000,
                             limit=max(200, int(rate)))

        steps = REGISTER_STEPS[:6] if self.quick else REGISTER_STEPS
        return ramp(target, "REGISTER", steps, self.step_seconds, make, pids, alive, self.log)

    # --- calls --------------------------------------------------------------------------------
    def call_ramp(self, target: str, address: str, scenario: str, inf: Path,
                  pids: Callable[[], list[int]], alive: Callable[[], bool]) -> Ramp:
        counter = iter(range(1000))

        def make(rate: float, calls: int) -> Sipp:
            return self.sipp(scenario, address, f"calls-{target}-{next(counter)}", inf=inf,
                             rate=rate, max_calls=calls, duration_ms=HOLD_MS,
                             recv_timeout_ms=8000, limit=max(100, int(rate * 4)),
                             extra=CALL_OPTIONS)

        steps = CALL_STEPS[:5] if self.quick else CALL_STEPS
        return ramp(target, "calls", steps, self.call_step_seconds, make, pids, alive,
                    self.log, call_tail_s=HOLD_MS / 1000)

    def fixed_run(self, target: str, address: str, scenario: str, inf: Path, rate: float,
                  seconds: float, pids: Callable[[], list[int]],
                  alive: Callable[[], bool]) -> Step:
        def make(r: float, calls: int) -> Sipp:
            return self.sipp(scenario, address, f"fixed-{target}", inf=inf, rate=r,
                             max_calls=calls, duration_ms=HOLD_MS, recv_timeout_ms=8000,
                             limit=max(100, int(r * 4)), extra=CALL_OPTIONS)

        step = run_step(make, rate, seconds, pids, alive, call_tail_s=HOLD_MS / 1000)
        self.log(_step_line(target, "fixed", step))
        return step

    def uas(self, name: str) -> tuple[Sipp, int]:
        port = free_port()
        runner = self.sipp("uas.xml", None, name, local_port=port, recv_timeout_ms=30000)
        runner.start()  # returns once the uas listens
        return runner, port

    # --- targets ------------------------------------------------------------------------------
    def start_switch(self) -> RunningSwitch:
        exts = [Extension(u, p) for u, p in REG_USERS + CALLERS + CALLEES]
        workdir = self.out / "switch"
        config = build_config(workdir, extensions=exts, keep_demo_extensions=True,
                              rtp_ports=8000,
                              overrides={"sip": {"auth": {"algorithms": ["MD5"]}}})
        return start_switch(workdir, config, cpus=self.sut_cpus, timeout=60)

    def register_callees(self, target: str, address: str, uas_port: int) -> SippResult:
        inf = injection_file(self.out / f"callees-{target}.csv",
                             [(u, p, DOMAIN, f"{LOOPBACK}:{uas_port}") for u, p in CALLEES])
        res = self.sipp("register_auth.xml", address, f"callees-{target}", inf=inf, rate=50,
                        max_calls=len(CALLEES)).run(60)
        if res.failed or res.successful != len(CALLEES):
            raise RuntimeError(f"registering the callees at {target} failed: {res.summary()}"
                               f"\n{res.output[-3000:]}")
        return res


def _json_safe(value: Any) -> Any:
    """NaN (no samples) becomes null: the last line must be strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def call_rows() -> list[tuple[str, ...]]:
    return [(u, p, DOMAIN, CALLEES[i % len(CALLEES)][0]) for i, (u, p) in enumerate(CALLERS)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sip_load", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="shorter steps, fewer of them")
    ap.add_argument("--only", choices=["register", "calls"], help="run one half only")
    ap.add_argument("--skip-peers", action="store_true", help="measure the switch only")
    ap.add_argument("--out", type=Path, help="where sipp traces and logs go (default: temp)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="sip_load-"))
    out.mkdir(parents=True, exist_ok=True)
    b = Bench(out, args.quick)
    started = time.monotonic()
    b.log(f"sip_load: system under test on CPU {b.sut_cpus or 'any'}, sipp on CPU "
          f"{b.gen_cpus or 'any'}; traces in {out}")
    results: dict[str, Any] = {}
    ramps: list[Ramp] = []
    errors: list[str] = []

    # ---------------- REGISTER ----------------
    kam_ramp = sw_reg_ramp = None
    if args.only in (None, "register"):
        if not args.skip_peers:
            kam = Kamailio(out / "kamailio", REG_USERS + CALLERS + CALLEES, cpus=b.sut_cpus)
            kam.start()
            try:
                kam_ramp = b.register_ramp("kamailio", kam.address, kam.pids, kam.process.alive)
                ramps.append(kam_ramp)
            finally:
                kam.stop()
        try:
            sw = b.start_switch()
        except Exception as exc:  # noqa: BLE001 - reported in the JSON
            errors.append(f"switch did not start: {exc}")
            b.log(errors[-1])
        else:
            try:
                sw_reg_ramp = b.register_ramp("switch", sw.address, lambda: [sw.pid], sw.alive)
                ramps.append(sw_reg_ramp)
            finally:
                code = sw.stop()
                if code != 0:
                    errors.append(f"switch exit status {code} after REGISTER load")

    # ---------------- calls ----------------
    sippy_ramp = sw_call_ramp = None
    fixed: Step | None = None
    uas_failed_fixed = 0
    if args.only in (None, "calls"):
        if not args.skip_peers:
            uas, uas_port = b.uas("uas-sippy")
            sippy = SippyB2BUA(out / "sippy", f"{LOOPBACK}:{uas_port}", cpus=b.sut_cpus)
            sippy.start()
            try:
                inf = injection_file(out / "calls-sippy.csv", call_rows(), auth=None)
                sippy_ramp = b.call_ramp("sippy", sippy.address, "uac.xml", inf,
                                         lambda: [sippy.process.pid], sippy.process.alive)
                ramps.append(sippy_ramp)
            finally:
                sippy.stop()
                uas.stop()
        try:
            sw = b.start_switch()
        except Exception as exc:  # noqa: BLE001
            errors.append(f"switch did not start: {exc}")
            b.log(errors[-1])
        else:
            uas, uas_port = b.uas("uas-switch")
            try:
                b.register_callees("switch", sw.address, uas_port)
                inf = injection_file(out / "calls-switch.csv", call_rows())
                sw_call_ramp = b.call_ramp("switch", sw.address, "uac_auth.xml", inf,
                                           lambda: [sw.pid], sw.alive)
                ramps.append(sw_call_ramp)
                if sw.alive():
                    time.sleep(1.5)
                    uas_failed_before = uas.failed_so_far()
                    fixed = b.fixed_run("switch", sw.address, "uac_auth.xml", inf, CALLS_TARGET,
                                        10.0, lambda: [sw.pid], sw.alive)
                    time.sleep(2.0)  # the uas dumps its counters every second
                    uas_failed_fixed = uas.failed_so_far() - uas_failed_before
            except Exception as exc:  # noqa: BLE001
                errors.append(f"call load on the switch: {exc}")
                b.log(errors[-1])
            finally:
                uas_res = uas.stop()
                code = sw.stop()
                if code != 0:
                    errors.append(f"switch exit status {code} after call load")
                results["uas_failed_calls_switch"] = uas_res.failed

    # ---------------- report ----------------
    reg = sw_reg_ramp.best_rate if sw_reg_ramp else 0.0
    kam_rate = kam_ramp.best_rate if kam_ramp else 0.0
    calls = sw_call_ramp.best_rate if sw_call_ramp else 0.0
    sippy_rate = sippy_ramp.best_rate if sippy_ramp else 0.0
    # failed at the caller, never completed, or failed at the callee (e.g. ACK never came)
    failed_calls = fixed.failed + (fixed.attempted - fixed.successful - fixed.failed) \
        + uas_failed_fixed if fixed else None

    b.log("")
    b.log(f"{'target':<10}{'load':<10}{'max rate/s':>11}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'p99 ms':>8}{'cpu %':>7}  note")
    for r in ramps:
        best = r.best
        note = "top step passed: limit is higher" if r.limited_by_top_step else (
            f"next step: {r.steps[-1].note}" if r.steps and not r.steps[-1].passed else "")
        if best:
            b.log(f"{r.target:<10}{r.kind:<10}{best.rate:>11.0f}{_ms(best.p50_ms):>8}"
                  f"{_ms(best.p95_ms):>8}{_ms(best.p99_ms):>8}{best.cpu_pct:>7.0f}  {note}")
        else:
            b.log(f"{r.target:<10}{r.kind:<10}{'0':>11}{'-':>8}{'-':>8}{'-':>8}{'-':>7}  "
                  f"no step passed: {r.steps[0].note if r.steps else ''}")
    if fixed:
        b.log(f"switch at {CALLS_TARGET:.0f} calls/s for 10 s: {fixed.successful}/"
              f"{fixed.attempted} ok, {fixed.failed} failed at the caller, {uas_failed_fixed}"
              f" at the callee, p99 {_ms(fixed.p99_ms)} ms")
    for e in errors:
        b.log(f"ERROR: {e}")
    b.log(f"total time {time.monotonic() - started:.0f} s")

    def ratio(a: float, c: float) -> float | None:
        return round(a / c, 3) if c else None

    def per_core(r: Ramp | None) -> float | None:
        best = r.best if r else None
        if not best or not best.cpu_pct:
            return None
        return round(best.rate * 100.0 / best.cpu_pct)

    def best_dict(r: Ramp | None) -> dict[str, Any] | None:
        return asdict(r.best) if r and r.best else None

    results.update({
        "register_per_s": float(reg),
        "calls_per_s": float(calls),
        "failed_calls": failed_calls,
        "register_vs_kamailio": ratio(reg, kam_rate),
        "calls_vs_sippy": ratio(calls, sippy_rate),
        "kamailio_register_per_s": float(kam_rate),
        "sippy_calls_per_s": float(sippy_rate),
        "uas_failed_calls_at_200_per_s": uas_failed_fixed if fixed else None,
        "register_p99_ms": sw_reg_ramp.best.p99_ms if sw_reg_ramp and sw_reg_ramp.best else None,
        "calls_p99_ms": sw_call_ramp.best.p99_ms if sw_call_ramp and sw_call_ramp.best else None,
        # rate per fully used core (rate / CPU share at the best step): compares the
        # targets' cost per request when the generator, not the target, set the limit
        "register_per_core_s": per_core(sw_reg_ramp),
        "kamailio_register_per_core_s": per_core(kam_ramp),
        "calls_per_core_s": per_core(sw_call_ramp),
        "sippy_calls_per_core_s": per_core(sippy_ramp),
        "kamailio_limit_is_higher": bool(kam_ramp and kam_ramp.limited_by_top_step),
        "sippy_limit_is_higher": bool(sippy_ramp and sippy_ramp.limited_by_top_step),
        "switch": {"register": best_dict(sw_reg_ramp), "calls": best_dict(sw_call_ramp),
                   "fixed_200cps": asdict(fixed) if fixed else None},
        "kamailio": {"register": best_dict(kam_ramp)},
        "sippy": {"calls": best_dict(sippy_ramp)},
        "targets_met": {
            "register_1000_per_s": reg >= REGISTER_TARGET,
            "register_quarter_of_kamailio": bool(kam_rate)
            and reg >= REGISTER_SHARE_OF_KAMAILIO * kam_rate,
            "calls_200_per_s_zero_failed": calls >= CALLS_TARGET and failed_calls == 0,
            "calls_ahead_of_sippy": bool(sippy_rate) and calls > sippy_rate,
        },
        "cpu": {"system_under_test": b.sut_cpus, "sipp": b.gen_cpus},
        "errors": errors,
    })
    print(json.dumps(_json_safe(results)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
