"""Registrar (RFC 3261 §10.3): bindings of extensions to the contacts their phones register.

`LocationService` is the sans-IO core: `handle_register(...)` with the values of one REGISTER
and `now` returns what to answer and which bindings changed; `handle_timer(now)` removes
expired bindings; `next_deadline()` says when the next one expires. No sockets, no clock.

Decisions:
- NAT (RFC 3581): every binding records the source address/port/transport the REGISTER
  came from, and requests to the phone are sent THERE, not to the Contact's host, because a
  phone behind NAT writes its private address into Contact. Over TCP they go over the
  connection the phone registered on while it is open.
- A REGISTER whose contact asks for 0 < expires < min_expires gets 423 with Min-Expires
  (§10.3 step 7); above max_expires is cut down to max_expires; no expires anywhere means
  default_expires.
- An out-of-order REGISTER (same Call-ID, CSeq not higher than the binding's) is refused
  with 500 and changes nothing (§10.3 step 7 "the update MUST be aborted").
- At most `max_contacts` bindings per extension; a new one beyond that replaces the binding
  that expires soonest (a phone re-registering after a reboot with a new Contact port must
  not be locked out by its own stale bindings).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from softswitch.log import get_logger

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
    persist/delete."""

    status: int
    reason: str = ""
    bindings: tuple[Binding, ...] = ()
    min_expires: int | None = None
    added: tuple[Binding, ...] = ()
    removed: tuple[Binding, ...] = ()


@dataclass
class LocationService:
    """All bindings, indexed by AOR, with an expiry heap (lazy deletion)."""

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
            removed = tuple(current.values())
            self._by_aor.pop(aor, None)
            return RegisterOutcome(200, bindings=(), removed=removed)
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
        if plans:
            current = self._by_aor.setdefault(aor, {})
        for c, expires in plans:
            existing = current.get(c.uri)
            if expires == 0:
                if existing is not None:
                    removed.append(current.pop(c.uri))
                continue
            binding = Binding(aor, c.uri, now + expires, call_id, cseq, received[0],
                              received[1], transport, c.q, user_agent, now, connection_id)
            if existing is None and len(current) >= self.max_contacts:
                oldest = min(current.values(), key=lambda b: b.expires_at)
                removed.append(current.pop(oldest.contact))
            current[c.uri] = binding
            heapq.heappush(self._heap, (binding.expires_at, aor, c.uri))
            added.append(binding)
        if aor in self._by_aor and not self._by_aor[aor]:
            del self._by_aor[aor]
        for b in removed:
            log.debug("contact removed", aor=aor, contact=b.contact, call_id=call_id)
        return RegisterOutcome(200, bindings=tuple(self.lookup(aor, now)),
                               added=tuple(added), removed=tuple(removed))

    def restore(self, bindings: Iterable[Binding]) -> None:
        """Put back bindings loaded from the database (their expires_at already on the
        `now` scale)."""
        for b in bindings:
            self._by_aor.setdefault(b.aor, {})[b.contact] = b
            heapq.heappush(self._heap, (b.expires_at, b.aor, b.contact))

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
            if b is None or b.expires_at != when:
                continue  # refreshed or removed since: stale heap entry
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
            if b is not None and b.expires_at == when:
                return when
            heapq.heappop(heap)
        return None
