"""The call-application contract: sans-IO flows and the actions they return.

A `Flow` never touches a socket, the loop, the clock or the database. The shell
(`softswitch.apps.shell`) calls its `handle_*` methods with the monotonic `now` and executes
the returned actions in order; it asks `next_deadline()` after every call and calls
`handle_timer(now)` when that time comes (aioquic's shape, as `acd.Acd` and the SIP
transactions have it). A flow's tests therefore drive it in virtual time: feed events, read
actions, advance `now` by hand.

Inputs (one method each, every one returns `list[Action]`):
- `start(call, now)`: the caller's INVITE reached the application (not yet answered; a flow
  that wants media returns `Answer()` first, one that only routes returns `RouteTo`).
- `handle_digit(digit, now)`: one DTMF digit (RFC 4733, SIP INFO or in-band), "0"-"9", "*",
  "#", "A"-"D".
- `handle_playback_done(play_id, interrupted, now)`: a `Play` finished (`interrupted` when a
  digit or `StopPlayback` cut it short).
- `handle_recording_done(record_id, path, seconds, now)`: a `Record` ended (max length,
  stop digit, silence or hang-up); `path` is None when nothing was written.
- `handle_bridge_ended(bridge_id, status, now)`: a `Bridge` attempt ended: `status` is the
  final SIP status of the attempt when it failed (486, 480, 408, ...), or 200 when it was
  answered and the far side has since hung up.
- `handle_timer(now)`: `next_deadline()` has passed.
- `handle_hangup(now)`: the caller hung up; the flow returns its last actions (events to
  publish); the shell ignores any media action after this.

Outputs (`Action`, frozen dataclasses): `Answer`, `Reject`, `Play`, `StopPlayback`,
`Record`, `StopRecording`, `Bridge`, `RouteTo`, `Hangup`, `Publish`, `SetLanguage`, and
`Echo` (added with the shell: the `*43` echo test loops the caller's own audio and RTP
events back on its leg; no other action expresses that), and `Music` (added with the queue
caller, softswitch.queue.flow: music on hold *beneath* the prompts, the shared MOH stream
of `MediaEngine.attach_moh`, which every `Play` pauses and which resumes when the prompt
ends; a `Play(loop=True)` cannot express that, as the next `Play` replaces it).
Side effects beyond the call (a voicemail stored, a day/night toggle flipped, an agent
signed in) are `Publish(event)`: the event bus is the only sideways channel; its
subscribers write rows, send e-mail and NOTIFY BLF/MWI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from acd.config import Destination

# A prompt part, as `softswitch.queue.announce` uses them: a prompt name ("welcome-sales",
# looked up in the call's language first), or a list of library prompt ids composed by the
# pure `media.player` announcers (`say_digits`, `announce_position`, ...).
PromptPart = str | list[str]


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What a flow knows of its caller when it starts."""

    call_id: str
    caller: str  # extension number, or the external caller ID on trunk calls
    caller_name: str
    dialled: str  # what the caller dialled (Request-URI user)
    language: str  # the system prompt set to speak ("en", "zh")
    trunk: str | None = None  # the trunk the call came in on, None for an extension


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the caller (200 OK with our SDP, media leg open)."""


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the unanswered caller with a final status (404, 486, 603, ...)."""

    status: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Play:
    """Play prompt parts to the caller, in order. `interrupt_digits`: digits that stop the
    playback at once (the digit is still delivered with `handle_digit`). `loop`: repeat
    until stopped (music, ringback)."""

    play_id: int
    parts: Sequence[PromptPart]
    interrupt_digits: str = ""
    loop: bool = False


@dataclass(frozen=True, slots=True)
class StopPlayback:
    play_id: int


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller to a WAV file at `path` (8 kHz, 16-bit, mono) for at most
    `max_seconds`; a digit in `stop_digits` ends it (the digit is not recorded and is not
    delivered as `handle_digit`); `silence_seconds` > 0 ends it after that much silence."""

    record_id: int
    path: str
    max_seconds: float
    stop_digits: str = "#"
    silence_seconds: float = 0.0
    beep: bool = True


@dataclass(frozen=True, slots=True)
class StopRecording:
    record_id: int


@dataclass(frozen=True, slots=True)
class Bridge:
    """Ring `targets` (extension numbers or external numbers routed by the outbound routes)
    in parallel through the one fork, for at most `timeout` seconds, and connect the caller
    to whichever answers first. The caller hears `ringback` meanwhile ("" = silence,
    "ringback" = ring tone, "moh:<name>" = music)."""

    bridge_id: int
    targets: Sequence[str]
    timeout: float
    ringback: str = "ringback"
    caller_id: str | None = None  # presented to the targets; None: the caller's


@dataclass(frozen=True, slots=True)
class RouteTo:
    """Hand the caller to a destination (§11.1) through the destination router; the flow
    ends here."""

    destination: Destination


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call (BYE when answered; `Reject` is for unanswered calls)."""

    cause: str = "normal"


@dataclass(frozen=True, slots=True)
class Publish:
    """Put an event on the switch's event bus (softswitch.events)."""

    event: object


@dataclass(frozen=True, slots=True)
class SetLanguage:
    language: str


@dataclass(frozen=True, slots=True)
class Echo:
    """Send the caller's own audio and RTP events straight back (`on`), or stop."""

    on: bool = True


@dataclass(frozen=True, slots=True)
class Music:
    """Music beneath the prompts: ``name`` is a music name (``moh/<name>`` in the prompt
    library, or ``ringback``, as softswitch.apps.music.attach_music takes it); None stops
    the music."""

    name: str | None


Action = (Answer | Reject | Play | StopPlayback | Record | StopRecording | Bridge | RouteTo
          | Hangup | Publish | SetLanguage | Echo | Music)


class Flow(Protocol):
    """One application's logic for one call (see the module docstring)."""

    def start(self, call: CallInfo, now: float) -> list[Action]: ...

    def handle_digit(self, digit: str, now: float) -> list[Action]: ...

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]: ...

    def handle_recording_done(self, record_id: int, path: str | None, seconds: float,
                              now: float) -> list[Action]: ...

    def handle_bridge_ended(self, bridge_id: int, status: int, now: float) -> list[Action]: ...

    def handle_timer(self, now: float) -> list[Action]: ...

    def handle_hangup(self, now: float) -> list[Action]: ...

    def next_deadline(self) -> float | None: ...


@dataclass
class FlowBase:
    """Defaults for flows that ignore most inputs: every handler returns no action, no
    deadline. Subclasses override what they use."""

    _ids: int = field(default=0, init=False, repr=False)

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return []

    def handle_digit(self, digit: str, now: float) -> list[Action]:
        return []

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        return []

    def handle_recording_done(self, record_id: int, path: str | None, seconds: float,
                              now: float) -> list[Action]:
        return []

    def handle_bridge_ended(self, bridge_id: int, status: int, now: float) -> list[Action]:
        return []

    def handle_timer(self, now: float) -> list[Action]:
        return []

    def handle_hangup(self, now: float) -> list[Action]:
        return []

    def next_deadline(self) -> float | None:
        return None
