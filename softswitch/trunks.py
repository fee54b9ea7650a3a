"""SIP trunks: which requests come from a provider and where trunk calls go (sans-IO).

`TrunkRouter` is built from the validated `trunks`, `inbound_routes` and `outbound_routes`
(config.example.yaml, core region) and answers three questions without any I/O:

- `trunk_for_source(host, port, transport)`: is this request from a configured trunk? A
  provider does not authenticate to us, so a request whose source is a trunk's `host` and
  `port` (UDP; over TCP the host alone, the source port being ephemeral) is trusted without
  digest auth (RFC 3261 §22 leaves peer trust to local policy). The port is compared
  strictly, also for the default 5060: phones behind the provider's address on other ports
  must still authenticate.
- `inbound(trunk, did)`: the inbound route, whose destination ({type, target}, any type
  of §11.1, resolved by softswitch.destinations) serves a dialled number (DID) arriving on
  a trunk, or None (the switch answers 404).
- `outbound(number, users)`: the trunk and the number to send for a dialled number that
  matches an outbound route's prefix (spec/queue-admin.md §4: the callback's outbound
  prefix), through a route every extension of `users` may use; `OutboundRefused` when routes
  match but none is permitted to them (the caller gets 403 Forbidden, a queue callback
  fails: queue-admin.md §4.1 "All agents in the queue must have permission to use that
  outbound route, otherwise callback fails").

Decisions (ambiguities of issue 5 / the brief):
- DID matching is exact, or `*` for any number; the first matching route in file order wins;
  a route without `trunk` applies to every trunk.
- Outbound routes: the longest matching prefix wins (then file order); `strip` removes that
  many digits from the front, `prepend` is added after stripping. A number equal to the
  prefix alone (nothing left to dial) does not match.
- Permission to use a route (FreePBX / Yeastar "route permissions"): a route's `extensions`
  lists the extensions allowed to use it; a route without the key is open to every
  extension. The matching routes are tried in the order above and the first the caller may
  use wins (Yeastar's order of outbound routes): a restricted `00` route can fall back to a
  cheaper open `0` route. Only when routes match and none is permitted is the call refused
  (403); when no route matches it is 404 as before. A queue callback is made on behalf of
  every agent of the queue (static and dynamic members), so its route must be permitted to
  all of them.
- Source matching compares the configured host literally with the packet's source address
  (no DNS at request time): configure trunks by IP address to have them recognised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from acd.config import Destination, DestinationType

if TYPE_CHECKING:
    from softswitch.dialplan import Rule

ANY_DID = "*"
INBOUND_DESTINATION_TYPES = tuple(t.value for t in DestinationType)


class TrunkAccount(Protocol):
    """What a call needs of the trunk it goes out on (softswitch.config.Trunk): its name
    for the log, the From user it presents and the credentials of a 401/407."""

    @property
    def name(self) -> str: ...

    @property
    def username(self) -> str: ...

    @property
    def password(self) -> str: ...

    @property
    def from_user(self) -> str: ...


class TrunkPeer(TrunkAccount, Protocol):
    """What the switch uses of a configured trunk (softswitch.config.Trunk): where it is
    (host, port, transport: source matching and the Request-URI of outbound calls), and
    what an outbound call presents (the `TrunkAccount` part)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def transport(self) -> str: ...


@dataclass(frozen=True, slots=True)
class InboundRoute:
    """A DID on a trunk (or on any trunk when `trunk` is empty) to a destination."""

    name: str
    did: str
    destination_type: str
    destination_target: str = ""
    trunk: str = ""

    @property
    def destination(self) -> Destination:
        return Destination(DestinationType(self.destination_type), self.destination_target)


@dataclass(frozen=True, slots=True)
class OutboundRoute:
    """Numbers starting with `prefix` go out through `trunk` as
    `prepend + number[strip:]`."""

    name: str
    prefix: str
    trunk: str
    strip: int = 0
    prepend: str = ""
    extensions: frozenset[str] | None = None  # who may use it; None: every extension

    def refuses(self, users: Iterable[str]) -> tuple[str, ...]:
        """The extensions of `users` that may not use this route, in their order."""
        if self.extensions is None:
            return ()
        return tuple(u for u in users if u not in self.extensions)


@dataclass(frozen=True, slots=True)
class OutboundRefused:
    """Routes match the number but none is permitted: `route` is the first that matched,
    `refused` the extensions it does not permit."""

    number: str
    route: str
    refused: tuple[str, ...]

    @property
    def reason(self) -> str:
        who = "extension" if len(self.refused) == 1 else "extensions"
        return f"{who} {', '.join(self.refused)} may not use outbound route {self.route!r}"


