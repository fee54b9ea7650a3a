"""Soak benchmark: does the switch stay flat under steady load for minutes?

    python -m benchmarks.soak [--minutes N] [--quick] [--out DIR]

Load (default 10 minutes, --quick = 1 minute): sipp callers with digest auth at a steady
rate, recording on (the default config records every answered call):
- 40 extension calls/s: benchmarks/sipp/soak_uac.xml (INVITE, 407, ACK, INVITE with
  Proxy-Authorization, 200, ACK, 3 s of PCMU RTP, BYE) to one callee extension whose
  registered contact is one sipp UAS (soak_uas.xml: answers, 3 s of PCMU RTP back);
- 5 queue calls/s: soak_queue_caller.xml into a least-recent queue of AGENTS static agents,
  all registered with one sipp UAS as contact (soak_queue_agent.xml: answers, 3 s of PCMU
  RTP, BYE); the caller sends 3 s of RTP and stays until the switch hangs up.
RTP comes from a 3 s PCMU pcap this benchmark writes (sipp's play_pcap_audio).

The switch runs pinned to CPU 0 (`taskset -c 0`), sipp on the other core(s). Every SAMPLE_S
seconds: the switch's RSS (/proc/<pid>/status VmRSS), its CPU time (/proc/<pid>/stat), the
calls sipp completed so far, and `GET /api/v1/health` (its ``loop`` probe: the longest
event-loop stall since the previous read, measured inside the switch).

Results: `failed_calls` (callers, callee and agents, all sipp runs), `rss_mb_at_2min`
(or at a third of a shorter run), `rss_mb_end` (last sample under load), `rss_growth_mb`
(end minus 2 minutes), `rss_slope_mb_per_min` (least squares over the samples from 2 minutes
on), `max_loop_stall_ms` (the largest stall of any read window under load; wall clock, so on a
shared machine it includes time other processes had the CPU), `max_loop_busy_stall_ms`
(the largest part of a stall the switch spent on its own CPU: GC pauses, slow callbacks),
`cpu_ms_per_call` (whole run) and per call in the first and last third of the run; and
from the same health answer, the cyclic GC's collections and longest pause per generation.
Targets at 45 calls/s on one core: 0 failed, RSS growth under 30 MB from minute 2 to the
end, no stall over 50 ms. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.peers.net import LOOPBACK, free_port
from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import Extension, RunningSwitch, build_config, start_switch
from benchmarks.sip_load import cpu_sets, process_cpu_seconds

EXT_RATE = 40.0
QUEUE_RATE = 5.0
TALK_MS = 3000
SAMPLE_S = 5.0
AGENTS = [(f"7{i:03d}", f"agent-{i:03d}-pw") for i in range(80)]
EXT_CALLERS = [(f"4{i:03d}", f"caller-{i:03d}-pw") for i in range(200)]
QUEUE_CALLERS = [(f"4{i:03d}", f"caller-{i:03d}-pw") for i in range(200, 300)]
CALLEE = ("5000", "callee-5000-pw")
QUEUE = "6500"
DOMAIN = LOOPBACK
TARGET_GROWTH_MB = 30.0
TARGET_STALL_MS = 50.0


def write_rtp_pcap(path: Path, seconds: float = TALK_MS / 1000) -> Path:
    """`seconds` of PCMU (a quiet 400 Hz tone) in 20 ms RTP packets as a pcap (Ethernet,
    IPv4, UDP; sipp replaces the addresses and ports, keeps the timing)."""
    import math

    frames = int(seconds * 50)
    tone = bytes(_ulaw(int(2000 * math.sin(2 * math.pi * 400 * n / 8000))) for n in range(160))
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(frames):
        rtp = struct.pack("!BBHII", 0x80, 0x80 if i == 0 else 0, i, i * 160, 0x50A4) + tone
        udp = struct.pack("!HHHH", 40000, 40000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         socket.inet_aton(LOOPBACK), socket.inet_aton(LOOPBACK)) + udp
        eth = b"\x00" * 12 + b"\x08\x00" + ip
        usec = i * 20_000
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(eth),
                               len(eth)) + eth)
    path.write_bytes(b"".join(out))
    return path


def _ulaw(sample: int) -> int:
    """G.711 mu-law of one 16-bit sample (ITU-T G.711 §3; the pcap only needs plausible
    audio, media.g711 is not imported so the benchmark has no numpy dependency here)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 132
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss_mb: float
    cpu_s: float
    calls: int  # calls completed (extension + queue)
    stall_ms: float  # longest loop stall since the previous sample (wall clock)
    busy_ms: float  # the longest stall's part spent on the switch's own CPU


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def health(sw: RunningSwitch) -> dict[str, Any]:
    with urllib.request.urlopen(f"{sw.http_url}/api/v1/health", timeout=5) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0.0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def at(samples: list[Sample], t: float) -> Sample:
    return min(samples, key=lambda s: abs(s.t - t))


