"""What a BLF key watches, and how its state is shown on a phone.

The kinds of resource (the user part of the SUBSCRIBE Request-URI names one):

- `ExtensionKey`: an extension's calls (dialog package) and registration (presence package).
- `AgentLoginKey` (manual §6.8, 坐席签入/签出): the subscribing agent's sign-in state in one
  queue. Its value is the sign-in/out feature code + queue (`*76400`), so pressing the key
  dials the toggle; the agent is the subscriber.
- `AgentPauseKey` (manual §6.8, 坐席暂停/恢复): the subscribing agent's pause state in one
  queue; value pause code + queue (`*076400`).
- `PauseReasonKey` (manual §6.2): whether agent X is paused in queue Q with reason R; value
  pause code + agent + `*` + queue + reason code (`*071001*6400*01`); any extension may
  watch it.

- `ParkSlotKey`: a park slot (softswitch.calls.park); value the slot number (`6000`).
- `CallFlowToggleKey` (the call flow's manual day/night switch, softswitch.apps.call_flow):
  value the flow's `toggle_code` (`*280`), so pressing the key dials the toggle, as
  FreePBX's Call Flow Control `*28<n>` BLF keys and Yealink's "BLF" key type with that
  value do. Any extension may watch it (a receptionist's key; the toggle itself is open to
  every extension).

The grammar of those values lives with the feature codes (`softswitch.features`), which
builds these objects.

Lamp mapping (decision; manual §6.2/§6.8 fix the colours, RFC 4235 does not name colours):

=====================  =============================  =================================
key / state            manual's LED                   dialog-info we send
=====================  =============================  =================================
login: signed in       green solid                    one dialog, state terminated
login: signed out      red solid                      one dialog, state confirmed
pause: not paused      green solid                    terminated
pause: paused          red blinking                   confirmed + local target
                                                      ``+sip.rendering="no"`` (held)
reason: in that pause  red blinking                   as pause: paused
reason: otherwise      green solid                    terminated
day/night: schedule    (FreePBX: green)               terminated
day/night: night       (FreePBX: red)                 one dialog, state confirmed
  forced
unknown resource       off ("BLF configuration        SUBSCRIBE answered 404, no NOTIFY
                       failed")
=====================  =============================  =================================

Phones render `terminated` (no live dialog) green, `confirmed` red and a held dialog
(`+sip.rendering=no`) as blinking red; `early` also blinks, but a ringing key invites call
pickup on Yealink/Grandstream, so a press would try to pick up instead of dialling the
toggle code. `BlinkStyle.EARLY` is there for phones that do not render the held parameter.
A signed-out dynamic agent's pause key shows green (not paused): the manual gives the pause
key no other state. Extension keys show the real calls: ringing in = early/recipient,
dialling out = early/initiator, answered = confirmed, held = confirmed + held; no calls =
one terminated dialog (what Asterisk sends, and what Cisco/Polycom need to leave "unknown").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .agents import AgentQueueState, PauseReason
from .bodies import DialogElement, DialogStateName, DialogView, Direction, PresenceView


@dataclass(frozen=True, slots=True)
class ExtensionKey:
    extension: str


@dataclass(frozen=True, slots=True)
class MailboxLamp:
    """The message-waiting lamp of `extension` (RFC 3842): its own box and its group boxes
    (softswitch.apps.mailbox)."""

    extension: str


@dataclass(frozen=True, slots=True)
class AgentLoginKey:
    agent: str
    queue: str


@dataclass(frozen=True, slots=True)
class AgentPauseKey:
    agent: str
    queue: str


@dataclass(frozen=True, slots=True)
class PauseReasonKey:
    agent: str
    queue: str
    reason: PauseReason


@dataclass(frozen=True, slots=True)
class ParkSlotKey:
    """A park slot's BLF key (softswitch.calls.park): busy while a call is parked there;
    pressing it dials the slot (retrieve when busy, park when pressed during a call)."""

    slot: str


@dataclass(frozen=True, slots=True)
class CallFlowToggleKey:
    """A call flow's day/night key: busy (red) while the manual night mode is forced, idle
    (green) while the flow follows its schedule. `code` is its toggle code (the value)."""

    call_flow: str
    code: str


AgentKey = AgentLoginKey | AgentPauseKey | PauseReasonKey
Resource = ExtensionKey | AgentKey | MailboxLamp | ParkSlotKey | CallFlowToggleKey


class Lamp(Enum):
    """The LED states of manual §6.2/§6.8."""

    GREEN = "green solid"
    RED = "red solid"
    RED_BLINKING = "red blinking"


class BlinkStyle(Enum):
    """How a blinking lamp is expressed in dialog-info (see module docstring)."""

    HELD = "held"
    EARLY = "early"


def agent_key_lamp(key: AgentKey, state: AgentQueueState) -> Lamp:
    if isinstance(key, AgentLoginKey):
        return Lamp.GREEN if state.signed_in else Lamp.RED
    if isinstance(key, AgentPauseKey):
        return Lamp.RED_BLINKING if state.paused else Lamp.GREEN
    in_reason = state.paused and state.reason is not None and state.reason.code == key.reason.code
    return Lamp.RED_BLINKING if in_reason else Lamp.GREEN


def agent_key_note(key: AgentKey, state: AgentQueueState) -> str:
    """Text for presence watchers (PIDF note) and logs."""
    if isinstance(key, PauseReasonKey):
        lit = agent_key_lamp(key, state) is Lamp.RED_BLINKING
        return (f"Agent {key.agent} {'paused' if lit else 'not paused'}: {key.reason.name} "
                f"(queue {key.queue})")
    if not state.signed_in:
        return f"Signed out of queue {key.queue}"
    if state.paused:
        reason = f": {state.reason.name}" if state.reason is not None else ""
        return f"Paused in queue {key.queue}{reason}"
    return f"Signed in to queue {key.queue}"


def lamp_dialog(dialog_id: str, lamp: Lamp, blink: BlinkStyle, identity: str) -> DialogElement:
    """The single synthetic dialog that lights an agent key (mapping table above)."""
    if lamp is Lamp.GREEN:
        return DialogElement(id=dialog_id, state="terminated")
    if lamp is Lamp.RED:
        return DialogElement(id=dialog_id, state="confirmed", direction="recipient")
    if blink is BlinkStyle.EARLY:
        return DialogElement(id=dialog_id, state="early", direction="recipient")
    return DialogElement(id=dialog_id, state="confirmed", direction="recipient",
                         local_identity=identity, held=True)


def agent_key_views(key: AgentKey, state: AgentQueueState, blink: BlinkStyle,
                    identity: str) -> tuple[DialogView, PresenceView]:
    lamp = agent_key_lamp(key, state)
    dialog = DialogView((lamp_dialog(_dialog_id(identity), lamp, blink, identity),))
    presence = PresenceView("open" if lamp is Lamp.GREEN else "closed",
                            agent_key_note(key, state))
    return dialog, presence


def _dialog_id(identity: str) -> str:
    return identity.split(":", 1)[-1].split("@", 1)[0]


class CallState(Enum):
    """An extension's call as the call layer reports it (RFC 4235 §3.7.1 dialog states)."""

    TRYING = "trying"
    PROCEEDING = "proceeding"
    EARLY = "early"
    CONFIRMED = "confirmed"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class ExtensionCall:
    """One call leg of a watched extension, from that extension's point of view:
    `local_tag` is the extension's own tag, `direction` "initiator" when it dialled."""

    call_id: str
    direction: Direction
    state: CallState
    local_tag: str | None = None
    remote_tag: str | None = None
    remote_uri: str | None = None
    remote_display: str | None = None