@dataclass(frozen=True, slots=True)
class OutboundCall:
    """What `TrunkRouter.outbound` decided: the trunk's name and the number to send."""

    route: str
    trunk: str
    number: str


class TrunkRouter:
    """Routing decisions for trunk calls; `trunks` are config.Trunk objects (`TrunkPeer`)."""

    def __init__(self, trunks: Iterable[TrunkPeer], inbound: Iterable[InboundRoute] = (),
                 outbound: Iterable[OutboundRoute] = ()) -> None:
        self.reconfigure(trunks, inbound, outbound)

    def reconfigure(self, trunks: Iterable[TrunkPeer], inbound: Iterable[InboundRoute] = (),
                    outbound: Iterable[OutboundRoute] = ()) -> None:
        """Also a reload (softswitch.reload): the next request and the next call use the new
        trunks and routes; calls in progress keep the trunk they went out on."""
        self.trunks: dict[str, TrunkPeer] = {str(t.name): t for t in trunks}
        self.inbound_routes = tuple(inbound)
        self.outbound_routes = tuple(sorted(outbound, key=lambda r: -len(r.prefix)))

    def trunk_for_source(self, host: str, port: int,
                         transport: str = "udp") -> TrunkPeer | None:
        """The trunk whose host and port are this request's source. Over TCP the source
        port is the provider's ephemeral one, so a tcp trunk matches by host alone."""
        for trunk in self.trunks.values():
            if str(trunk.host) != host or str(trunk.transport) != transport:
                continue
            if transport == "tcp" or int(trunk.port) == port:
                return trunk
        return None

    def inbound(self, trunk: str, did: str) -> InboundRoute | None:
        for route in self.inbound_routes:
            if route.trunk and route.trunk != trunk:
                continue
            if route.did == ANY_DID or route.did == did:
                return route
        return None

    def outbound(self, number: str, users: Iterable[str] | None = None
                 ) -> OutboundCall | OutboundRefused | None:
        """The first matching route every extension of `users` may use (None: no
        permission check); OutboundRefused when routes match but none is permitted; None
        when no route matches."""
        members = tuple(users) if users is not None else ()
        refused: OutboundRefused | None = None
        for route in self.outbound_routes:
            if not (number.startswith(route.prefix) and len(number) > len(route.prefix)):
                continue
            rest = number[route.strip:]
            if not rest:
                continue
            denied = route.refuses(members) if users is not None else ()
            if denied:
                refused = refused or OutboundRefused(number, route.name, denied)
                continue
            return OutboundCall(route.name, route.trunk, route.prepend + rest)
        return refused


@dataclass(frozen=True, slots=True)
class TrunkTarget:
    """Where an outbound trunk INVITE goes, shaped like a registrar binding (contact,
    transport, received_host/port) so the B2BUA's and the queue dialer's branch code sends
    it unchanged; `trunk` carries the credentials for a 401/407 challenge."""

    contact: str
    transport: str
    received_host: str
    received_port: int
    trunk: TrunkPeer
    number: str


def trunk_target(trunk: TrunkPeer, number: str) -> TrunkTarget:
    """The Request-URI `sip:<number>@<trunk host>:<port>` (RFC 3261 §19.1) on the trunk."""
    host = f"[{trunk.host}]" if ":" in str(trunk.host) else str(trunk.host)
    contact = f"sip:{number}@{host}:{int(trunk.port)};transport={trunk.transport}"
    return TrunkTarget(contact, str(trunk.transport), str(trunk.host), int(trunk.port), trunk,
                       number)


def outbound_rule(router: TrunkRouter) -> Rule:
    """A dial-plan rule (softswitch.dialplan) sending numbers that match an outbound route to
    `Destination("external", <trunk>, (<number to send>,))`."""
    import re

    from softswitch.dialplan import EXTERNAL, Destination, Rule

    prefixes = [re.escape(r.prefix) for r in router.outbound_routes]
    pattern = re.compile("(?:" + "|".join(prefixes) + r")[0-9+*#]+" if prefixes
                         else r"(?!x)x")

    def build(m: re.Match[str], caller: str) -> Destination:
        out = router.outbound(m[0], (caller,))
        if out is None:
            from softswitch.dialplan import NOT_FOUND
            return Destination(NOT_FOUND, m[0])
        if isinstance(out, OutboundRefused):
            from softswitch.dialplan import FORBIDDEN
            return Destination(FORBIDDEN, out.route, (out.reason,))
        return Destination(EXTERNAL, out.trunk, (out.number,))

    return Rule("outbound routes", pattern, build)
