"""Queue-call benchmark (issue 5): calls per second through a queue, concurrent waiting
callers hearing music, failed calls, and the time from an agent becoming free to that agent
ringing for the next waiting caller.

    python -m benchmarks.queue_load [--quick] [--out DIR]

Topology: the switch runs pinned to CPU 0 (`taskset -c 0`); sipp (callers, the agents' phones)
and the RTP sink run on the other core(s). Everything is on loopback; the machine is shared,
so each step line also shows how busy core 0 was in total ("core0") next to the switch's own
CPU ("cpu").

Agents: AGENTS extensions, static agents of queue 6400 (least recent), all registered by sipp
(benchmarks/sipp/register_auth.xml) with ONE sipp UAS as their contact
(benchmarks/sipp/queue_agent.xml: 180, 200, ACK, talk TALK_MS, BYE from the agent).
Callers: 200 extensions calling with digest auth (benchmarks/sipp/queue_caller.xml: the queue
answers at once with music; the caller stays until the switch hangs up after the agent did;
queue_waiter.xml: stays -d ms, then hangs up). Every caller's SDP points at the RTP sink of
this benchmark, which counts packets and distinct RTP streams (SSRC) per second.

Phases
1. Throughput: callers at a fixed rate into 6400 for STEP_S seconds per step; a step passes
   when every call succeeded (callers and agents), sipp placed >= 95 % of the asked rate and
   the switch's "agent answered" log lines show that many answers per second (median over
   the step's full seconds). `calls_per_s` = answers per second of the best passing step.
2. Waiting callers: queue 6401 has no signed-in agent (its only member is a dynamic agent
   who never signs in; join-empty is allowed), so every caller waits with music. WAITERS
   callers arrive at WAIT_RATE/s and each stays HOLD_S seconds; `waiting_callers` = distinct
   RTP streams the sink received in the quietest second of the window when all of them were
   connected (a caller counts only if music reached it), with every call successful.
3. Agent free -> ringing: queue 6402 has only FEW_AGENTS agents and callers arrive faster
   than they can serve, so callers are always waiting. Measured from the switch's JSON log
   (not from sipp): for every "agent hung up" line of an agent, the next "ringing agent" line
   for that agent; `agent_free_to_ring_ms` is the median (p95 beside it).

`failed_calls` is the sum of failed calls of every run of phases 1-3 (callers' and agents'
sipp), i.e. zero only if nothing failed anywhere. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.net import LOOPBACK, free_port
from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import Extension, RunningSwitch, build_config, start_switch
from benchmarks.sip_load import core_busy, core_times, cpu_sets, process_cpu_seconds

TARGET_CALLS_PER_S = 100.0
TARGET_WAITING = 1000
AGENTS = 200
TALK_MS = 1000
FEW_AGENTS = 10
CALLERS = [(f"5{i:03d}", f"caller-{i:03d}-pw") for i in range(200)]
AGENT_EXTS = [(f"2{i:03d}", f"agent-{i:03d}-pw") for i in range(AGENTS)]
DOMAIN = LOOPBACK


# --------------------------------------------------------------------------- RTP sink

def _sink(port: int, cpus: str | None, conn: Any) -> None:
    """Count RTP packets and distinct SSRCs per whole second until told to stop."""
    if cpus:
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind((LOOPBACK, port))
    s.settimeout(0.2)
    seconds: dict[int, list[Any]] = {}
    buf = bytearray(2048)
    conn.send("ready")
    while True:
        if conn.poll():
            conn.recv()
            break
        try:
            n = s.recv_into(buf)
        except TimeoutError:
            continue
        if n < 12:
            continue
        sec = int(time.time())
        entry = seconds.get(sec)
        if entry is None:
            entry = seconds[sec] = [0, set()]
        entry[0] += 1
        entry[1].add(struct.unpack_from("!I", buf, 8)[0])
    conn.send({sec: (v[0], len(v[1])) for sec, v in seconds.items()})


class RtpSink:
    def __init__(self, cpus: str | None) -> None:
        self.port = free_port(tcp=False)
        self._conn, child = mp.Pipe()
        self.proc = mp.Process(target=_sink, args=(self.port, cpus, child), daemon=True)
        self.proc.start()
        assert self._conn.recv() == "ready"

    def stop(self) -> dict[int, tuple[int, int]]:
        self._conn.send("stop")
        result: dict[int, tuple[int, int]] = self._conn.recv()
        self.proc.join(5)
        return result


# --------------------------------------------------------------------------- log reading

def _ts(line: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00")).timestamp()


def answers_per_second(lines: list[dict[str, Any]], start: float, end: float) -> float:
    """Median count of "agent answered" lines per whole second in [start, end)."""
    counts: dict[int, int] = {}
    for e in lines:
        if e.get("event") == "agent answered":
            t = _ts(e)
            if start <= t < end:
                counts[int(t)] = counts.get(int(t), 0) + 1
    full = [counts.get(s, 0) for s in range(int(start) + 1, int(end))]
    return float(statistics.median(full)) if full else 0.0


def free_to_ring_ms(lines: list[dict[str, Any]], start: float) -> list[float]:
    """For each "agent hung up" after `start`, ms until the next "ringing agent" of that
    agent (only when it rang again: a caller was waiting)."""
    free_at: dict[str, float] = {}
    gaps: list[float] = []
    for e in lines:
        event = e.get("event")
        if event not in ("agent hung up", "ringing agent"):
            continue
        t = _ts(e)
        if t < start:
            continue
        agent = str(e.get("agent"))
        if event == "agent hung up":
            free_at[agent] = t
        elif agent in free_at:
            gaps.append((t - free_at.pop(agent)) * 1000.0)
    return gaps


# --------------------------------------------------------------------------- the bench

class Bench:
    def __init__(self, out: Path, quick: bool) -> None:
        self.out = out
        self.quick = quick
        self.sut_cpus, self.gen_cpus = cpu_sets()
        self.lines: list[str] = []
        self.failed = 0
        self.sw: RunningSwitch | None = None
        self.sink: RtpSink | None = None
        self.agents: Sipp | None = None
        self._n = 0
        self.report_rows: dict[str, dict[str, int]] = {}

    def log(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def sipp(self, scenario: str, name: str, **kw: Any) -> Sipp:
        self._n += 1
        remote = None if kw.pop("uas", False) else self.address
        return Sipp(scenario, remote, self.out / "sipp", cpus=self.gen_cpus,
                    name=f"{self._n:02d}-{name}", **kw)

    @property
    def address(self) -> str:
        assert self.sw is not None
        return f"{LOOPBACK}:{self.sw.sip_port()}"

    def start(self) -> None:
        exts = [Extension(u, p) for u, p in AGENT_EXTS + CALLERS]
        agents = [u for u, _ in AGENT_EXTS]
        queues = [
            {"number": "6400", "name": "Load", "strategy": "least_recent",
             "static_agents": agents, "ring_timeout": 15, "retry_interval": 0, "wrapup": 0,
             "max_wait": 1800},
            {"number": "6401", "name": "Hold", "dynamic_agents": [agents[-1]],
             "max_wait": 1800},
            {"number": "6402", "name": "Few", "strategy": "least_recent",
             "static_agents": agents[:FEW_AGENTS], "ring_timeout": 15, "retry_interval": 0,
             "wrapup": 0, "max_wait": 1800},
        ]
        workdir = self.out / "switch"
        config = build_config(workdir, extensions=exts, keep_demo_extensions=False,
                              queues=queues, rtp_ports=6000,
                              overrides={"sip": {"auth": {"algorithms": ["MD5"]}},
                                         "smtp": None, "message_queues": []})
        self.sw = start_switch(workdir, config, cpus=self.sut_cpus, timeout=60)
        self.sink = RtpSink(self.gen_cpus)
        port = free_port()
        self.agents = self.sipp("queue_agent.xml", "agents", uas=True, local_port=port,
                                duration_ms=TALK_MS, recv_timeout_ms=600_000)
        self.agents.start()
        time.sleep(0.5)
        inf = injection_file(self.out / "agents.csv",
                             [(u, p, DOMAIN, f"{LOOPBACK}:{port}") for u, p in AGENT_EXTS])
        res = self.sipp("register_auth.xml", "register-agents", inf=inf, rate=100,
                        max_calls=len(AGENT_EXTS)).run(120)
        if res.failed or res.successful != len(AGENT_EXTS):
            raise RuntimeError(f"registering the agents failed: {res.summary()}")
        self.log(f"{len(AGENT_EXTS)} agents registered (contact: one sipp UAS on port {port}); "
                 f"switch on CPU {self.sut_cpus or 'any'}, sipp + RTP sink on CPU "
                 f"{self.gen_cpus or 'any'}; traces in {self.out}")
        time.sleep(1.0)  # the registrar's listeners tell the ACD (device registered)

    def callers(self, scenario: str, name: str, queue: str, rate: float, calls: int,
                **kw: Any) -> Sipp:
        assert self.sink is not None
        inf = injection_file(self.out / f"callers-{queue}.csv",
                             [(u, p, DOMAIN, queue) for u, p in CALLERS])
        return self.sipp(scenario, name, inf=inf, rate=rate, max_calls=calls,
                         keys={"sink_ip": LOOPBACK, "sink_port": str(self.sink.port)},
                         extra=("-auth_uri", f"sip:{queue}@{DOMAIN}"), **kw)

    def _cpu(self) -> tuple[float, dict[str, tuple[float, float]]]:
        assert self.sw is not None
        return process_cpu_seconds([self.sw.pid]), core_times()

    def _cpu_line(self, before: tuple[float, dict[str, tuple[float, float]]],
                  seconds: float) -> str:
        cpu0, cores0 = before
        cpu1, cores1 = self._cpu()
        return (f"cpu {100 * (cpu1 - cpu0) / max(seconds, 1e-6):.0f}% core0 "
                f"{core_busy(cores0, cores1, self.sut_cpus)}%")

    # -- phase 1
    def throughput(self, rates: Sequence[float],
                   step_s: float) -> tuple[float, list[dict[str, Any]]]:
        assert self.sw is not None
        best = 0.0
        steps = []
        for rate in rates:
            calls = int(rate * step_s)
            before = self._cpu()
            t0 = time.time()
            run = self.callers("queue_caller.xml", f"through-{rate:g}", "6400", rate, calls,
                               limit=max(200, int(rate * 5)), recv_timeout_ms=60_000)
            res = run.run(step_s + 90)
            t1 = time.time()
            answered = answers_per_second(self.sw.log_lines(), t0, t0 + step_s)
            placed = res.created / step_s if step_s else 0.0
            ok = (res.failed == 0 and res.successful == calls and placed >= 0.95 * rate
                  and answered >= 0.95 * rate)
            self.failed += res.failed
            steps.append({"rate": rate, "calls": calls, "successful": res.successful,
                          "failed": res.failed, "answered_per_s": answered,
                          "passed": ok, "p50_answer_ms": _nan(res.percentile(50))})
            self.log(f"  throughput {rate:6.0f}/s: {res.successful}/{calls} ok, "
                     f"{res.failed} failed, answers {answered:.0f}/s, queue answer p50 "
                     f"{res.percentile(50):.0f} ms, {self._cpu_line(before, t1 - t0)}"
                     f"{'' if ok else '  FAIL ' + str(res.failure_counters())}")
            if ok:
                best = max(best, answered)
            else:
                break
        return best, steps

    # -- phase 2
    def waiting(self, waiters: int, rate: float, hold_s: float) -> tuple[int, dict[str, Any]]:
        assert self.sink is not None
        before = self._cpu()
        t0 = time.time()
        run = self.callers("queue_waiter.xml", f"waiters-{waiters}", "6401", rate, waiters,
                           limit=waiters, duration_ms=int(hold_s * 1000),
                           recv_timeout_ms=60_000)
        res = run.run(hold_s + waiters / rate + 90)
        t1 = time.time()
        self.failed += res.failed
        all_in = t0 + waiters / rate + 1.5  # every caller connected (arrivals + set-up)
        all_out = t0 + hold_s - 0.5        # the first ones start leaving
        counts = self._sink_counts()
        window = [counts.get(s, (0, 0)) for s in range(int(all_in) + 1, int(all_out))]
        streams = min((n for _, n in window), default=0)
        pps = statistics.median([p for p, _ in window]) if window else 0
        self.log(f"  waiting callers: {res.successful}/{waiters} ok, {res.failed} failed; "
                 f"music reached {streams} callers in every second of the full window "
                 f"({len(window)} s, median {pps:.0f} RTP packets/s at the sink, "
                 f"{50 * waiters} expected), {self._cpu_line(before, t1 - t0)}")
        ok = res.failed == 0 and res.successful == waiters
        return (streams if ok else 0), {"callers": waiters, "successful": res.successful,
                                        "failed": res.failed, "streams_min": streams,
                                        "median_pps": pps, "window_s": len(window)}

    def _sink_counts(self) -> dict[int, tuple[int, int]]:
        assert self.sink is not None
        counts = self.sink.stop()
        self.sink = RtpSink(self.gen_cpus)  # fresh for the next phase
        return counts

    # -- phase 3
    def free_to_ring(self, rate: float, seconds: float) -> tuple[float, float, int]:
        assert self.sw is not None
        t0 = time.time()
        calls = int(rate * seconds)
        run = self.callers("queue_caller.xml", "few-agents", "6402", rate, calls,
                           limit=calls, recv_timeout_ms=120_000)
        res = run.run(seconds + calls * TALK_MS / 1000 / FEW_AGENTS + 60)
        self.failed += res.failed
        gaps = free_to_ring_ms(self.sw.log_lines(), t0)
        med = statistics.median(gaps) if gaps else math.nan
        p95 = sorted(gaps)[max(0, math.ceil(0.95 * len(gaps)) - 1)] if gaps else math.nan
        self.log(f"  agent free -> ringing ({FEW_AGENTS} agents, {calls} callers at "
                 f"{rate:g}/s): {len(gaps)} samples, median {med:.2f} ms, p95 {p95:.2f} ms "
                 f"(switch log); {res.successful}/{calls} ok, {res.failed} failed")
        return med, p95, len(gaps)

    def stop(self) -> None:
        if self.agents is not None and self.agents.alive():
            res = self.agents.stop(grace=3)
            self.failed += res.failed
            self.log(f"  agents' phones: {res.successful} calls ok, {res.failed} failed")
        if self.sink is not None:
            self.sink.stop()
        if self.sw is not None:
            self.sw.stop(20)
            self.report_rows = self._report_rows()

    def _report_rows(self) -> dict[str, dict[str, int]]:
        """queue -> status -> rows in queue_calls (the report rows every call writes)."""
        assert self.sw is not None
        import sqlite3

        try:
            db = sqlite3.connect(self.sw.db_path)
            rows = db.execute("SELECT queue, COALESCE(status, 'waiting'), COUNT(*) FROM "
                              "queue_calls GROUP BY 1, 2").fetchall()
            db.close()
        except sqlite3.Error as exc:
            self.log(f"  report rows: cannot read the database: {exc}")
            return {}
        out: dict[str, dict[str, int]] = {}
        for queue, status, n in rows:
            out.setdefault(queue, {})[status] = n
        self.log(f"  report rows (queue_calls): {out}")
        return out


def _nan(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.queue_load")
    ap.add_argument("--quick", action="store_true", help="shorter steps (development)")
    ap.add_argument("--out", type=Path, default=None, help="directory for traces")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="queue_load-"))
    out.mkdir(parents=True, exist_ok=True)
    b = Bench(out, args.quick)
    started = time.monotonic()
    result: dict[str, Any] = {}
    try:
        b.start()
        step_s = 5.0 if args.quick else 10.0
        rates = (50, 100) if args.quick else (50, 100, 150)
        b.log("phase 1: calls through queue 6400 "
              f"({AGENTS} agents, talk {TALK_MS} ms, {step_s:g} s per step)")
        cps, steps = b.throughput(rates, step_s)
        waiters = 300 if args.quick else TARGET_WAITING
        b.log(f"phase 2: {waiters} callers waiting in queue 6401 with music")
        waiting, wait_info = b.waiting(waiters, rate=100.0, hold_s=waiters / 100.0 + 6.0)
        b.log("phase 3: agent free -> ringing in queue 6402")
        med, p95, samples = b.free_to_ring(rate=20.0, seconds=5.0)
        result = {"calls_per_s": cps, "waiting_callers": waiting, "failed_calls": b.failed,
                  "agent_free_to_ring_ms": _nan(round(med, 2)) if not math.isnan(med) else None,
                  "agent_free_to_ring_p95_ms": _nan(round(p95, 2)) if not math.isnan(p95)
                  else None, "agent_free_to_ring_samples": samples,
                  "agent_free_to_ring_source": "switch JSON log: 'agent hung up' -> next "
                                               "'ringing agent' of that agent",
                  "throughput_steps": steps, "waiting": wait_info,
                  "targets": {"calls_per_s": TARGET_CALLS_PER_S,
                              "waiting_callers": TARGET_WAITING, "failed_calls": 0},
                  "met": {"calls_per_s": cps >= TARGET_CALLS_PER_S,
                          "waiting_callers": waiting >= TARGET_WAITING,
                          "failed_calls": b.failed == 0},
                  "peers": {}, "quick": args.quick}
    finally:
        b.stop()
    elapsed = time.monotonic() - started
    b.log("")
    b.log(f"{'metric':<28}{'result':>12}{'target':>10}")
    b.log(f"{'calls/s through a queue':<28}{result.get('calls_per_s', 0):>12.0f}"
          f"{TARGET_CALLS_PER_S:>10.0f}")
    b.log(f"{'waiting callers (music)':<28}{result.get('waiting_callers', 0):>12}"
          f"{TARGET_WAITING:>10}")
    b.log(f"{'failed calls':<28}{b.failed:>12}{0:>10}")
    b.log(f"{'agent free -> ring (ms)':<28}{result.get('agent_free_to_ring_ms') or 0:>12.2f}"
          f"{'':>10}")
    b.log(f"(no peer: no other queue engine is installed here; finished in {elapsed:.0f} s)")
    result["failed_calls"] = b.failed
    result["queue_calls_rows"] = b.report_rows
    result["elapsed_s"] = round(elapsed, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
