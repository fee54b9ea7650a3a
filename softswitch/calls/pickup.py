"""Call pickup (sans-IO): which ringing call a pickup takes (Yeastar's `*4` group pickup and
`*04<extension>` directed pickup; Asterisk's pickup groups are the reference; an INVITE
with Replaces naming a ringing dialog (RFC 3891, what a BLF key's pickup sends) is resolved
by the B2BUA from the dialog IDs themselves).

`Ringing` is the view the B2BUA keeps of calls ringing at extensions: extension -> the
calls ringing there with when they started. Decisions:
- Directed pickup takes the call that has rung the longest at that extension; group pickup
  the one that has rung the longest at any other member of the picker's groups.
- A call ringing the picker itself is never "picked up" by the picker (answer it instead).
- Queue offers are calls like any other: a colleague may pick up a queue call ringing an
  agent (the ACD then counts the picker as the agent who answered, as Yeastar does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PickupConfig:
    group_code: str = "*4"
    directed_code: str = "*04"
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> members

    def groups_of(self, extension: str) -> list[str]:
        return [name for name, members in self.groups.items() if extension in members]


@dataclass(frozen=True, slots=True)
class RingingCall:
    call_id: str
    since: float


Ringing = Mapping[str, Sequence[RingingCall]]


@dataclass(frozen=True, slots=True)
class PickupRequest:
    """A dialled string that asks for a pickup: `extension` for directed, None for group."""

    extension: str | None


def parse_pickup(config: PickupConfig, dialled: str) -> PickupRequest | None:
    # the directed code first, in case an admin makes the group code its prefix
    if config.directed_code and dialled.startswith(config.directed_code):
        rest = dialled[len(config.directed_code):]
        return PickupRequest(rest) if rest.isdigit() else None
    if config.group_code and dialled == config.group_code:
        return PickupRequest(None)
    return None


def call_to_pick(config: PickupConfig, request: PickupRequest, picker: str,
                 ringing: Ringing) -> str | None:
    """The Call-ID of the call the picker takes, or None (nothing ringing there)."""
    if request.extension is not None:
        targets: set[str] = {request.extension} - {picker}
    else:
        targets = {m for g in config.groups_of(picker) for m in config.groups[g]} - {picker}
    best: RingingCall | None = None
    for ext in targets:
        for call in ringing.get(ext, ()):
            if best is None or call.since < best.since:
                best = call
    return best.call_id if best is not None else None
