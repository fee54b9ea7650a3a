"""Call park and retrieve (sans-IO): park slots, BLF lamps per slot, a timeout back to the
parker (queue-admin.md is silent; Yeastar's Call Park feature and Asterisk's res_parking are
the reference).

- A call is parked by a blind transfer (REFER) of it to the park code (`*5`: the lowest
  free slot) or to a free slot number (what a Yealink/Grandstream BLF park key does while
  in a call). The parked party hears music on hold.
- Dialling a slot number that holds a call retrieves it (what the same BLF key does when
  idle). Dialling an empty slot gets 404.
- After `timeout` seconds unretrieved, the parker's extension is rung (`ParkTimedOut`);
  `ring_back` seconds later without an answer the parked caller goes to the lot's
  `timeout_destination` (the shell follows it through the destination router).
- Each slot is a BLF resource: busy (confirmed) while it holds a call, idle otherwise
  (`SlotChanged` events; the presence notifier renders them like extension keys).

Decisions:
- Parking to an occupied slot number is refused (the REFER's NOTIFY reports 486 Busy Here),
  so a mistaken key press never drops the call already parked there.
- While the parker is being rung back, the slot stays busy and the call can still be
  retrieved from any phone: whoever answers first has it.
"""

from __future__ import annotations

from dataclasses import dataclass

from acd.config import Destination, DestinationType


@dataclass(frozen=True, slots=True)
class ParkingConfig:
    code: str = "*5"
    slots: tuple[str, ...] = tuple(str(n) for n in range(6000, 6010))
    timeout: float = 120.0
    ring_back: float = 30.0
    timeout_destination: Destination = Destination(DestinationType.HANGUP)


@dataclass(frozen=True, slots=True)
class SlotChanged:
    """A slot's lamp: `call_id` of the parked call, or None when the slot is free;
    `parked`: the number of the party waiting there (its BLF key shows it)."""

    at: float
    slot: str
    call_id: str | None
    parker: str = ""
    parked: str = ""


@dataclass(frozen=True, slots=True)
class ParkTimedOut:
    """Ring the parker back (`slot`'s call has waited `timeout`)."""

    at: float
    slot: str
    call_id: str
    parker: str


@dataclass(frozen=True, slots=True)
class ParkAbandoned:
    """Nobody retrieved the call nor answered the ring-back: send it to `destination`."""

    at: float
    slot: str
    call_id: str
    destination: Destination


ParkEvent = SlotChanged | ParkTimedOut | ParkAbandoned


@dataclass(slots=True)
class _Parked:
    call_id: str
    parker: str
    since: float
    deadline: float
    ringing_back: bool = False


class ParkingLot:
    def __init__(self, config: ParkingConfig) -> None:
        self.config = config
        self._slots: dict[str, _Parked | None] = {s: None for s in config.slots}

    def is_slot(self, number: str) -> bool:
        return number in self._slots

    def occupant(self, slot: str) -> str | None:
        parked = self._slots.get(slot)
        return parked.call_id if parked is not None else None

    def occupied(self) -> dict[str, str]:
        return {s: p.call_id for s, p in self._slots.items() if p is not None}

    def choose(self, target: str) -> str | None:
        """The slot `park(target, ...)` would take now (None when it would refuse), without
        taking it: a caller that must give up something to park checks first."""
        if target == self.config.code:
            return next((s for s, p in self._slots.items() if p is None), None)
        if target in self._slots and self._slots[target] is None:
            return target
        return None

    def park(self, target: str, call_id: str, parker: str,
             now: float, parked: str = "") -> tuple[str | None, list[ParkEvent]]:
        """Park `call_id` at `target` (the park code: lowest free slot; or a slot number).
        Returns the slot (None when refused: lot full, slot busy, not a slot)."""
        slot = self.choose(target)
        if slot is None:
            return None, []
        self._slots[slot] = _Parked(call_id, parker, now, now + self.config.timeout)
        return slot, [SlotChanged(now, slot, call_id, parker, parked)]

    def retrieve(self, slot: str, now: float) -> tuple[str | None, list[ParkEvent]]:
        """The parked call at `slot` for whoever dialled it (None when empty)."""
        parked = self._slots.get(slot)
        if parked is None:
            return None, []
        self._slots[slot] = None
        return parked.call_id, [SlotChanged(now, slot, None)]

    def call_gone(self, call_id: str, now: float) -> list[ParkEvent]:
        """The parked party hung up (or was answered on the ring-back)."""
        for slot, parked in self._slots.items():
            if parked is not None and parked.call_id == call_id:
                self._slots[slot] = None
                return [SlotChanged(now, slot, None)]
        return []

    def next_deadline(self) -> float | None:
        deadlines = [p.deadline for p in self._slots.values() if p is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[ParkEvent]:
        out: list[ParkEvent] = []
        for slot, parked in self._slots.items():
            if parked is None or parked.deadline > now:
                continue
            if not parked.ringing_back:
                parked.ringing_back = True
                parked.deadline = now + self.config.ring_back
                out.append(ParkTimedOut(now, slot, parked.call_id, parked.parker))
            else:
                self._slots[slot] = None
                out += [SlotChanged(now, slot, None),
                        ParkAbandoned(now, slot, parked.call_id,
                                      self.config.timeout_destination)]
        return out


def slot_range(text: str) -> tuple[str, ...]:
    """"6000-6009" -> the ten slot numbers (config helper)."""
    first, _, last = text.partition("-")
    if not first.isdigit() or not (last or first).isdigit():
        raise ValueError(f"expected first-last slot numbers, got {text!r}")
    lo, hi = int(first), int(last or first)
    if hi < lo or hi - lo >= 100:
        raise ValueError("a parking lot has 1 to 100 slots")
    width = len(first)
    return tuple(str(n).zfill(width) for n in range(lo, hi + 1))