def cpu_ms_per_call(samples: list[Sample], t0: float, t1: float) -> float:
    a, b = at(samples, t0), at(samples, t1)
    calls = b.calls - a.calls
    return round(1000 * (b.cpu_s - a.cpu_s) / calls, 2) if calls > 0 else float("nan")


class Soak:
    def __init__(self, out: Path, seconds: float) -> None:
        self.out = out
        self.seconds = seconds
        self.sut_cpus, self.gen_cpus = cpu_sets()
        self.sw: RunningSwitch | None = None
        self.uas: Sipp | None = None
        self.agents: Sipp | None = None
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # what callers hear
        self.sink.bind((LOOPBACK, 0))
        self._n = 0

    def sipp(self, scenario: str, name: str, **kw: Any) -> Sipp:
        self._n += 1
        assert self.sw is not None
        remote = None if kw.pop("uas", False) else f"{LOOPBACK}:{self.sw.sip_port()}"
        return Sipp(scenario, remote, self.out / "sipp", cpus=self.gen_cpus,
                    name=f"{self._n:02d}-{name}", **kw)

    def register(self, users: list[tuple[str, str]], port: int, name: str) -> None:
        inf = injection_file(self.out / f"{name}.csv",
                             [(u, p, DOMAIN, f"{LOOPBACK}:{port}") for u, p in users])
        res = self.sipp("register_auth.xml", f"register-{name}", inf=inf, rate=100,
                        max_calls=len(users)).run(120)
        if res.failed or res.successful != len(users):
            raise RuntimeError(f"registering {name} failed: {res.summary()}")

    def start(self) -> None:
        (self.out / "sipp").mkdir(parents=True, exist_ok=True)
        write_rtp_pcap(self.out / "sipp" / "rtp-3s.pcap")
        exts = [Extension(u, p) for u, p in [*AGENTS, *EXT_CALLERS, *QUEUE_CALLERS, CALLEE]]
        queues = [{"number": QUEUE, "name": "Soak", "strategy": "least_recent",
                   "static_agents": [u for u, _ in AGENTS], "ring_timeout": 15,
                   "retry_interval": 0, "wrapup": 0, "max_wait": 1800}]
        workdir = self.out / "switch"
        config = build_config(workdir, extensions=exts, keep_demo_extensions=False,
                              queues=queues, rtp_ports=4000,
                              overrides={"sip": {"auth": {"algorithms": ["MD5"]}},
                                         "smtp": None, "message_queues": []})
        self.sw = start_switch(workdir, config, cpus=self.sut_cpus, timeout=60)
        uas_port, agents_port = free_port(), free_port()
        self.uas = self.sipp("soak_uas.xml", "callee", uas=True, local_port=uas_port,
                             recv_timeout_ms=600_000).start()
        self.agents = self.sipp("soak_queue_agent.xml", "agents", uas=True,
                                local_port=agents_port, duration_ms=TALK_MS,
                                recv_timeout_ms=600_000).start()
        time.sleep(0.5)
        self.register([CALLEE], uas_port, "callee")
        self.register(AGENTS, agents_port, "agents")
        time.sleep(1.0)  # the registrar's listeners tell the ACD (device registered)

    def run(self) -> tuple[list[Sample], int, dict[str, Any]]:
        assert self.sw is not None and self.uas is not None and self.agents is not None
        ext_inf = injection_file(self.out / "ext-callers.csv",
                                 [(u, p, DOMAIN, CALLEE[0]) for u, p in EXT_CALLERS])
        q_inf = injection_file(self.out / "queue-callers.csv",
                               [(u, p, DOMAIN, QUEUE) for u, p in QUEUE_CALLERS])
        health(self.sw)  # the loop probe's read window starts now
        ext = self.sipp("soak_uac.xml", "ext-callers", inf=ext_inf, rate=EXT_RATE,
                        max_calls=int(EXT_RATE * self.seconds), duration_ms=TALK_MS,
                        limit=1000, recv_timeout_ms=30_000,
                        extra=("-auth_uri", f"sip:{CALLEE[0]}@{DOMAIN}")).start()
        queue = self.sipp("soak_queue_caller.xml", "queue-callers", inf=q_inf,
                          rate=QUEUE_RATE, max_calls=int(QUEUE_RATE * self.seconds),
                          limit=500, recv_timeout_ms=60_000,
                          keys={"sink_ip": LOOPBACK,
                                "sink_port": str(self.sink.getsockname()[1])},
                          extra=("-auth_uri", f"sip:{QUEUE}@{DOMAIN}")).start()
        pid = self.sw.pid
        t0 = time.monotonic()
        samples: list[Sample] = []
        next_at = t0
        print(f"{'t':>6} {'rss MB':>8} {'cpu %':>6} {'calls':>7} {'stall ms':>9} "
              f"{'own cpu':>8}", flush=True)
        prev: Sample | None = None
        while ext.alive() or queue.alive():
            now = time.monotonic()
            if now - t0 > self.seconds + 120:
                break  # sipp should have finished long ago
            next_at += SAMPLE_S
            time.sleep(max(0.0, next_at - now))
            done = _int(ext.counters().get("SuccessfulCall(C)")) + \
                _int(queue.counters().get("SuccessfulCall(C)"))
            try:
                window = health(self.sw)["loop"]["last_read"]
                stall = float(window["max_stall_ms"])
                busy = float(window.get("max_busy_stall_ms", stall))
            except (OSError, KeyError, ValueError):
                stall = busy = float("nan")
            s = Sample(round(time.monotonic() - t0, 1), round(rss_mb(pid), 1),
                       process_cpu_seconds([pid]), done, stall, busy)
            if s.t <= self.seconds + SAMPLE_S:  # under load (not the drain at the end)
                samples.append(s)
            cpu = 100 * (s.cpu_s - prev.cpu_s) / (s.t - prev.t) if prev else float("nan")
            print(f"{s.t:6.0f} {s.rss_mb:8.1f} {cpu:6.0f} {s.calls:7d} {s.stall_ms:9.1f} "
                  f"{s.busy_ms:8.1f}", flush=True)
            prev = s
        try:
            info_gc = health(self.sw)["loop"].get("gc", {})
        except (OSError, KeyError, ValueError):
            info_gc = {}
        res_ext = ext.wait(120)
        res_queue = queue.wait(120)
        time.sleep(2.0)
        res_uas = self.uas.stop()
        res_agents = self.agents.stop()
        failed = res_ext.failed + res_queue.failed + res_uas.failed + res_agents.failed
        info = {"ext_calls": res_ext.successful, "queue_calls": res_queue.successful,
                "ext": res_ext.summary(), "queue": res_queue.summary(),
                "callee": res_uas.summary(), "agents": res_agents.summary(),
                "rss_mb_after_load": round(rss_mb(pid), 1), "gc": info_gc}
        return samples, failed, info

    def stop(self) -> None:
        for p in (self.uas, self.agents):
            if p is not None and p.alive():
                p.stop(2)
        if self.sw is not None:
            self.sw.stop()
        self.sink.close()


