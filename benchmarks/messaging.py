"""Messaging benchmark (issue 20): inbound webhook messages per second delivered to an
agent's websocket, with the delivery latency.

    .venv/bin/python -m benchmarks.messaging [--quick] [--rates 250,500,1000] [--seconds S]

Topology (2-core machine): the switch runs pinned to CPU 0 (`taskset`); this process, the
load generator and the agent's websocket client, on the other core(s). The switch's config is
config.example.yaml (ports and files moved) with one General SMS channel (omnichannel.md
§3.9: a signed JSON webhook per message) whose number routes to extension 1001; the
provider's send URL is never called (nobody replies).

Load: for each rate step, ``--seconds`` of webhooks posted at that rate (paced every 10 ms,
at most ``INFLIGHT`` requests in flight), each from one of ``CUSTOMERS`` customer numbers in
turn (so the agent has that many sessions, each with a growing history), each signed
(``X-Signature-256``) as the provider would. Each message's text carries its send time; the
agent (1001, logged in, one websocket) times each ``messaging.message.new`` delta of a
customer message: arrival minus send time (the same host clock).

A step *passes* when every posted message was answered 204 and reached the agent, and the
p99 latency is under 100 ms. ``messages_per_s`` is the highest passing step's delivered
rate (measured, not extrapolated); ``p99_ms`` that step's p99. Also per step: the switch's
CPU (process time over the step / step seconds; 100 % = one core) and ``genlag`` (how late
this generator ran its own 10 ms pacing: above a few ms the step measures the generator).
Target on one core: at least 1,000 messages/s with p99 under 100 ms.

Widget sessions (the Live Chat channel, omnichannel.md §3.12): ``--widgets`` visitors (5,000)
open the widget's websocket (with the allowed domain's ``Origin``), say hello and send one
message each, ``WIDGET_CONNECT`` at a time, and all stay connected; the channel allows that
many active sessions (``max_active_sessions``; the manual's default is 20). Then, with all of
them open, 200 of them send one more message each, one at a time, timing the switch's
``ack`` (the message stored). ``widget_sessions`` is the number of visitors whose first
message was acknowledged and whose socket was still open at the end; also the time to set
them up, the ack p50/p99 with all open, and the switch's RSS. Target: 5,000.

The last line printed is one JSON object: ``messages_per_s``, ``p99_ms``,
``widget_sessions``, ``steps``, ``widgets``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.peers.switch import RunningSwitch, build_config, start_switch
from benchmarks.sip_load import cpu_sets, process_cpu_seconds

TOKEN = "0123456789abcdef0123456789abcdef"
SECRET = "bench-secret"
NUMBER = "+15550100000"
AGENT = ("1001", "alice-1001-secret")  # config.example.yaml's demo extension
CUSTOMERS = 200
INFLIGHT = 256
LIVECHAT = "LC00042"
SITE = "www.bench.example"
WIDGET_CONNECT = 100  # visitors connecting at once
TARGET_P99_MS = 100.0


def switch_config(workdir: Path) -> dict[str, Any]:
    return build_config(workdir, overrides={
        "smtp": None,
        "message_channels": [{
            "name": "Bench SMS", "type": "sms", "provider": "general", "token": TOKEN,
            "api_key": "bench-key", "secret": SECRET,
            "send_url": "http://127.0.0.1:9/sendmessage",  # never called: nobody replies
            "numbers": [{"number": NUMBER,
                         "destination": {"type": "extension", "target": AGENT[0]}}]},
            {"name": "Bench widget", "type": "livechat", "number": LIVECHAT,
             "domains": [SITE], "max_active_sessions": 5000,
             "destination": {"type": "extension", "target": AGENT[0]}}]})


def webhook(seq: int, customer: str, sent: float) -> bytes:
    return json.dumps({
        "data": {"event_type": "message.received", "id": f"ev-{seq}",
                 "occurred_at": "2026-12-03T10:00:00.000+00:00", "record_type": "event",
                 "payload": {"id": f"bench-{seq}", "direction": "inbound",
                             "from": {"phone_number": customer},
                             "to": [{"phone_number": NUMBER}],
                             "text": f"m {seq} {sent:.6f}", "media": [], "encoding": "GSM-7",
                             "parts": 1, "received_at": "2026-12-03T10:00:00.000+00:00",
                             "record_type": "message", "type": "SMS/MMS"}},
        "meta": {"attempt": 1}}).encode()


def signature(raw: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()


@dataclass
class Step:
    rate: float
    seconds: float
    posted: int = 0
    accepted: int = 0
    refused: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    genlag_ms: float = 0.0
    cpu_pct: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def passed(self) -> bool:
        return (self.posted > 0 and self.accepted == self.posted
                and self.delivered == self.posted
                and self.percentile(99) * 1000 < TARGET_P99_MS)

    def summary(self) -> dict[str, Any]:
        return {"rate": self.rate, "posted": self.posted, "accepted": self.accepted,
                "refused": self.refused, "delivered": self.delivered,
                "delivered_per_s": round(self.delivered / self.seconds, 1),
                "p50_ms": round(self.percentile(50) * 1000, 1),
                "p99_ms": round(self.percentile(99) * 1000, 1),
                "cpu_pct": round(self.cpu_pct, 1), "genlag_ms": round(self.genlag_ms, 1),
                "passed": self.passed}


class Agent:
    """The agent's websocket: every customer message delta is timed against its text."""

    def __init__(self) -> None:
        self.step: Step | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def run(self, http: aiohttp.ClientSession, base: str, ready: asyncio.Event) -> None:
        async with http.post(f"{base}/api/v1/login",
                             json={"extension": AGENT[0], "password": AGENT[1]}) as resp:
            token = (await resp.json())["token"]
        url = base.replace("http://", "ws://") + f"/api/v1/ws?token={token}"
        async with http.ws_connect(url, max_msg_size=0) as ws:
            self.ws = ws
            ready.set()
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    break
                now = time.time()
                doc = json.loads(frame.data)
                for msg in doc if isinstance(doc, list) else [doc]:
                    self._seen(msg, now)

    def _seen(self, msg: dict[str, Any], now: float) -> None:
        if msg.get("type") != "messaging.message.new" or self.step is None:
            return
        message = msg.get("message") or {}
        text = message.get("text") or ""
        if not text.startswith("m "):
            return
        self.step.delivered += 1
        self.step.latencies.append(now - float(text.rsplit(" ", 1)[1]))


