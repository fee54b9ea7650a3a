"""Live panels under load (issue 17): `python -m benchmarks.panels`.

Scenario: the switch (`softswitch.app.Switch`, the real process: SIP listeners, database,
report rows, the live API) with 10 queues of 4 agents. 1,000 websocket clients log in as an
admin and subscribe to all queues. Then an in-process driver runs simulated calls through
the switch's ACD for SECONDS: callers arrive (Poisson), wait and hang up after 1-5 s, and
agents pause and resume through the feature-code path (`AgentDesk.apply_actions`), at a rate
that makes EVENTS ACD events per second. The simulated callers have no media: the driver
hands the ACD's events to the queue controller (`execute`) and drops the commands (prompts,
music) it has nobody to play them to. Every ACD event goes to the event bus, the report
rows, the BLF bridge and the live feed, exactly as for a SIP caller.

Measured:
- delivery latency: for each `call.entered` delta a client receives, its arrival time
  minus the delta's `entered_at` (the wall-clock time of the ACD event). Every tenth client
  parses its frames and records; the others only read (so the client processes, which share
  the machine, stay light);
- the switch's CPU: its process time over the driven seconds / the seconds (100 % = one
  core); the switch runs under `taskset -c 0` when available, the clients on the other core;
- clients dropped (close code 4008 or any close before the end);
- the switch loop's own lag: how late each 20 ms driver step ran (p99), which bounds the
  delay the switch itself adds (the rest of the latency is the client machine's).

Prints a table and, as its last line, JSON: clients, events_per_s, p50_ms, p99_ms,
cpu_percent, dropped, frames_per_s, deltas.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import heapq
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.peers.net import free_port, free_port_range

QUEUES = 10
AGENTS_PER_QUEUE = 4
ADMIN = "1999"
PASSWORD = "bench-secret"
TICK = 0.02  # s between driver steps
SAMPLE_EVERY = 10  # every n-th client records latencies


def config(workdir: Path) -> dict[str, Any]:
    low, _ = free_port_range(200)
    agents = [str(2001 + i) for i in range(QUEUES * AGENTS_PER_QUEUE)]
    return {
        "sip": {"listen": [f"udp:127.0.0.1:{free_port()}"], "domain": "127.0.0.1"},
        "rtp": {"ports": f"{low}-{low + 199}", "address": "127.0.0.1"},
        "http": {"listen": f"127.0.0.1:{free_port(udp=False)}"},
        "database": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "logging": {"format": "json", "level": "warning"},
        "extensions": [{"number": n, "name": f"Agent {n}", "password": PASSWORD}
                       for n in [ADMIN, *agents]],
        "admins": [ADMIN],
        "queues": [{"number": str(7000 + q), "name": f"Queue {q}", "strategy": "ring_all",
                    "static_agents": agents[q * AGENTS_PER_QUEUE:(q + 1) * AGENTS_PER_QUEUE]}
                   for q in range(QUEUES)],
    }


# ----------------------------------------------------------------------------- the switch


async def serve(config_path: str, clients: int, events: float, seconds: float,
                min_interval: float) -> None:
    from acd.engine import Output
    from softswitch.app import Switch
    from softswitch.config import load_config
    from softswitch.features import Pause, Resume
    from softswitch.log import configure_logging
    from softswitch.web import ws
    from softswitch.web.server import PANELS

    configure_logging("json", "warning", stream=sys.stderr)  # stdout carries our JSON lines
    switch = Switch(load_config(config_path))
    await switch.start()
    print(json.dumps({"ready": switch.http_address}), flush=True)
    router = switch.router
    app = switch._http_runner.app  # type: ignore[union-attr]
    deadline = time.monotonic() + 180
    shown = time.monotonic()
    while len(app[ws.CLIENTS]) < clients or any(
            not c.queues for c in app[ws.CLIENTS]):
        if time.monotonic() - shown > 5:
            shown = time.monotonic()
            print(f"{len(app[ws.CLIENTS])} clients connected", file=sys.stderr, flush=True)
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"only {len(app[ws.CLIENTS])} clients"}), flush=True)
            await switch.stop()
            return
        await asyncio.sleep(0.2)
    app[PANELS].feed.min_interval = min_interval
    print(json.dumps({"driving": True}), flush=True)
    counted = {"acd": 0}

    def count(event: Any) -> None:
        if type(event).__module__ == "acd.events":
            counted["acd"] += 1

    router.events.subscribe(count)
    queues = router.queues
    desk = router.agentdesk
    acd = queues.acd
    numbers = [q.number for q in acd.config.queues]
    agents = [(m.extension, q.number) for q in acd.config.queues for m in q.members]
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    calls_per_s = events * 0.4  # each call: joined + left
    toggles_per_s = events * 0.1  # each: paused/resumed + the member state
    departures: list[tuple[float, str]] = []
    paused: set[tuple[str, str]] = set()
    seq = 0
    feed = app[PANELS].feed
    frames0, deltas0 = feed.frames, feed.published
    cpu0, t0 = time.process_time(), loop.time()
    next_tick = last = t0
    checked, checked_events = t0, 0
    lags: list[float] = []  # how late each driver step ran: the switch loop's own delay
    while loop.time() - t0 < seconds:
        now = loop.time()
        if now > t0:
            lags.append(max(0.0, now - next_tick))
        step, last = now - last, now
        if now - checked >= 1.0:  # steer the call rate to the asked event rate
            rate = (counted["acd"] - checked_events) / (now - checked)
            if rate > 0:
                calls_per_s = min(calls_per_s * events / rate, events)
            checked, checked_events = now, counted["acd"]
        wall = dt.datetime.now(dt.UTC)
        for _ in range(_poisson(rng, calls_per_s * step)):
            seq += 1
            task = f"sim-{seq}"
            out = acd.handle_task_arrived(task, rng.choice(numbers), now,
                                          caller=f"+1555{rng.randrange(10**7):07d}",
                                          wall_clock=wall)
            queues.execute(Output(events=out.events))  # no media: commands dropped
            heapq.heappush(departures, (now + rng.uniform(1.0, 5.0), task))
        while departures and departures[0][0] <= now:
            _, task = heapq.heappop(departures)
            queues.execute(Output(events=acd.handle_task_left(task, now).events))
        for _ in range(_poisson(rng, toggles_per_s * step)):
            agent, queue = rng.choice(agents)
            if (agent, queue) in paused:
                paused.discard((agent, queue))
                desk.apply_actions([Resume(agent, queue)])
            else:
                paused.add((agent, queue))
                desk.apply_actions([Pause(agent, queue, None)])
        next_tick = max(next_tick + TICK, loop.time())
        await asyncio.sleep(next_tick - loop.time())
    elapsed = loop.time() - t0
    cpu = time.process_time() - cpu0
    await asyncio.sleep(1.0)  # the last deltas reach the clients
    dropped = sum(1 for c in app[ws.CLIENTS] if c.dropped is not None)
    print(json.dumps({"result": {
        "seconds": elapsed, "acd_events": counted["acd"], "cpu_s": cpu,
        "frames": feed.frames - frames0, "deltas": feed.published - deltas0,
        "dropped_by_switch": dropped,
        "loop_lag_p99": percentile(lags, 99)}}), flush=True)
    # stop only when the clients are done: a close before they know counts as a drop
    await loop.run_in_executor(None, sys.stdin.readline)
    await switch.stop()


def _poisson(rng: random.Random, mean: float) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -mean)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


# ----------------------------------------------------------------------------- the clients


def client_process(url: str, token: str, first: int, count: int, stop: Any,
                   results: Any) -> None:
    asyncio.run(_clients(url, token, first, count, stop, results))


class _Drain(asyncio.Protocol):
    """A websocket client that reads and discards (the 9 in 10 clients that do not measure):
    it costs the client machine almost nothing, so the switch's delivery is what is timed."""

    def __init__(self, stop: Any, closed: list[int | None]) -> None:
        self.stop = stop
        self.closed = closed
        self.buffer = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        if not self.upgraded.done():
            self.buffer += data
            if b"\r\n\r\n" in self.buffer:
                self.upgraded.set_result(self.buffer.startswith(b"HTTP/1.1 101"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.stop.is_set():
            self.closed.append(None)


def _masked_text(payload: str) -> bytes:
    """A client-to-server text frame (RFC 6455 §5.3: clients mask)."""
    data = payload.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert len(data) < 126
    return bytes((0x81, 0x80 | len(data))) + mask + body


async def _drain_client(host: str, port: int, path: str, stop: Any,
                        closed: list[int | None]) -> asyncio.BaseTransport:
    import base64

    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_connection(lambda: _Drain(stop, closed), host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    transport.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
    if not await asyncio.wait_for(proto.upgraded, 30):
        raise RuntimeError(f"no websocket upgrade: {proto.buffer[:200]!r}")
    transport.write(_masked_text(json.dumps({"type": "subscribe", "queues": "all"})))
    return transport


async def _clients(url: str, token: str, first: int, count: int, stop: Any,
                   results: Any) -> None:
    import urllib.parse

    import aiohttp

    latencies: list[float] = []
    closed: list[int | None] = []
    parsed = urllib.parse.urlsplit(url)
    path = f"{parsed.path}?token={token}"
    drains = []
    # limit=0: aiohttp's default of 100 connections per session would stall the rest
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = []
        for i in range(count):
            if (first + i) % SAMPLE_EVERY:
                drains.append(await _drain_client(parsed.hostname or "127.0.0.1",
                                                  parsed.port or 80, path, stop, closed))
                continue
            sock = await session.ws_connect(f"{url}?token={token}", max_msg_size=0)
            await sock.send_str(json.dumps({"type": "subscribe", "queues": "all"}))
            sockets.append(sock)

        async def read(sock: Any) -> None:
            while True:
                msg = await sock.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    if not stop.is_set():
                        closed.append(sock.close_code)
                    return
                if "call.entered" in msg.data:
                    now = time.time()
                    data = json.loads(msg.data)
                    for m in data if isinstance(data, list) else [data]:
                        if m["type"] == "call.entered":
                            latencies.append(now - m["call"]["entered_at"])

        readers = [asyncio.create_task(read(s)) for s in sockets]
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for task in readers:
            task.cancel()
        for sock in sockets:
            await sock.close()
        for t in drains:
            t.close()
    results.put({"latencies": latencies, "closed": closed})


# ----------------------------------------------------------------------------- the run


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--events", type=float, default=500.0, help="ACD events per second")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--client-processes", type=int, default=4)
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin the switch to core 0 and the clients to core 1")
    ap.add_argument("--min-interval", type=float, default=0.0,
                    help="seconds between the feed's flushes (default 0: every loop turn)")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve, args.clients, args.events, args.seconds,
                          args.min_interval))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="panels-bench-"))
    path = workdir / "switch.yaml"
    path.write_text(yaml.safe_dump(config(workdir)))
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 \
        and not args.no_pin else []
    server = subprocess.Popen([*pin, sys.executable, "-m", "benchmarks.panels", "--serve",
                               str(path), "--clients", str(args.clients), "--events",
                               str(args.events), "--seconds", str(args.seconds),
                               "--min-interval", str(args.min_interval)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    ready = json.loads(server.stdout.readline())
    if "ready" not in ready:
        print(f"the switch did not start: {ready}", file=sys.stderr)
        return 1
    base = f"http://{ready['ready']}"
    import urllib.request

    req = urllib.request.Request(base + "/api/v1/login", method="POST", data=json.dumps(
        {"extension": ADMIN, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        token = json.loads(reply.read())["token"]
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    results = ctx.Queue()
    per = -(-args.clients // args.client_processes)
    procs = []
    for k in range(args.client_processes):
        count = min(per, args.clients - k * per)
        if count <= 0:
            break
        p = ctx.Process(target=client_process, args=(
            base.replace("http://", "ws://") + "/api/v1/ws", token, k * per, count, stop,
            results))
        if pin:
            p.start()
            subprocess.run(["taskset", "-cp", "1", str(p.pid)], capture_output=True)
        else:
            p.start()
        procs.append(p)
    result: dict[str, Any] = {}
    for line in server.stdout:
        msg = json.loads(line)
        if "error" in msg:
            print(msg["error"], file=sys.stderr)
            stop.set()
            server.kill()
            return 1
        if "result" in msg:
            result = msg["result"]
            break
    stop.set()
    gathered = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert server.stdin is not None
    server.stdin.write("done\n")
    server.stdin.close()
    server.wait(30)
    shutil.rmtree(workdir, ignore_errors=True)
    latencies = [x for g in gathered for x in g["latencies"]]
    dropped = sum(len(g["closed"]) for g in gathered)
    seconds = result["seconds"]
    out = {
        "clients": args.clients,
        "events_per_s": round(result["acd_events"] / seconds, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "cpu_percent": round(100 * result["cpu_s"] / seconds, 1),
        "dropped": dropped + result["dropped_by_switch"],
        "frames_per_s": round(result["frames"] / seconds),
        "deltas": result["deltas"],
        "samples": len(latencies),
        "loop_lag_p99_ms": round(result["loop_lag_p99"] * 1000, 2),
    }
    print(f"{'clients':>10} {'ACD ev/s':>9} {'deltas':>8} {'frames/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'CPU %':>6} {'dropped':>8}")
    print(f"{out['clients']:>10} {out['events_per_s']:>9} {out['deltas']:>8} "
          f"{out['frames_per_s']:>9} {out['p50_ms']:>8} {out['p99_ms']:>8} "
          f"{out['cpu_percent']:>6} {out['dropped']:>8}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
