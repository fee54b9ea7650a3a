"""`softswitch reload` while queue calls are in progress, with pjsua2 phones: a connected
queue call and a waiting caller survive a reload that changes their queue (strategy, an
added static agent who is a new extension), the new agent registers and gets the waiting
caller; a caller waiting in a queue the reload removes goes to that queue's failover; a
broken file changes nothing."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from phones import Phone
from queue_support import phone, queue_config

from benchmarks.peers.switch import Extension, RunningSwitch, softswitch_binary

pytestmark = pytest.mark.interop

CALLERS = [("3000", "caller-0-pw"), ("3001", "caller-1-pw"), ("3002", "caller-2-pw")]
AGENT = ("2000", "agent-pw")
FALLBACK = ("2002", "fallback-pw")
NEW_AGENT = ("2005", "new-agent-pw")
EXTENSIONS = [Extension(*x) for x in (*CALLERS, AGENT, FALLBACK)]


def reload(switch: RunningSwitch) -> subprocess.CompletedProcess[str]:
    switch.config_path.write_text(yaml.safe_dump(switch.config, sort_keys=False))
    pid_file = switch.config_path.parent / "var" / f"{switch.config_path.stem}.pid"
    deadline = time.monotonic() + 5
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the switch wrote no pid file"
        time.sleep(0.05)
    return subprocess.run([softswitch_binary(), "reload", "--config", str(switch.config_path)],
                          capture_output=True, text=True, timeout=30)


def generation(switch: RunningSwitch) -> int:
    with urllib.request.urlopen(f"{switch.http_url}/api/v1/health", timeout=5) as r:
        return int(json.load(r)["config_generation"])


def connected(agent: Phone, caller: Phone, call: int) -> int:
    ring = agent.wait_incoming(timeout=10)
    agent.answer(ring)
    agent.wait_call_state(ring, "CONFIRMED")
    caller.wait_media(call)
    return ring


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[
    queue_config("6480", "Sales", static_agents=[AGENT[0]]),
    queue_config("6481", "Support", static_agents=[AGENT[0]],
                 failover={"type": "extension", "target": FALLBACK[0]})])
def test_reload_during_live_queue_calls(switch: RunningSwitch,
                                        phone_factory: Callable[..., Phone]) -> None:
    callers = phone_factory("callers")
    for number, password in CALLERS:
        assert callers.register(number, password, switch.host, switch.port).ok
    agent = phone(phone_factory, AGENT, switch)
    fallback = phone(phone_factory, FALLBACK, switch)

    def dial(who: tuple[str, str], queue: str) -> int:
        call = callers.call(switch.uri(queue), account=who[0])
        callers.wait_call_state(call, "CONFIRMED")  # the queue answers at once
        return call

    talking = dial(CALLERS[0], "6480")
    agent_leg = connected(agent, callers, talking)
    waiting = dial(CALLERS[1], "6480")  # the only agent is busy: waits
    stranded = dial(CALLERS[2], "6481")  # ditto, in the queue about to be removed
    time.sleep(0.5)

    config: dict[str, Any] = switch.config
    config["extensions"].append(Extension(*NEW_AGENT).as_config())
    config["queues"] = [queue_config("6480", "Sales", strategy="linear",
                                     static_agents=[AGENT[0], NEW_AGENT[0]])]
    done = reload(switch)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "extensions +2005" in done.stdout and "queues -6481 ~6480" in done.stdout

    # the caller of the removed queue reaches its failover extension
    fallback_leg = connected(fallback, callers, stranded)
    # the new extension registers with its password and takes the waiting caller
    new_agent = phone(phone_factory, NEW_AGENT, switch)
    new_leg = connected(new_agent, callers, waiting)

    # a broken file: refused with file:line, nothing changes
    before = generation(switch)
    config["queues"][0]["strategy"] = "sideways"
    refused = reload(switch)
    assert refused.returncode == 1
    assert f"{switch.config_path}:" in refused.stderr and "queues[0].strategy" in refused.stderr
    assert generation(switch) == before

    # every call is still up; nothing was dropped by either reload
    time.sleep(0.5)
    for call in (talking, waiting, stranded):
        assert "DISCONNECTED" not in callers.call_states(call)
    for p, leg in ((agent, agent_leg), (new_agent, new_leg), (fallback, fallback_leg)):
        assert "DISCONNECTED" not in p.call_states(leg)
    for call in (talking, waiting, stranded):
        callers.hangup(call)
        callers.wait_call_state(call, "DISCONNECTED")