async def post(http: aiohttp.ClientSession, url: str, step: Step, seq: int,
               customer: str, gate: asyncio.Semaphore) -> None:
    async with gate:
        raw = webhook(seq, customer, time.time())
        try:
            async with http.post(url, data=raw, headers={
                    "Content-Type": "application/json",
                    "X-Signature-256": signature(raw)}) as resp:
                await resp.read()
                if resp.status == 204:
                    step.accepted += 1
                else:
                    step.refused += 1
        except aiohttp.ClientError:
            step.refused += 1


async def run_step(http: aiohttp.ClientSession, sw: RunningSwitch, agent: Agent, step: Step,
                   first_seq: int) -> int:
    url = f"{sw.http_url}/api/v1/webhooks/general/{TOKEN}"
    gate = asyncio.Semaphore(INFLIGHT)
    agent.step = step
    tasks: set[asyncio.Task[None]] = set()
    seq = first_seq
    loop = asyncio.get_running_loop()
    start = loop.time()
    cpu0 = process_cpu_seconds([sw.pid])
    tick = 0.010
    due = 0.0
    while True:
        now = loop.time() - start
        if now >= step.seconds:
            break
        step.genlag_ms = max(step.genlag_ms, (now - due) * 1000)
        want = int(step.rate * min(now + tick, step.seconds)) - step.posted
        for _ in range(max(0, want)):
            customer = f"+1555{(seq % CUSTOMERS):07d}"
            task = asyncio.create_task(post(http, url, step, seq, customer, gate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            seq += 1
            step.posted += 1
        due = now + tick
        await asyncio.sleep(max(0.0, start + due - loop.time()))
    if tasks:
        await asyncio.gather(*tasks)
    deadline = loop.time() + 10.0
    while step.delivered < step.accepted and loop.time() < deadline:
        await asyncio.sleep(0.05)
    step.cpu_pct = (process_cpu_seconds([sw.pid]) - cpu0) / (loop.time() - start) * 100
    agent.step = None
    return seq


async def drive(sw: RunningSwitch, rates: list[float], seconds: float) -> list[Step]:
    connector = aiohttp.TCPConnector(limit=INFLIGHT)
    async with aiohttp.ClientSession(connector=connector) as http:
        agent = Agent()
        ready = asyncio.Event()
        listener = asyncio.create_task(agent.run(http, sw.http_url, ready))
        await asyncio.wait_for(ready.wait(), 10)
        # warm-up: every customer's session exists before the first measured step
        seq = await run_step(http, sw, agent, Step(rate=min(rates[0], 200.0),
                                                    seconds=max(1.0, CUSTOMERS / 200.0)), 0)
        steps: list[Step] = []
        for rate in rates:
            step = Step(rate=rate, seconds=seconds)
            seq = await run_step(http, sw, agent, step, seq)
            steps.append(step)
            s = step.summary()
            print(f"{rate:7.0f}/s  delivered {s['delivered_per_s']:8.1f}/s  "
                  f"p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  "
                  f"switch cpu {s['cpu_pct']:5.1f} %  genlag {s['genlag_ms']:6.1f} ms  "
                  f"refused {s['refused']}  {'pass' if s['passed'] else 'FAIL'}", flush=True)
        listener.cancel()
        return steps


class Visitor:
    """One widget: its websocket, and the acks it is waiting for."""

    def __init__(self) -> None:
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.acked = 0
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def open(self, http: aiohttp.ClientSession, url: str) -> None:
        self.ws = await http.ws_connect(url, headers={"Origin": f"https://{SITE}"})
        await self.ws.send_json({"type": "hello", "visitor": None, "form": None})
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            msg = json.loads(frame.data)
            if msg.get("type") == "ack":
                self.acked += 1
                fut = self.waiting.pop(str(msg.get("id")), None)
                if fut is not None and not fut.done():
                    fut.set_result(time.monotonic())
            elif msg.get("type") == "error":
                for fut in self.waiting.values():
                    if not fut.done():
                        fut.set_exception(RuntimeError(msg.get("code", "error")))
                self.waiting.clear()

    async def say(self, text: str, client_id: str) -> float:
        """Send one message; seconds until its ack."""
        assert self.ws is not None
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[client_id] = fut
        sent = time.monotonic()
        await self.ws.send_json({"type": "message", "text": text, "id": client_id})
        return await asyncio.wait_for(fut, 30) - sent

    @property
    def open_now(self) -> bool:
        return self.ws is not None and not self.ws.closed


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


async def widgets(sw: RunningSwitch, count: int) -> dict[str, Any]:
    url = sw.http_url.replace("http://", "ws://") + f"/api/v1/livechat/{LIVECHAT}/ws"
    connector = aiohttp.TCPConnector(limit=0)
    visitors = [Visitor() for _ in range(count)]
    failures: dict[str, int] = {}
    async with aiohttp.ClientSession(connector=connector) as http:
        gate = asyncio.Semaphore(WIDGET_CONNECT)

        async def start(i: int, v: Visitor) -> None:
            async with gate:
                try:
                    await v.open(http, url)
                    await v.say(f"hello from visitor {i}", f"first-{i}")
                except Exception as exc:  # noqa: BLE001 - counted, the others go on
                    failures[type(exc).__name__ + str(exc)[:40]] = \
                        failures.get(type(exc).__name__ + str(exc)[:40], 0) + 1

        t0 = time.monotonic()
        await asyncio.gather(*(start(i, v) for i, v in enumerate(visitors)))
        setup_s = time.monotonic() - t0
        rss = rss_mb(sw.pid)
        open_ok = [v for v in visitors if v.open_now and v.acked >= 1]
        latencies: list[float] = []
        for k, v in enumerate(open_ok[:: max(1, len(open_ok) // 200)][:200]):
            try:
                latencies.append(await v.say(f"still here {k}", f"again-{k}"))
            except Exception as exc:  # noqa: BLE001
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
        ordered = sorted(latencies)
        still_open = sum(1 for v in open_ok if v.open_now)
        for v in visitors:
            if v.ws is not None:
                await v.ws.close()
    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 1) \
            if ordered else math.nan
    return {"visitors": count, "sessions_open": still_open, "setup_s": round(setup_s, 1),
            "ack_p50_ms_all_open": pct(50), "ack_p99_ms_all_open": pct(99),
            "switch_rss_mb": round(rss, 1), "failures": failures}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="3 s steps of 250 and 500/s")
    ap.add_argument("--rates", default="250,500,1000,1500")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--widgets", type=int, default=5000, help="Live Chat visitors (0: none)")
    args = ap.parse_args()
    rates = [250.0, 500.0] if args.quick else [float(r) for r in args.rates.split(",")]
    seconds = 3.0 if args.quick else args.seconds
    sut_cpus, gen_cpus = cpu_sets()
    if gen_cpus:
        import os
        os.sched_setaffinity(0, {int(c) for c in gen_cpus.split(",")})
    widget: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-messaging-") as tmp:
        workdir = Path(tmp) / "switch"
        sw = start_switch(workdir, switch_config(workdir), cpus=sut_cpus, timeout=60)
        try:
            print(f"messaging: General SMS webhooks to extension {AGENT[0]}'s websocket, "
                  f"{CUSTOMERS} customers; switch on CPU {sut_cpus}, generator on {gen_cpus}")
            steps = asyncio.run(drive(sw, rates, seconds))
            widget = asyncio.run(widgets(sw, args.widgets if not args.quick else 500)) \
                if args.widgets else None
            if widget is not None:
                print(f"widgets: {widget['sessions_open']} of {widget['visitors']} sessions "
                      f"open (set up in {widget['setup_s']} s); with all open, ack p50 "
                      f"{widget['ack_p50_ms_all_open']} ms p99 {widget['ack_p99_ms_all_open']}"
                      f" ms; switch RSS {widget['switch_rss_mb']} MB; failures "
                      f"{widget['failures']}", flush=True)
        finally:
            sw.stop()
    passing = [s for s in steps if s.passed]
    best = max(passing, key=lambda s: s.delivered / s.seconds) if passing else None
    result = {
        "messages_per_s": round(best.delivered / best.seconds, 1) if best else 0.0,
        "p99_ms": round(best.percentile(99) * 1000, 1) if best else None,
        "widget_sessions": widget["sessions_open"] if widget else None,
        "target_met": bool(best and best.delivered / best.seconds >= 1000
                           and (widget is None or widget["sessions_open"] >= 5000)),
        "steps": [s.summary() for s in steps],
        "widgets": widget,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
