"""Registrar (RFC 3261 §10.3): bindings of extensions to the contacts their phones register.

`LocationService` is the sans-IO core: `handle_register(...)` with the values of one REGISTER
and `now` returns what to answer and which bindings changed; `handle_timer(now)` removes
expired bindings; `next_deadline()` says when the next one expires. No sockets, no clock.

Decisions:
- NAT (RFC 3581): every binding records the source address/port/transport the REGISTER
  came from. Requests to the phone go to that source address when the phone is evidently
  behind NAT (its Contact names a private, CGNAT or link-local address other than the
  source), and always over TCP (over the connection it registered on, RFC 5626 style).
  When that TCP connection is gone (the phone's network blipped, an idle timeout, a
  restart of the switch), the request goes to the Contact's host:port over TCP (§18.1.1:
  the phone listens where its Contact says), unless that Contact is a private address other
  than the source: behind NAT only the phone can reopen the path, so the request is sent
  to the source address as before and fails there (503) until the phone re-registers.
  Otherwise they go to the Contact's host:port, so that a REGISTER made on behalf of
  another device (sipp registering a UAS, provisioning tools) reaches that device.
- A REGISTER whose contact asks for 0 < expires < min_expires gets 423 with Min-Expires
  (§10.3 step 7); above max_expires is cut down to max_expires; no expires anywhere means
  default_expires.
- An out-of-order REGISTER (same Call-ID, CSeq not higher than the binding's) is refused
  with 500 and changes nothing (§10.3 step 7 "the update MUST be aborted").
- At most `max_contacts` bindings per extension; a new one beyond that replaces the binding
  that expires soonest (a phone re-registering after a reboot with a new Contact port must
  not be locked out by its own stale bindings).
- Persistence is write-back for refreshes: a new binding and a removal are queued to the
  store at once; a binding written less than `RegistrarService.WRITE_BACK` (1 s) ago is
  written again at the end of that window, once, however often it was refreshed in it (a
  phone or a load generator re-registering in a tight loop costs one row write per second,
  not one per REGISTER). A crash loses at most that last second of refreshes; the phone's
  next REGISTER repairs it. Shutdown flushes what is waiting.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from softswitch.clock import Clock, TimerHandle
from softswitch.log import get_logger
from softswitch.sip import SipUri, new_tag
from softswitch.sip.transaction import _debug_enabled
from softswitch.store.records import RegistrationRow

log = get_logger("registrar")


@dataclass(slots=True)
class Binding:
    """One contact of an extension (§10.3 step 7)."""

    aor: str
    contact: str  # the Contact URI as the phone sent it
    expires_at: float  # monotonic `now` scale
    call_id: str
    cseq: int
    received_host: str
    received_port: int
    transport: str  # "udp" | "tcp"
    q: float | None = None
    user_agent: str = ""
    registered_at: float = 0.0  # monotonic, for ordering
    connection_id: object = None  # the TCP connection it registered over, if any
    #: the time of this binding's entry in the expiry heap (<= expires_at; see
    #: `LocationService`): a refresh that moves the expiry later pushes nothing.
    heap_at: float = 0.0

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))


@dataclass(frozen=True, slots=True)
class ContactRequest:
    """One Contact of a REGISTER: the URI and its `expires`/`q` parameters if given."""

    uri: str
    expires: int | None = None
    q: float | None = None


WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """What to answer: `status` 200 with `bindings` (all current contacts of the AOR), 423
    with `min_expires`, 400/500 with `reason`. `added`/`removed` are the bindings to
    persist/delete. `contacts_changed` is False for a plain refresh (same contacts from the
    same source): then nothing a listener shows (BLF, ACD registered state) can change."""

    status: int
    reason: str = ""
    bindings: tuple[Binding, ...] = ()
    min_expires: int | None = None
    added: tuple[Binding, ...] = ()
    removed: tuple[Binding, ...] = ()
    contacts_changed: bool = True


@dataclass
class LocationService:
    """All bindings, indexed by AOR, with an expiry heap (lazy deletion).

    Each live binding has exactly one heap entry that counts, at `Binding.heap_at`. A
    refresh only moves an expiry later, so it keeps the entry it has; when that entry comes
    due and the binding has been refreshed since, it is pushed again at its new expiry. So
    the heap holds one entry per binding, not one per REGISTER (a phone refreshing every
    minute with expires=3600 would otherwise leave 60 entries behind per binding)."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 600
    max_contacts: int = 10
    _by_aor: dict[str, dict[str, Binding]] = field(default_factory=dict)
    _heap: list[tuple[float, str, str]] = field(default_factory=list)

    # -- queries

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live contacts of `aor`, highest q first, then most recently registered."""
        bindings = [b for b in self._by_aor.get(aor, {}).values() if b.expires_at > now]
        bindings.sort(key=lambda b: (-(b.q if b.q is not None else 1.0), -b.registered_at))
        return bindings

    def all_bindings(self) -> list[Binding]:
        return [b for per in self._by_aor.values() for b in per.values()]

    def __len__(self) -> int:
        return sum(len(per) for per in self._by_aor.values())

    # -- inputs

    def handle_register(self, aor: str, contacts: Sequence[ContactRequest] | str,
                        header_expires: int | None, call_id: str, cseq: int,
                        received: tuple[str, int], transport: str, now: float,
                        user_agent: str = "", connection_id: object = None) -> RegisterOutcome:
        """Apply one (authenticated) REGISTER. `contacts` is the list of Contact values, or
        WILDCARD for `Contact: *`; an empty list is a query (§10.2.3)."""
        current = self._by_aor.get(aor, {})
        if contacts == WILDCARD:
            if header_expires != 0:
                return RegisterOutcome(400, "Contact: * requires Expires: 0")
            for b in current.values():
                if b.call_id == call_id and cseq <= b.cseq:
                    return RegisterOutcome(500, "CSeq out of order")
            self._by_aor.pop(aor, None)
            return RegisterOutcome(200, bindings=(), removed=tuple(current.values()))
        assert not isinstance(contacts, str)
        # Step 6 / 7: compute every contact's expiry first; 423 changes nothing.
        plans: list[tuple[ContactRequest, int]] = []
        for c in contacts:
            expires = c.expires if c.expires is not None else header_expires
            if expires is None:
                expires = self.default_expires
            if 0 < expires < self.min_expires:
                return RegisterOutcome(423, "Interval Too Brief", min_expires=self.min_expires)
            plans.append((c, min(expires, self.max_expires)))
        for c, _ in plans:
            existing = current.get(c.uri)
            if existing is not None and existing.call_id == call_id and cseq <= existing.cseq:
                return RegisterOutcome(500, "CSeq out of order")
        added: list[Binding] = []
        removed: list[Binding] = []
        changed = False
        if plans:
            current = self._by_aor.setdefault(aor, {})
        for c, expires in plans:
            existing = current.get(c.uri)
            if expires == 0:
                if existing is not None:
                    removed.append(current.pop(c.uri))
                continue
            at = now + expires
            binding = Binding(aor, c.uri, at, call_id, cseq, received[0],
                              received[1], transport, c.q, user_agent, now, connection_id)
            if existing is None and len(current) >= self.max_contacts:
                oldest = min(current.values(), key=lambda b: b.expires_at)
                removed.append(current.pop(oldest.contact))
            if (existing is None or existing.received_host != binding.received_host
                    or existing.received_port != binding.received_port
                    or existing.transport != binding.transport):
                changed = True
            current[c.uri] = binding
            if existing is not None and existing.heap_at <= at:
                binding.heap_at = existing.heap_at  # its entry comes due first
            else:
                binding.heap_at = at
                heapq.heappush(self._heap, (at, aor, c.uri))
            added.append(binding)
        if aor in self._by_aor and not self._by_aor[aor]:
            del self._by_aor[aor]
        for b in removed:
            log.debug("contact removed", aor=aor, contact=b.contact, call_id=call_id)
        return RegisterOutcome(200, bindings=tuple(self.lookup(aor, now)),
                               added=tuple(added), removed=tuple(removed),
                               contacts_changed=changed or bool(removed))

    def restore(self, bindings: Iterable[Binding]) -> None:
        """Put back bindings loaded from the database (their expires_at already on the
        `now` scale)."""
        for b in bindings:
            self._by_aor.setdefault(b.aor, {})[b.contact] = b
            b.heap_at = b.expires_at
            heapq.heappush(self._heap, (b.expires_at, b.aor, b.contact))

    def remove_aor(self, aor: str) -> list[Binding]:
        """Drop every binding of `aor` (its extension left the configuration); returns
        them. Their heap entries go stale and are skipped when they come due."""
        return list(self._by_aor.pop(aor, {}).values())

    def remove_connection(self, connection_id: object) -> None:
        """A TCP connection closed: its bindings stay (the phone may reconnect), but requests
        to them no longer use that connection."""
        for per in self._by_aor.values():
            for b in per.values():
                if b.connection_id is connection_id:
                    b.connection_id = None

    def handle_timer(self, now: float) -> list[Binding]:
        """Remove and return every binding expired at `now`."""
        expired: list[Binding] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, aor, contact = heapq.heappop(heap)
            per = self._by_aor.get(aor)
            b = per.get(contact) if per else None
            if b is None or b.heap_at != when:
                continue  # removed or replaced since: stale heap entry
            if b.expires_at > now:  # refreshed since its entry was pushed
                b.heap_at = b.expires_at
                heapq.heappush(heap, (b.expires_at, aor, contact))
                continue
            del per[contact]  # type: ignore[union-attr]
            if not per:
                del self._by_aor[aor]
            expired.append(b)
        return expired

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            when, aor, contact = heap[0]
            b = self._by_aor.get(aor, {}).get(contact)
            if b is not None and b.heap_at == when:
                if b.expires_at == when:
                    return when
                b.heap_at = b.expires_at  # refreshed: its entry moves to the new expiry
                heapq.heapreplace(heap, (b.expires_at, aor, contact))
                continue
            heapq.heappop(heap)
        return None


class ContactTarget(Protocol):
    """Where an INVITE of the switch goes, as a registration gives it: a `Binding`, or a
    `softswitch.trunks.TrunkTarget`, which is shaped like one."""

    @property
    def contact(self) -> str: ...

    @property
    def transport(self) -> str: ...

    @property
    def received_host(self) -> str: ...

    @property
    def received_port(self) -> int: ...


def request_target(b: ContactTarget,
                   connected: Callable[[str, int], bool] | None = None) -> tuple[str, str, int]:
    """Where requests to this contact go: (transport, host, port); see the module docstring.

    ``connected(host, port)`` (`SipEndpoint.has_connection`) tells whether the TCP connection
    a phone registered on is still open; when it is gone the Contact's own address is used.
    """
    if b.transport == "tcp" and (connected is None
                                 or connected(b.received_host, b.received_port)):
        return ("tcp", b.received_host, b.received_port)
    try:
        uri = SipUri.parse(b.contact)
    except Exception:  # noqa: BLE001 - an odd Contact: fall back to the source address
        return (b.transport, b.received_host, b.received_port)
    host = uri.host or b.received_host
    port = uri.port or 5060
    transport = (uri.params.get("transport") or b.transport).lower()
    if transport not in ("udp", "tcp"):
        transport = b.transport
    if (host, port) != (b.received_host, b.received_port) and _behind_nat(host):
        return (b.transport, b.received_host, b.received_port)
    return (transport, host, port)


def _behind_nat(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a host name: trust it
    return any(ip in net for net in _NAT_NETWORKS if net.version == ip.version)


# RFC 1918, RFC 6598 (carrier-grade NAT), link-local, IPv6 unique-local and link-local
_NAT_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
    "fc00::/7", "fe80::/10"))


# ----------------------------------------------------------------------------- asyncio shell


class RegistrarService:
    """The registrar's asyncio shell: REGISTER requests in, responses out, bindings persisted
    through the store's writer task (never awaited per REGISTER), expiry on one loop timer.

    Authentication happens before (softswitch.app.SipRouter); this class assumes the request
    is from the extension it names in To.
    """

    def __init__(self, config: Any, store: Any, clock: Clock) -> None:
        """``clock``: monotonic now for the bindings' expiry, wall time for the rows, and
        the timers (softswitch.clock)."""
        reg = config.sip.registrar
        self.location = LocationService(reg.min_expires, reg.max_expires, reg.default_expires)
        self.store = store
        self.extensions = {e.number for e in config.extensions}
        self._clock = clock
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        # Called with the extension number whenever its set of contacts changes (REGISTER,
        # un-REGISTER, expiry): ACD device registered/unregistered, BLF.
        self.listeners: list[Callable[[str], None]] = []
        # (aor, contact) -> (binding, wall time of its REGISTER) not yet handed to the store
        self._dirty: dict[tuple[str, str], tuple[Binding, float]] = {}
        # (aor, contact) -> loop time its row was last handed to the store
        self._last_write: dict[tuple[str, str], float] = {}
        self._write_back: TimerHandle | None = None

    def _changed(self, aors: Iterable[str]) -> None:
        for aor in dict.fromkeys(aors):
            for listener in list(self.listeners):
                try:
                    listener(aor)
                except Exception as exc:  # noqa: BLE001 - a listener must not break SIP
                    log.error("registration listener failed", aor=aor, error=repr(exc))

    def count(self) -> int:
        return len(self.location)

    def reconfigure(self, config: Any) -> None:
        """A reload (softswitch.reload): REGISTER follows the new extension list; the phones
        of a removed extension lose their bindings at once (the listeners hear of it, so
        BLF keys and the ACD see them unregistered). Calls in progress are not touched."""
        extensions = {e.number for e in config.extensions}
        removed = sorted(self.extensions - extensions)
        self.extensions = extensions
        for aor in removed:
            dropped = self.location.remove_aor(aor)
            if dropped:
                log.info("registrations dropped", aor=aor, contacts=len(dropped),
                         reason="extension removed from the configuration")
                self._persist((), dropped)
                self._changed([aor])

    # -- persistence

    def _wall(self, expires_at: float) -> float:
        return self._clock.wall() + (expires_at - self._clock.monotonic())

    #: A binding written less than this many seconds ago is not written again at once: its
    #: refreshes within the window become one write at the window's end (write-back, like
    #: Kamailio's usrloc db_mode 2). New bindings and deletions are queued at once.
    WRITE_BACK = 1.0

    def _persist(self, added: Iterable[Binding], removed: Iterable[Binding]) -> None:
        if self.store is None:
            return
        dirty = self._dirty
        last_write = self._last_write
        for b in removed:
            key = (b.aor, b.contact)
            dirty.pop(key, None)
            last_write.pop(key, None)
            self.store.delete_registration(b.aor, b.contact)
        now = self._clock.monotonic()
        for b in added:
            key = (b.aor, b.contact)
            last = last_write.get(key)
            if last is None or (now - last >= self.WRITE_BACK and key not in dirty):
                last_write[key] = now
                self._save(b, self._clock.wall())
                continue
            dirty[key] = (b, self._clock.wall())
            if self._write_back is None:
                self._write_back = self._clock.call_at(last + self.WRITE_BACK,
                                                      self._flush_dirty)

    def _save(self, b: Binding, registered_at: float) -> None:
        self.store.save_registration(RegistrationRow(
            b.aor, b.contact, self._wall(b.expires_at), b.received_host, b.received_port,
            b.transport, b.call_id, b.cseq, b.q, b.user_agent, registered_at))

    def _flush_dirty(self) -> None:
        """Hand the refreshes waiting for write-back to the store (its writer task puts them
        in one transaction)."""
        self._write_back = None
        dirty, self._dirty = self._dirty, {}
        if self.store is None:
            return
        now = self._clock.monotonic()
        for key, (b, registered_at) in dirty.items():
            self._last_write[key] = now
            self._save(b, registered_at)

    async def restore(self) -> int:
        """Reload bindings saved before a restart; expired ones are deleted."""
        if self.store is None:
            return 0
        now_wall, now = self._clock.wall(), self._clock.monotonic()
        live: list[Binding] = []
        for row in await self.store.registrations():
            if row.expires_at <= now_wall or row.aor not in self.extensions:
                self.store.delete_registration(row.aor, row.contact)
                continue
            live.append(Binding(row.aor, row.contact, now + (row.expires_at - now_wall),
                                row.call_id, row.cseq, row.received_host, row.received_port,
                                row.transport, row.q, row.user_agent, now))
        self.location.restore(live)
        self._schedule()
        log.info("registrations restored", count=len(live))
        return len(live)

    # -- REGISTER

    def handle_register(self, request: Any, source: tuple[str, str, int],
                        now: float) -> Any:
        """Apply an authenticated REGISTER from `source` (transport, host, port); returns
        the response to send."""
        aor = request.to.uri.user or ""
        if aor not in self.extensions:
            return request.create_response(404, "Not Found", to_tag=new_tag())
        contacts: list[ContactRequest] | str = []
        parsed = request.contacts
        if any(c.is_wildcard for c in parsed):
            if len(parsed) != 1:
                return request.create_response(400, "Contact * must be alone",
                                               to_tag=new_tag())
            contacts = WILDCARD
        else:
            items: list[ContactRequest] = []
            for c in parsed:
                q: float | None = None
                q_text = c.params.get("q")
                if q_text:
                    try:
                        q = min(1.0, max(0.0, float(q_text)))
                    except ValueError:
                        return request.create_response(400, "Bad q parameter",
                                                       to_tag=new_tag())
                items.append(ContactRequest(str(c.uri), c.expires, q))
            contacts = items
        transport, host, port = source
        outcome = self.location.handle_register(
            aor, contacts, request.expires, request.call_id, request.cseq.number,
            (host, port), transport, now, request.get("User-Agent") or "",
            connection_id=(transport, host, port) if transport == "tcp" else None)
        if outcome.status == 423:
            return request.create_response(423, "Interval Too Brief", to_tag=new_tag(),
                                           headers=[("Min-Expires", str(outcome.min_expires))])
        if outcome.status != 200:
            return request.create_response(outcome.status, outcome.reason, to_tag=new_tag())
        self._persist(outcome.added, outcome.removed)
        if outcome.added:
            at = self._timer_at
            # The armed timer is at the earliest live expiry; refreshes and removals only
            # move expiries later, so only a binding expiring before it needs a re-arm.
            if self._timer is None or at is None or \
                    any(b.expires_at < at for b in outcome.added):
                self._schedule()
        if outcome.contacts_changed and (outcome.added or outcome.removed):
            self._changed([aor])  # a plain refresh changes nothing a listener shows
        for b in outcome.added if _debug_enabled() else ():
            log.debug("registered", call_id=request.call_id, aor=aor, contact=b.contact,
                      source=f"{transport}:{host}:{port}", expires=b.remaining(now))
        headers = [("Contact", f"<{b.contact}>;expires={b.remaining(now)}")
                   for b in outcome.bindings]
        return request.create_response(200, "OK", to_tag=new_tag(), headers=headers)

    def targets(self, aor: str, now: float) -> list[Binding]:
        return self.location.lookup(aor, now)

    # -- expiry timer

    def _schedule(self) -> None:
        deadline = self.location.next_deadline()
        if deadline is None:
            return
        if self._timer is not None and self._timer_at is not None and \
                self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        expired = self.location.handle_timer(self._clock.monotonic())
        for b in expired:
            log.info("registration expired", call_id=b.call_id, aor=b.aor, contact=b.contact)
        self._persist((), expired)
        self._schedule()
        self._changed(b.aor for b in expired)

    def close(self) -> None:
        """Stop the expiry timer and hand every binding still waiting for write-back to the
        store (the caller then closes the store, which commits them)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._write_back is not None:
            self._write_back.cancel()
            self._write_back = None
        if self._dirty:
            self._flush_dirty()