def park_slot_views(identity: str, slot: str,
                    parked: str | None) -> tuple[DialogView, PresenceView]:
    """A park slot's key: one confirmed dialog (red) while `parked` (the parked party's
    number) waits there, one terminated dialog (green) when the slot is free."""
    if parked is None:
        return (DialogView((DialogElement(id=slot, state="terminated"),)),
                PresenceView("open", f"Park slot {slot} free", contact=identity))
    dialog = DialogElement(id=slot, state="confirmed", direction="recipient",
                           local_identity=identity, remote_identity=parked or None)
    return (DialogView((dialog,)),
            PresenceView("closed", f"Parked in {slot}: {parked}", contact=identity))


def call_flow_toggle_views(identity: str, key: CallFlowToggleKey,
                           forced: bool) -> tuple[DialogView, PresenceView]:
    """A day/night key: one confirmed dialog (red) while night mode is forced, one
    terminated dialog (green) while the call flow follows its schedule."""
    dialog_id = f"callflow-{key.call_flow}"
    if not forced:
        return (DialogView((DialogElement(id=dialog_id, state="terminated"),)),
                PresenceView("open", f"Call flow {key.call_flow}: schedule",
                             contact=identity))
    return (DialogView((DialogElement(id=dialog_id, state="confirmed", direction="recipient",
                                      local_identity=identity),)),
            PresenceView("closed", f"Call flow {key.call_flow}: night mode forced",
                         contact=identity))


def extension_views(identity: str, registered: bool,
                    calls: tuple[ExtensionCall, ...]) -> tuple[DialogView, PresenceView]:
    """Views of an extension key; `calls` in the order they started."""
    if not calls:
        dialogs: tuple[DialogElement, ...] = (
            DialogElement(id=_dialog_id(identity), state="terminated"),)
    else:
        dialogs = tuple(_call_dialog(identity, c) for c in calls)
    if not registered:
        note = "Offline"
    elif not calls:
        note = "Available"
    elif all(c.state in (CallState.TRYING, CallState.PROCEEDING, CallState.EARLY)
             and c.direction == "recipient" for c in calls):
        note = "Ringing"
    elif any(c.state is CallState.HELD for c in calls) and not any(
            c.state is CallState.CONFIRMED for c in calls):
        note = "On hold"
    else:
        note = "On the phone"
    # RFC 3863 basic status: open = able to accept communication; an unregistered
    # extension cannot, a busy one still can (call waiting, queue ring-in-use).
    presence = PresenceView("open" if registered else "closed", note, contact=identity)
    return DialogView(dialogs), presence


_CALL_DIALOG_STATE: dict[CallState, DialogStateName] = {
    CallState.TRYING: "trying", CallState.PROCEEDING: "proceeding", CallState.EARLY: "early",
    CallState.CONFIRMED: "confirmed", CallState.HELD: "confirmed"}


def _call_dialog(identity: str, call: ExtensionCall) -> DialogElement:
    return DialogElement(
        id=call.call_id, state=_CALL_DIALOG_STATE[call.state], direction=call.direction,
        call_id=call.call_id,
        local_tag=call.local_tag, remote_tag=call.remote_tag, local_identity=identity,
        remote_identity=call.remote_uri, remote_display=call.remote_display,
        held=call.state is CallState.HELD)
