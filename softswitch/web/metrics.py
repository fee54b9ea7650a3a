"""/metrics in the Prometheus text format (prometheus-client), for operators.

Gauges are read when scraped (registrations, calls, waiting callers, longest wait,
websocket clients); counters follow the event bus (ACD events by type, calls by
disposition) and the SIP endpoint (requests by method, responses by code, counted in
softswitch.sip.endpoint). Each switch has its own registry (tests run several).

Decision: /metrics needs no log-in, as Prometheus scrapers expect; keep `http.listen` on
loopback or a trusted LAN (the figures are counts, never numbers or names).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from softswitch.events import EventBus

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class SwitchCollector:
    """Reads the switch's figures at scrape time."""

    def __init__(self, router: Any, panels: Any, clients: Callable[[], int]) -> None:
        self.router = router
        self.panels = panels
        self.clients = clients
        self.acd_events: dict[str, int] = {}
        self.calls_by_disposition: dict[str, int] = {}
        self._sub = router.events.subscribe(self._event)

    def _event(self, event: Any) -> None:
        name = type(event).__name__
        if type(event).__module__ == "acd.events":
            self.acd_events[name] = self.acd_events.get(name, 0) + 1
        elif name == "CallEnded" and hasattr(event, "disposition"):
            d = str(event.disposition)
            self.calls_by_disposition[d] = self.calls_by_disposition.get(d, 0) + 1

    def close(self) -> None:
        self._sub.cancel()

    def collect(self) -> Iterable[Any]:
        router = self.router
        yield GaugeMetricFamily("softswitch_registrations", "Live registrations (contacts)",
                                value=router.registrar.count())
        yield GaugeMetricFamily("softswitch_active_calls", "Calls in progress (B2BUA)",
                                value=router.calls.active_count())
        calls = CounterMetricFamily("softswitch_calls", "Ended calls by disposition",
                                    labels=["disposition"])
        for d, n in sorted(self.calls_by_disposition.items()):
            calls.add_metric([d], n)
        yield calls
        stats = getattr(router.endpoint, "counts", None)
        requests = CounterMetricFamily("softswitch_sip_requests",
                                       "SIP requests received, by method", labels=["method"])
        responses = CounterMetricFamily("softswitch_sip_responses",
                                        "SIP responses sent, by status code", labels=["code"])
        if stats is not None:
            for m, n in sorted(stats.requests.items()):
                requests.add_metric([m], n)
            for c, n in sorted(stats.responses.items()):
                responses.add_metric([str(c)], n)
        yield requests
        yield responses
        events = CounterMetricFamily("softswitch_acd_events", "ACD events, by type",
                                     labels=["type"])
        for name, n in sorted(self.acd_events.items()):
            events.add_metric([name], n)
        yield events
        waiting = GaugeMetricFamily("softswitch_queue_waiting_callers",
                                    "Callers waiting in the queue", labels=["queue"])
        longest = GaugeMetricFamily("softswitch_queue_longest_wait_seconds",
                                    "Wait of the longest-waiting caller", labels=["queue"])
        acd = self.panels.acd()
        now = self.panels.clock()
        for q in acd.queues():
            snap = acd.statistics(q, now)
            waiting.add_metric([q], snap.waiting)
            longest.add_metric([q], snap.longest_wait)
        yield waiting
        yield longest
        yield GaugeMetricFamily("softswitch_websocket_clients", "Connected websocket clients",
                                value=self.clients())


def registry_for(collector: SwitchCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


async def serve(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


__all__ = ["EventBus", "REGISTRY", "SwitchCollector", "registry_for", "serve"]
