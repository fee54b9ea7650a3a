"""The switch's event bus: order, type filters, cancel, and a failing subscriber."""

from __future__ import annotations

from acd.events import AgentPaused, AgentResumed
from softswitch.events import EventBus


def test_every_subscriber_sees_events_in_order() -> None:
    bus = EventBus()
    a: list[object] = []
    b: list[object] = []
    bus.subscribe(a.append)
    bus.subscribe(b.append)
    e1 = AgentPaused(at=1.0, agent="1001", queue="6400", reason="Lunch")
    e2 = AgentResumed(at=2.0, agent="1001", queue="6400")
    bus.publish_all([e1, e2])
    assert a == [e1, e2] and b == [e1, e2]


def test_type_filter_and_cancel() -> None:
    bus = EventBus()
    paused: list[AgentPaused] = []
    sub = bus.subscribe(paused.append, AgentPaused)
    bus.publish(AgentResumed(at=1.0, agent="1001", queue="6400"))
    bus.publish(AgentPaused(at=2.0, agent="1001", queue="6400", reason=""))
    assert [e.at for e in paused] == [2.0]
    sub.cancel()
    bus.publish(AgentPaused(at=3.0, agent="1001", queue="6400", reason=""))
    assert [e.at for e in paused] == [2.0]
    assert len(bus) == 0


def test_failing_subscriber_does_not_break_publisher_or_others() -> None:
    bus = EventBus()
    seen: list[object] = []

    def broken(event: object) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    event = AgentResumed(at=1.0, agent="1001", queue="6400")
    bus.publish(event)  # must not raise
    assert seen == [event]
