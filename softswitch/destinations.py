"""The destination router: every destination reference of the config goes through here
(spec/queue-admin.md §11.1; failover, time-based routing, key press, IVR keys, inbound
routes, ring-group failover, a flow's `RouteTo`, a Live Chat channel's `call_destination`:
the inbound route of the internal WebRTC trunk, softswitch.webrtc.trunk).

A destination is `acd.config.Destination` (`{type, target}`). `DestinationRouter.resolve`
turns one into a `Route`, a plain value the caller's current owner executes:

=================  =============================================  ==========================
type               target                                         route
=================  =============================================  ==========================
hangup             (none)                                         `HangupRoute`
extension          an extension number (`extensions`)             `ExtensionRoute`
queue              a queue number (`queues`)                      `QueueRoute`
external           a number matching an `outbound_routes` prefix  `ExternalRoute`
prompt             a prompt name (see below)                      `FlowRoute` (apps.prompt)
voicemail          an extension number (its voicemail box)        `FlowRoute` (registered)
group_voicemail    a group voicemail number (`group_voicemails`)  `FlowRoute` (registered)
ivr                an IVR number (`ivrs`)                         `FlowRoute` (registered)
call_flow          a call-flow number (`call_flows`)              `FlowRoute` (registered)
ring_group         a ring-group number (`ring_groups`)            `FlowRoute` (registered)
=================  =============================================  ==========================

Configuration of the applications (decision, shared with the flows' authors):

- Top-level keys, each a list of mappings with a unique `number` (digits, the number
  callers may also dial) and a `name`: `ivrs`, `ring_groups`, `call_flows`,
  `group_voicemails`. A destination's `target` is that number.
- Extension voicemail: top-level mapping `voicemail` (box settings: greeting, max length,
  e-mail...); every extension defined under `extensions` has a box; a `voicemail`
  destination's target is the extension number.
- Destinations inside those sections (IVR keys, timeout/invalid destinations, ring-group
  failover, call-flow branches) are `{type, target}` mappings like every other and are
  resolved here too.
- `prompt`: the target is a prompt name, looked up as `softswitch.queue.announce.
  resolve_prompt` does (system prompt `<language>/<name>`, a library id, or a `.wav` file,
  absolute or relative to `prompts.directory`).

Registry: the five application types above marked "registered" are served by flows in
their own modules (softswitch/apps/ivr.py, voicemail.py, ...). Each calls
`register_application(type, factory, section=..., exists=..., references=...)` at import
and is listed in `softswitch.apps.catalog` (imported by `applications()`). Until a type is
registered, `softswitch check` refuses every destination of that type with file:line
("destination type ivr: no such application configured"): a config never accepts a
destination that would end in silence. A registered type's `exists(config, target)` says
whether the target is configured; `references(config)` lists the destinations inside its
section (with their config paths) so that check validates them too.

Decisions:
- `external` needs an outbound route whose prefix matches the number (the number is sent
  as that route says); without one, check refuses the destination.
- `resolve` never raises for a config that passed check; a destination that is not
  available at run time (a reload removed it) resolves to `Unavailable(reason)`, which the
  caller's owner treats as "goodbye" and logs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acd.config import Destination, DestinationType

if TYPE_CHECKING:
    from softswitch.apps.flow import Flow

# A flow factory: (switch config, destination target) -> a new Flow for one caller; an
# application registered `contextual` also gets the running switch's `AppContext`
# (softswitch.apps.context: voicemail boxes, call-flow modes, the wall clock) as a third
# argument.
FlowFactory = Callable[..., "Flow"]


@dataclass(frozen=True, slots=True)
class Application:
    """A destination type served by a call application (see the module docstring)."""

    type: DestinationType
    factory: FlowFactory
    section: str  # the config key that declares its targets ("ivrs"), for messages
    exists: Callable[[Any, str], bool]
    references: Callable[[Any], Iterable[tuple[str, Destination]]] | None = None
    contextual: bool = False


_APPLICATIONS: dict[DestinationType, Application] = {}

APPLICATION_TYPES = (DestinationType.PROMPT, DestinationType.VOICEMAIL,
                     DestinationType.GROUP_VOICEMAIL, DestinationType.IVR,
                     DestinationType.CALL_FLOW, DestinationType.RING_GROUP)


def register_application(type: DestinationType, factory: FlowFactory, *, section: str,
                         exists: Callable[[Any, str], bool],
                         references: Callable[[Any], Iterable[tuple[str, Destination]]]
                         | None = None, contextual: bool = False) -> None:
    """Make `type` destinations run `factory(config, target)` on the call shell
    (`factory(config, target, context)` when `contextual`)."""
    if type not in APPLICATION_TYPES:
        raise ValueError(f"destination type {type.value} is not served by an application")
    _APPLICATIONS[type] = Application(type, factory, section, exists, references, contextual)


def applications() -> dict[DestinationType, Application]:
    """Every registered application (importing the catalog registers them)."""
    importlib.import_module("softswitch.apps.catalog")
    return dict(_APPLICATIONS)


# ----------------------------------------------------------------------------- routes


@dataclass(frozen=True, slots=True)
class HangupRoute:
    pass


@dataclass(frozen=True, slots=True)
class ExtensionRoute:
    number: str


@dataclass(frozen=True, slots=True)
class QueueRoute:
    number: str


@dataclass(frozen=True, slots=True)
class ExternalRoute:
    """Out through `trunk` as `send` (the outbound route's strip/prepend applied)."""

    number: str
    trunk: str
    send: str


@dataclass(frozen=True, slots=True)
class FlowRoute:
    """Run an application for the caller on the call shell."""

    type: DestinationType
    target: str
    factory: Callable[[], Flow]


@dataclass(frozen=True, slots=True)
class Unavailable:
    reason: str


Route = HangupRoute | ExtensionRoute | QueueRoute | ExternalRoute | FlowRoute | Unavailable


class DestinationRouter:
    """Resolves destinations against one validated config (module docstring)."""

    def __init__(self, config: Any, context: Any = None) -> None:
        self.config = config
        self.apps = applications()
        self.context = context  # softswitch.apps.context.AppContext (None in `check`)

    def problem(self, destination: Destination) -> str | None:
        """Why `destination` cannot be used with this config, or None when it can."""
        cfg = self.config
        kind, target = destination.type, destination.target
        if kind is DestinationType.HANGUP:
            return None
        if kind is DestinationType.EXTENSION:
            return None if cfg.extension(target) is not None else \
                f"no extension {target} is defined under extensions"
        if kind is DestinationType.QUEUE:
            queues = {q.number for q in cfg.acd.queues} if cfg.acd is not None else set()
            return None if target in queues else f"no queue {target} is defined in queues"
        if kind is DestinationType.EXTERNAL:
            return None if self._outbound(target) is not None else \
                f"no outbound route matches the external number {target}"
        app = self.apps.get(kind)
        if app is None:
            return f"destination type {kind.value}: no such application configured"
        if not app.exists(cfg, target):
            return f"no {kind.value} {target} is defined in {app.section}"
        return None

    def _outbound(self, number: str) -> Any:
        """The outbound route a number goes out by (None: no route matches). No permission
        check: a destination is the admin's routing, not an extension dialling."""
        from softswitch.trunks import OutboundCall, TrunkRouter

        out = TrunkRouter(self.config.trunks, (), self.config.outbound_routes).outbound(number)
        return out if isinstance(out, OutboundCall) else None

    def resolve(self, destination: Destination) -> Route:
        """The route for one destination (§11.1)."""
        problem = self.problem(destination)
        if problem is not None:
            return Unavailable(problem)
        kind, target = destination.type, destination.target
        if kind is DestinationType.HANGUP:
            return HangupRoute()
        if kind is DestinationType.EXTENSION:
            return ExtensionRoute(target)
        if kind is DestinationType.QUEUE:
            return QueueRoute(target)
        if kind is DestinationType.EXTERNAL:
            out = self._outbound(target)
            return ExternalRoute(target, out.trunk, out.number)
        app = self.apps[kind]
        cfg = self.config
        if app.contextual:
            if self.context is None:
                return Unavailable(f"{kind.value} needs the running switch")
            context = self.context
            return FlowRoute(kind, target, lambda: app.factory(cfg, target, context))
        return FlowRoute(kind, target, lambda: app.factory(cfg, target))

    def references(self, *, inbound: bool = True) -> Iterable[tuple[str, Destination]]:
        """Every destination of the config, with its config path (for check).
        `inbound=False` leaves out the inbound routes (whose list may have lost entries
        that did not parse: the config check names those by their own paths)."""
        cfg = self.config
        for i, route in enumerate(cfg.inbound_routes if inbound else ()):
            dest = getattr(route, "destination", None)
            if isinstance(dest, Destination):
                yield f"inbound_routes[{i}].destination", dest
        acd = cfg.acd
        for i, q in enumerate(acd.queues if acd is not None else ()):
            base = f"queues[{i}]"
            yield f"{base}.failover", q.failover
            tbr = q.time_based_routing
            if tbr is not None:
                yield f"{base}.time_based_routing.outside_business_hours", \
                    tbr.outside_business_hours
                yield f"{base}.time_based_routing.holiday", tbr.holiday
            # the config's list, in its order (the ACD keeps it as key -> destination)
            for i, dest in enumerate(q.key_press_events.values()):
                yield f"{base}.key_press_events[{i}].destination", dest
        for i, channel in enumerate(getattr(cfg, "message_channels", ())):
            dest = getattr(getattr(channel, "options", None), "call_destination", None)
            if isinstance(dest, Destination):
                yield f"message_channels[{i}].call_destination", dest
        for app in self.apps.values():
            if app.references is not None:
                yield from app.references(cfg)

    def check(self, references: Iterable[tuple[str, Destination]] | None = None
              ) -> list[tuple[str, str]]:
        """(config path, message) for every destination (of `references`, default all of
        the config) that cannot be used."""
        issues: list[tuple[str, str]] = []
        for path, dest in self.references() if references is None else references:
            problem = self.problem(dest)
            if problem is None:
                continue
            if dest.type in APPLICATION_TYPES and dest.type not in self.apps:
                issues.append((f"{path}.type", problem))
            else:
                issues.append((f"{path}.target" if dest.target else path, problem))
        return issues


def prompt_exists(config: Any, name: str) -> bool:
    """A `prompt` destination's target can be played (see the module docstring)."""
    from media.player import LANGUAGES, PromptLibrary

    if not name:
        return False
    library = PromptLibrary()
    if library.has(name) or any(library.has(f"{lang}/{name}") for lang in LANGUAGES):
        return True
    path = Path(name)
    if path.suffix.lower() != ".wav":
        return False
    return path.is_file() or (Path(config.prompts.directory) / name).is_file()
