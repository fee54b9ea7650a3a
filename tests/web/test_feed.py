"""The feed's rules without a network (softswitch.web.live.Feed): numbering, batching per
loop turn, one encoding per group of clients, what a snapshot or replay already covered,
the replay window, and a failing client that does not stop the others."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from softswitch.web.live import Feed


@dataclass(eq=False)
class Screen:
    """A client that keeps the messages it was sent, decoded from the frames."""

    queues: frozenset[str]
    me: str = "9999"
    after: int = 0
    frames: list[bytes] = field(default_factory=list)

    @property
    def key(self) -> object:
        return (self.queues, self.me)

    def wants(self, queues: frozenset[str], agent: str | None) -> bool:
        return not queues.isdisjoint(self.queues) or agent == self.me

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)

    def messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for f in self.frames:
            n = f[1] & 0x7F
            payload = f[2:] if n < 126 else f[4:] if n == 126 else f[10:]
            data = json.loads(payload)
            out.extend(data if isinstance(data, list) else [data])
        return out


def feed() -> tuple[Feed, list[Callable[[], None]]]:
    scheduled: list[Callable[[], None]] = []
    return Feed(capacity=5, schedule=scheduled.append), scheduled


def test_one_frame_per_turn_with_the_wanted_deltas_in_order() -> None:
    f, scheduled = feed()
    sales, support, agent = Screen(frozenset({"6400"})), Screen(frozenset({"6401"})), \
        Screen(frozenset(), me="1002")
    f.clients |= {sales, support, agent}
    f.publish("call.entered", ["6400"], {"n": 1})
    f.publish("call.entered", ["6401"], {"n": 2})
    f.publish("agent.state", ["6400"], {"n": 3}, agent="1002")
    assert len(scheduled) == 1  # one flush for the turn
    scheduled.pop()()
    assert [m["seq"] for m in sales.messages()] == [1, 3]
    assert [m["seq"] for m in support.messages()] == [2]
    assert [m["seq"] for m in agent.messages()] == [3]  # its own change, no subscription
    assert [len(s.frames) for s in (sales, support, agent)] == [1, 1, 1]


def test_clients_with_the_same_subscription_share_the_frame_bytes() -> None:
    f, scheduled = feed()
    a, b = Screen(frozenset({"6400"})), Screen(frozenset({"6400"}))
    f.clients |= {a, b}
    f.publish("x", ["6400"], {})
    scheduled.pop()()
    assert a.frames[0] is b.frames[0]


def test_what_a_snapshot_covered_is_not_sent_again() -> None:
    f, scheduled = feed()
    f.publish("x", ["6400"], {})
    late = Screen(frozenset({"6400"}), after=f.seq)  # subscribed with a snapshot at seq 1
    f.clients.add(late)
    f.publish("y", ["6400"], {})
    scheduled.pop()()
    assert [m["type"] for m in late.messages()] == ["y"]


def test_replay_within_the_window_and_none_beyond() -> None:
    f, scheduled = feed()
    for i in range(8):
        f.publish("x", ["6400" if i % 2 else "6401"], {"i": i})
    me = Screen(frozenset({"6400"}))
    assert f.replay(8, me) == []
    replayed = f.replay(4, me)
    assert replayed is not None and [json.loads(t)["seq"] for t in replayed] == [6, 8]
    assert f.replay(2, me) is None  # seq 3 left the 5-delta buffer
    assert f.replay(99, me) is None  # a seq from another run


def test_a_failing_client_is_dropped_and_the_others_get_their_frame() -> None:
    f, scheduled = feed()

    class Broken(Screen):
        def write(self, frame: bytes) -> None:
            raise OSError("gone")

    broken, fine = Broken(frozenset({"6400"}), me="1"), Screen(frozenset({"6400"}), me="2")
    f.clients |= {broken, fine}
    f.publish("x", ["6400"], {})
    scheduled.pop()()
    assert len(fine.frames) == 1 and broken not in f.clients


def test_the_next_flush_waits_twice_as_long_as_a_slow_fan_out_took() -> None:
    """Adaptive batching (Feed.request_flush): a flush that took 10 ms (1,000 sockets'
    writes) is followed by none for 20 ms, and what is published meanwhile goes out in one
    frame per client; a fast flush (few clients) leaves the next one due at once; the pause
    is capped at 50 ms however long a flush was stretched."""
    clock = [100.0]
    timers: list[tuple[float, Callable[[], None]]] = []
    f = Feed(capacity=50, clock=lambda: clock[0],
             call_at=lambda when, fn: timers.append((when, fn)))

    @dataclass(eq=False)
    class SlowScreen(Screen):
        cost: float = 0.010

        def write(self, frame: bytes) -> None:
            super().write(frame)
            clock[0] += self.cost  # the socket write's time

    screen = SlowScreen(frozenset({"6400"}))
    f.clients.add(screen)
    f.publish("call.entered", ["6400"], {"n": 1})
    [(due, flush)] = timers
    assert due <= clock[0]  # nothing flushed before: due at once
    timers.clear()
    flush()  # took 10 ms: 100.000 -> 100.010
    f.publish("call.entered", ["6400"], {"n": 2})
    f.publish("call.left", ["6400"], {"n": 3})
    [(due, flush)] = timers
    assert due == pytest.approx(100.010 + 0.020)
    timers.clear()
    clock[0] = due
    flush()
    assert len(screen.frames) == 2  # the two deltas of the pause went in one frame
    assert [m["seq"] for m in screen.messages()] == [1, 2, 3]
    screen.cost = 0.0001  # fast now
    f.publish("call.entered", ["6400"], {"n": 4})
    [(due, flush)] = timers
    timers.clear()
    flush()
    f.publish("call.entered", ["6400"], {"n": 5})
    [(due, _)] = timers
    assert due - clock[0] <= 0.0002 + 1e-9
    timers.clear()
    screen.cost = 1.0  # a flush stretched by preemption
    _()
    f.publish("call.entered", ["6400"], {"n": 6})
    [(due, _)] = timers
    assert due == pytest.approx(clock[0] + 0.05)