def _int(v: str | None) -> int:
    try:
        return int(v or 0)
    except ValueError:
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="1 minute")
    ap.add_argument("--out", type=Path, default=None, help="keep traces here")
    args = ap.parse_args(argv)
    minutes = 1.0 if args.quick else args.minutes
    seconds = minutes * 60
    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="soak-")
        out = Path(tmp.name)
    else:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
    soak = Soak(out, seconds)
    print(f"soak: {EXT_RATE:g} extension calls/s + {QUEUE_RATE:g} queue calls/s, "
          f"{TALK_MS / 1000:g} s of RTP each way, recording on, {minutes:g} min; "
          f"switch on CPU {soak.sut_cpus or 'any'}, sipp on {soak.gen_cpus or 'any'}",
          flush=True)
    try:
        soak.start()
        samples, failed, info = soak.run()
    finally:
        soak.stop()
        if tmp is not None:
            tmp.cleanup()
    mark = min(120.0, seconds / 3)
    first = at(samples, mark)
    last = samples[-1]
    growth = round(last.rss_mb - first.rss_mb, 1)
    stalls = [s.stall_ms for s in samples if s.stall_ms == s.stall_ms]
    busy = [s.busy_ms for s in samples if s.busy_ms == s.busy_ms]
    third = last.t / 3
    result = {
        "failed_calls": failed,
        "rss_growth_mb": growth,
        "max_loop_stall_ms": max(stalls) if stalls else None,
        "max_loop_busy_stall_ms": max(busy) if busy else None,
        "cpu_ms_per_call": cpu_ms_per_call(samples, samples[0].t, last.t),
        "rss_mb_at_2min": first.rss_mb,
        "rss_mb_end": last.rss_mb,
        "rss_slope_mb_per_min": round(60 * slope([(s.t, s.rss_mb) for s in samples
                                                   if s.t >= mark]), 2),
        "cpu_ms_per_call_first_third": cpu_ms_per_call(samples, samples[0].t, third),
        "cpu_ms_per_call_last_third": cpu_ms_per_call(samples, 2 * third, last.t),
        "minutes": minutes,
        "rate_calls_per_s": EXT_RATE + QUEUE_RATE,
        "rss_at_mark_s": first.t,
        **info,
        "targets_met": {"failed_calls": failed == 0,
                        "rss_growth_mb": growth < TARGET_GROWTH_MB,
                        "max_loop_stall_ms": bool(stalls) and max(stalls) <= TARGET_STALL_MS},
    }
    print()
    print(f"{'failed calls':28} {failed}")
    print(f"{'RSS at ' + str(round(first.t)) + ' s / end (MB)':28} {first.rss_mb} / "
          f"{last.rss_mb}  (growth {growth} MB, slope {result['rss_slope_mb_per_min']} MB/min)")
    print(f"{'RSS 2 s after the load':28} {info['rss_mb_after_load']} MB")
    print(f"{'longest loop stall':28} {result['max_loop_stall_ms']} ms (of it on the "
          f"switch's own CPU: at most {result['max_loop_busy_stall_ms']} ms)")
    print(f"{'CPU per call':28} {result['cpu_ms_per_call']} ms (first third "
          f"{result['cpu_ms_per_call_first_third']}, last third "
          f"{result['cpu_ms_per_call_last_third']})")
    print(f"{'calls':28} {info['ext_calls']} extension + {info['queue_calls']} queue")
    for gen, g in sorted(info["gc"].items()):
        print(f"{'GC ' + gen:28} {g['collections']} collections, longest {g['max_ms']} ms, "
              f"total {g['total_ms']} ms, {g['collected']} objects freed")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
