"""The live API with real phones (pjsua2): a caller's call into a queue arrives on a
websocket as `call.entered` and is in the next client's snapshot; the agent's answer and the
hang-up follow as deltas, and the figures are the switch's (softswitch.web)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from phones import Phone
from queue_support import phone, queue_config
from websockets.sync.client import connect

from benchmarks.peers.switch import Extension, RunningSwitch

CALLER = ("3000", "caller-pw")
AGENT = ("2000", "agent-pw")
ADMIN = ("2900", "admin-pw")
EXTENSIONS = [Extension(*x) for x in (CALLER, AGENT, ADMIN)]
QUEUE = queue_config("6470", "Live", static_agents=[AGENT[0]], managers=[ADMIN[0]])


def token(switch: RunningSwitch, who: tuple[str, str]) -> str:
    req = urllib.request.Request(switch.http_url + "/api/v1/login", method="POST",
                                 data=json.dumps({"extension": who[0],
                                                  "password": who[1]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        return str(json.loads(reply.read())["token"])


class Feed:
    """A subscribed websocket; `next(kind)` skips other messages, reads batches in order."""

    def __init__(self, switch: RunningSwitch, who: tuple[str, str]) -> None:
        url = switch.http_url.replace("http://", "ws://") + "/api/v1/ws"
        self._connection = connect(f"{url}?token={token(switch, who)}")
        self.sock = self._connection.__enter__()  # closed by close()
        self.unread: list[dict[str, Any]] = []
        assert self.next("welcome")["extension"] == who[0]
        self.sock.send(json.dumps({"type": "subscribe", "queues": [QUEUE["number"]]}))
        self.snapshot = self.next("snapshot")

    def next(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            if not self.unread:
                data = json.loads(self.sock.recv(timeout=max(0.1, deadline - time.monotonic())))
                self.unread.extend(data if isinstance(data, list) else [data])
            msg = self.unread.pop(0)
            if msg["type"] == kind:
                return msg

    def close(self) -> None:
        self._connection.__exit__(None, None, None)


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[QUEUE],
                           overrides={"admins": [ADMIN[0]]})
def test_a_phone_call_into_the_queue_is_on_the_live_feed(
        switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
    watcher = Feed(switch, ADMIN)
    assert watcher.snapshot["queues"][0]["waiting"] == []
    caller = phone(phone_factory, CALLER, switch)
    call = caller.call(f"sip:{QUEUE['number']}@{switch.host}:{switch.port}")
    caller.wait_call_state(call, "CONFIRMED")
    entered = watcher.next("call.entered")
    assert entered["call"]["caller"] == CALLER[0] and entered["call"]["position"] == 1
    stats = watcher.next("queue.stats")
    assert stats["kpis"]["waiting_calls"] == 1
    late = Feed(switch, ADMIN)  # a client that connects now finds the caller in its snapshot
    waiting = late.snapshot["queues"][0]["waiting"]
    assert [c["caller"] for c in waiting] == [CALLER[0]]
    assert late.snapshot["seq"] >= entered["seq"]
    agent = phone(phone_factory, AGENT, switch)  # registers: the queue rings it
    ringing = watcher.next("call.ringing")
    assert ringing["agents"] == [AGENT[0]]
    incoming = agent.wait_incoming()
    agent.answer(incoming)
    answered = watcher.next("call.answered")
    assert (answered["call"]["agent"], answered["call"]["caller"]) == (AGENT[0], CALLER[0])
    assert late.next("call.answered")["seq"] == answered["seq"]  # same order for everyone
    caller.hangup(call)
    ended = watcher.next("call.ended")
    assert ended["agent"] == AGENT[0] and ended["talked"] > 0
    kpis = watcher.next("queue.stats")["kpis"]
    while kpis["active_calls"]:
        kpis = watcher.next("queue.stats")["kpis"]
    assert (kpis["answered"], kpis["total"], kpis["answer_rate"]) == (1, 1, 100.0)
    watcher.close()
    late.close()
