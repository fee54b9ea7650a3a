"""The shell's `Ringer` over softswitch.queue.dialer: rings an extension's registered
contacts, or an external number through the outbound route its prefix matches
(softswitch.trunks). The one seam to swap for the shared fork (softswitch.calls.fork)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from media import MediaLeg
from softswitch.apps.indialog import InDialogPolicy
from softswitch.clock import Clock
from softswitch.queue.dialer import Dialer, OutboundCall
from softswitch.queue.seams import Endpoint, Target
from softswitch.trunks import TrunkRouter


class DialerRinger:
    """``lookup``: the registrar's bindings of a number at a time; ``trunks``: numbers
    without a binding go out through the outbound route their prefix matches."""

    def __init__(self, *, endpoint: Endpoint, domain: str, user_agent: str,
                 lookup: Callable[[str, float], Sequence[Target]],
                 trunks: TrunkRouter | None, clock: Clock) -> None:
        self.index: dict[str, OutboundCall] = {}
        self.dialer = Dialer(endpoint, domain, user_agent, self.index, clock)
        self.lookup = lookup
        self.trunks = trunks
        self.clock = clock.monotonic

    def _targets(self, number: str) -> list[Target]:
        targets = list(self.lookup(number, self.clock()))
        if targets or self.trunks is None:
            return targets
        from softswitch.trunks import OutboundCall as Outbound
        from softswitch.trunks import trunk_target

        out = self.trunks.outbound(number)
        if not isinstance(out, Outbound) or out.trunk not in self.trunks.trunks:
            return []

        return [trunk_target(self.trunks.trunks[out.trunk], out.number)]

    def ring(self, number: str, leg: MediaLeg, *, from_user: str, display: str,
             answered: Callable[[OutboundCall], None],
             failed: Callable[[OutboundCall, int], None]) -> OutboundCall | None:
        """None when `number` has no phone to ring (not registered, no route)."""
        targets = self._targets(number)
        if not targets:
            return None
        call = OutboundCall(number, leg, on_answered=answered, on_failed=failed)
        self.dialer.start(call, targets, from_user=from_user, display=display)
        return call

    def cancel(self, call: OutboundCall) -> None:
        self.dialer.cancel(call)

    def owns(self, call_id: str) -> OutboundCall | None:
        return self.index.get(call_id)

    def leg_of(self, call: OutboundCall) -> MediaLeg | None:
        return call.leg

    def policy_of(self, call: OutboundCall) -> InDialogPolicy | None:
        """The answered branch's dialog with our offer and Contact as the local side."""
        return call.policy()
