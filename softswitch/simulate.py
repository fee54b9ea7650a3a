"""`softswitch simulate --config FILE [--hours H] [--seed N] [--json]`: capacity planning.

Runs the real ACD engine (acd/) in virtual time against synthetic traffic and prints, per
queue, what callers would experience next to the Erlang C prediction for the same numbers.

Traffic model, per queue, from the queue's ``simulation`` mapping in the config:

* ``arrivals_per_hour``: Poisson arrivals;
* ``mean_handle_time``: exponential talk time (seconds);
* ``mean_patience``: exponential time a caller is willing to wait before hanging up
  (0 = callers never abandon; Erlang C assumes that);
* ``agents``: how many of the queue's agents take part (0 = all). Every taking-part agent is
  signed in, registered and answers an offer at once.

Queues without ``simulation`` get no traffic (their agents still serve other queues).
Everything else (strategy, wrap-up, max wait, capacity, priority, ...) is the queue's real
configuration, except time-based routing: simulated calls all arrive during business hours
(the traffic model describes the open hours). Callback offers are declined by the simulated
callers. Erlang C assumes
dedicated agents with no wrap-up and no abandonment, so it is shown as the reference, not as
the truth, when a queue shares agents, has wrap-up or impatient callers.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import math
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from acd import Acd, AcdConfigError, parse_acd_config
from acd.commands import CollectCallbackNumber, RingAgents
from acd.config import AcdConfig, QueueConfig
from acd.events import CallStatus, TaskLeft
from acd.sla import meets_sla

# --- Erlang C ------------------------------------------------------------------------------

def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability, by the stable recursion B(n) = A B(n-1) / (n + A B(n-1))."""
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller has to wait (M/M/c); 1.0 when the queue is overloaded."""
    if agents <= 0 or traffic >= agents:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1.0 - b))


@dataclass(frozen=True)
class ErlangCPrediction:
    traffic: float  # Erlangs offered
    probability_wait: float
    average_wait: float | None  # ASA over all callers, seconds; None = overloaded
    service_level: float | None  # percent answered within the SLA time
    occupancy: float


def predict(arrivals_per_hour: float, handle_time: float, agents: int,
            sla_time: float) -> ErlangCPrediction:
    traffic = arrivals_per_hour * handle_time / 3600.0
    pw = erlang_c(agents, traffic)
    if agents <= 0 or traffic >= agents:
        return ErlangCPrediction(traffic, 1.0, None, None, 1.0)
    asa = pw * handle_time / (agents - traffic)
    sl = 100.0 * (1.0 - pw * math.exp(-(agents - traffic) * sla_time / handle_time))
    return ErlangCPrediction(traffic, pw, asa, sl, traffic / agents)


# --- the simulation ------------------------------------------------------------------------

@dataclass
class QueueResult:
    queue: str
    name: str
    agents: int
    calls: int = 0
    answered: int = 0
    abandoned: int = 0
    missed: int = 0
    waited_answered: list[float] = field(default_factory=list)
    waited_all: list[float] = field(default_factory=list)
    answered_within_sla: int = 0
    waited_at_all: int = 0  # answered or not, callers who did not get an agent at once

    def summary(self, sla_time: float, prediction: ErlangCPrediction) -> dict[str, Any]:
        settled = self.answered + self.abandoned + self.missed
        waits = sorted(self.waited_all)
        return {
            "queue": self.queue, "name": self.name, "agents": self.agents,
            "calls": self.calls, "answered": self.answered, "abandoned": self.abandoned,
            "missed": self.missed,
            "service_level": 100.0 * self.answered_within_sla / settled if settled else None,
            "abandon_rate": 100.0 * self.abandoned / settled if settled else None,
            "probability_wait": self.waited_at_all / settled if settled else None,
            "average_wait": sum(waits) / len(waits) if waits else None,
            "average_wait_answered": (sum(self.waited_answered) / len(self.waited_answered)
                                      if self.waited_answered else None),
            "p90_wait": waits[int(0.9 * (len(waits) - 1))] if waits else None,
            "max_wait": waits[-1] if waits else None,
            "sla_time": sla_time,
            "erlang_c": asdict(prediction),
        }


ARRIVAL, ABANDON, CALL_END = 0, 1, 2


def simulate(config: AcdConfig, hours: float, seed: int) -> list[dict[str, Any]]:
    """Run the engine over ``hours`` of virtual time; one summary per simulated queue."""
    rng = random.Random(seed)
    config = dataclasses.replace(config, queues=tuple(
        dataclasses.replace(q, time_based_routing=None) for q in config.queues))
    acd = Acd(config, seed=seed)
    queues = [q for q in config.queues if q.simulation is not None]
    end = hours * 3600.0
    heap: list[tuple[float, int, int, str, str]] = []
    counter = 0

    def push(when: float, kind: int, a: str, b: str = "") -> None:
        nonlocal counter
        counter += 1
        heapq.heappush(heap, (when, counter, kind, a, b))

    taking_part: dict[str, set[str]] = {}
    for q in queues:
        sim = q.simulation
        assert sim is not None
        members = [m.extension for m in q.members]
        chosen = members[:sim.agents] if sim.agents else members
        taking_part[q.number] = set(chosen)
        if sim.arrivals_per_hour > 0:
            push(rng.expovariate(sim.arrivals_per_hour / 3600.0), ARRIVAL, q.number)
    for q in config.queues:
        part = taking_part.get(q.number, set())
        for m in q.members:
            dynamic = m in q.dynamic_agents
            signed_in = acd.is_signed_in(m.extension, q.number)
            if q.simulation is not None and m.extension not in part:
                # not staffed in this queue (it may still serve its other queues)
                if dynamic and signed_in:
                    acd.handle_agent_signed_out(m.extension, q.number, 0.0)
                elif not dynamic:
                    acd.handle_agent_paused(m.extension, q.number, 0.0)
            elif dynamic and not signed_in:
                acd.handle_agent_signed_in(m.extension, q.number, 0.0)
    results = {q.number: QueueResult(q.number, q.name, len(taking_part[q.number]))
               for q in queues}
    by_number: dict[str, QueueConfig] = {q.number: q for q in queues}
    first_ring: dict[str, bool] = {}
    answered: set[str] = set()
    next_id = 0

    def run_output(out: Any, now: float) -> None:
        pending = [out]
        while pending:
            o = pending.pop()
            for e in o.events:
                if isinstance(e, TaskLeft) and e.queue in results:
                    r = results[e.queue]
                    r.waited_all.append(e.waited)
                    if e.waited > 0 or not first_ring.get(e.task, False):
                        r.waited_at_all += 1
                    if e.status is CallStatus.ANSWERED:
                        r.answered += 1
                        r.waited_answered.append(e.waited)
                        if meets_sla(e.waited, by_number[e.queue].sla.time):
                            r.answered_within_sla += 1
                        answered.add(e.task)
                    elif e.status is CallStatus.ABANDONED:
                        r.abandoned += 1
                    else:
                        r.missed += 1
            for c in o.commands:
                if isinstance(c, RingAgents):
                    first_ring.setdefault(c.task, True)
                    pending.append(acd.handle_offer_answered(c.task, c.agents[0], now))
                    sim = by_number[c.queue].simulation if c.queue in by_number else None
                    mean = sim.mean_handle_time if sim else 180.0
                    push(now + rng.expovariate(1.0 / mean), CALL_END, c.task)
                elif isinstance(c, CollectCallbackNumber):
                    pending.append(acd.handle_callback_declined(c.task, now))

    while True:
        deadline = acd.next_deadline()
        t_sim = heap[0][0] if heap else math.inf
        t = min(t_sim, deadline if deadline is not None else math.inf)
        if t == math.inf or t > end:
            break
        if deadline is not None and deadline <= t_sim:
            run_output(acd.tick(deadline), deadline)
            continue
        when, _, kind, a, _b = heapq.heappop(heap)
        if kind == ARRIVAL:
            sim = by_number[a].simulation
            assert sim is not None
            next_id += 1
            task = f"sim-{next_id}"
            results[a].calls += 1
            first_ring[task] = False
            out = acd.handle_task_arrived(task, a, when, caller=f"555{next_id:07d}")
            if any(isinstance(c, RingAgents) for c in out.commands):
                first_ring[task] = True
            run_output(out, when)
            if sim.mean_patience > 0 and task not in answered:
                push(when + rng.expovariate(1.0 / sim.mean_patience), ABANDON, task)
            push(when + rng.expovariate(sim.arrivals_per_hour / 3600.0), ARRIVAL, a)
        elif kind == ABANDON:
            if a not in answered and acd.position(a) is not None:
                run_output(acd.handle_task_left(a, when), when)
        else:
            run_output(acd.handle_call_ended(a, when), when)

    summaries = []
    for q in queues:
        sim = q.simulation
        assert sim is not None
        prediction = predict(sim.arrivals_per_hour, sim.mean_handle_time,
                             len(taking_part[q.number]), q.sla.time)
        summary = results[q.number].summary(q.sla.time, prediction)
        summary["shared_agents"] = sorted(
            a for a in taking_part[q.number]
            if any(a in part for n, part in taking_part.items() if n != q.number))
        summary["wrapup"] = q.wrapup
        summaries.append(summary)
    return summaries


# --- the command ---------------------------------------------------------------------------

def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def render_table(summaries: list[dict[str, Any]], hours: float) -> str:
    lines = [f"Simulated {hours:g} h of queue traffic (ACD engine in virtual time); "
             "Erlang C beside each figure (dedicated agents, no abandonment, no wrap-up).",
             "",
             f"{'queue':<16}{'agents':>7}{'calls':>7}{'answ':>6}{'aband':>6}{'miss':>5}"
             f"{'SLA sim':>9}{'SLA ErlC':>10}{'P(wait) sim':>13}{'ErlC':>7}"
             f"{'ASA sim':>9}{'ASA ErlC':>10}{'abandon%':>10}{'p90 wait':>10}{'max wait':>10}"]
    for s in summaries:
        ec = s["erlang_c"]
        label = f"{s['queue']} {s['name']}"[:15]
        lines.append(
            f"{label:<16}{s['agents']:>7}{s['calls']:>7}{s['answered']:>6}{s['abandoned']:>6}"
            f"{s['missed']:>5}{_fmt(s['service_level'], '%'):>9}"
            f"{_fmt(ec['service_level'], '%'):>10}{_fmt(s['probability_wait'], '', 3):>13}"
            f"{_fmt(ec['probability_wait'], '', 3):>7}{_fmt(s['average_wait'], 's'):>9}"
            f"{_fmt(ec['average_wait'], 's'):>10}{_fmt(s['abandon_rate'], '%'):>10}"
            f"{_fmt(s['p90_wait'], 's'):>10}{_fmt(s['max_wait'], 's'):>10}")
        if ec["average_wait"] is None:
            lines.append(f"{'':16}offered {ec['traffic']:.2f} Erlangs >= {s['agents']} agents: "
                         "Erlang C predicts an unbounded queue")
        if s["shared_agents"]:
            lines.append(f"{'':16}agents {', '.join(s['shared_agents'])} also serve other "
                         "simulated queues: Erlang C counts them as dedicated")
        if s["wrapup"]:
            lines.append(f"{'':16}wrap-up {s['wrapup']:g} s after each call lengthens the real "
                         "handle time beyond Erlang C's")
    lines.append("")
    lines.append("SLA = answered within the queue's SLA time / calls settled; ASA = average "
                 "wait of all settled callers.")
    return "\n".join(lines)


def load(path: str) -> AcdConfig:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise AcdConfigError((), "the configuration must be a mapping")
    extensions = None
    if isinstance(raw.get("extensions"), list):
        extensions = [str(e.get("number")) for e in raw["extensions"] if isinstance(e, dict)]
    return parse_acd_config(raw, extensions=extensions)


def simulate_command(args: argparse.Namespace) -> int:
    try:
        config = load(args.config)
    except OSError as exc:
        print(f"{args.config}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except yaml.YAMLError as exc:
        print(f"{args.config}: not valid YAML: {exc}", file=sys.stderr)
        return 2
    except AcdConfigError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    if args.hours <= 0:
        print("--hours must be positive", file=sys.stderr)
        return 2
    if not any(q.simulation is not None for q in config.queues):
        print(f"{args.config}: no queue has a `simulation` section (arrivals_per_hour, "
              "mean_handle_time, mean_patience, agents); nothing to simulate", file=sys.stderr)
        return 2
    summaries = simulate(config, args.hours, args.seed)
    if args.json:
        print(json.dumps({"hours": args.hours, "seed": args.seed, "queues": summaries}))
    else:
        print(render_table(summaries, args.hours))
    return 0


