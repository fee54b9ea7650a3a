"""Extension and group voicemail: leaving a message and listening to one's messages
(queue-admin.md §11.1 "Extension Voicemail" / "Group Voicemail"; the manual does not describe
the mailbox itself, so Asterisk's `VoiceMail()` / `VoiceMailMain()` are the reference).

Leaving a message (`LeaveMessageFlow`): answer; the greeting (the box's custom WAV when it
has one, else "the person at extension N is not available"), then "leave your message after
the tone, press # when done"; `#` during the greeting skips to the tone. The message is
recorded (mono WAV) until `#`, hang-up, `max_seconds` or `silence_seconds` of silence.
A recording shorter than `min_seconds` is discarded (a caller who hung up at the tone leaves
no empty message); a kept one is published as `VoicemailLeft` (the mailbox subscriber stores
it, lights the message-waiting lamps and e-mails it). A full box says so and hangs up.

Listening (`MailboxFlow`, reached by the voicemail feature code): the PIN followed by `#`
(three tries), "you have N new and M old messages", then each message, new ones first,
oldest first, with its caller and time; after each one: 5 repeat, 4 previous, 6 next,
7 delete, 9 save, # exit. A new message that was played to its end becomes old
(`VoicemailHeard`).

Decisions:
- A group box works as an extension box; its owners are the group's members (each of their
  phones shows the lamp and each may listen with the group box's PIN).
- A box without a PIN (`pin: ""`) opens without asking, for the owner calling from their own
  extension only; from another phone the caller is refused.
- Messages are announced with their position and caller number; the time of the message is
  left out (the e-mail and the console carry it).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from media.player import say_digits, say_number
from softswitch.apps.events import (
    VoicemailDeleted,
    VoicemailHeard,
    VoicemailLeft,
    VoicemailSaved,
)
from softswitch.apps.flow import (
    Action,
    Answer,
    CallInfo,
    FlowBase,
    Hangup,
    Play,
    PromptPart,
    Publish,
    Record,
    StopPlayback,
)


@dataclass(frozen=True, slots=True)
class VoicemailBox:
    """One mailbox: an extension's (`number` = the extension) or a group's."""

    number: str
    name: str
    owners: tuple[str, ...]  # extensions that get the lamp and may listen
    emails: tuple[str, ...] = ()
    pin: str = ""
    greeting: str = ""  # a WAV path: the box's own greeting; "" = the system greeting
    max_seconds: float = 180.0
    min_seconds: float = 1.0
    silence_seconds: float = 10.0
    max_messages: int = 100
    attach_audio: bool = True  # e-mail the message as a WAV attachment
    unsolicited_mwi: bool = False  # lamp NOTIFYs without a subscription (phones that expect it)


class Folder(enum.Enum):
    NEW = "new"
    OLD = "old"
    SAVED = "saved"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as the mailbox holds it, for `MailboxFlow`."""

    message_id: str
    caller: str
    path: str
    seconds: float
    folder: Folder


class _Leave(enum.Enum):
    GREETING = "greeting"
    RECORDING = "recording"
    GOODBYE = "goodbye"
    DONE = "done"


class LeaveMessageFlow(FlowBase):
    """One caller leaving a message. `message_id` and `path` are chosen by the shell's
    factory (unique per message); `messages_in_box` counts what the box holds now."""

    def __init__(self, box: VoicemailBox, message_id: str, path: str,
                 messages_in_box: int) -> None:
        super().__init__()
        self.box = box
        self.message_id = message_id
        self.path = path
        self.full = messages_in_box >= box.max_messages
        self.state = _Leave.GREETING
        self.call: CallInfo | None = None
        self._playing: int | None = None
        self._recording: int | None = None

    def start(self, call: CallInfo, now: float) -> list[Action]:
        self.call = call
        if self.full:
            return [Answer(), *self._goodbye(["vm-mailbox-full", "goodbye"])]
        greeting: list[PromptPart] = (
            [self.box.greeting] if self.box.greeting else
            ["vm-the-person-at-extension", say_digits(self.box.number, call.language),
             "vm-is-unavailable"])
        self._playing = self.next_id()
        return [Answer(), Play(self._playing, [*greeting, "vm-leave-message-after-tone"],
                               interrupt_digits="#")]

    def handle_digit(self, digit: str, now: float) -> list[Action]:
        if self.state is _Leave.GREETING and digit == "#" and self._playing is not None:
            playing, self._playing = self._playing, None
            return [StopPlayback(playing), *self._record()]
        return []

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        if play_id != self._playing:
            return []
        self._playing = None
        if self.state is _Leave.GREETING:
            return self._record()
        if self.state is _Leave.GOODBYE:
            self.state = _Leave.DONE
            return [Hangup()]
        return []

    def handle_recording_done(self, record_id: int, path: str | None, seconds: float,
                              now: float) -> list[Action]:
        if record_id != self._recording:
            return []
        self._recording = None
        kept = path is not None and seconds >= self.box.min_seconds
        out: list[Action] = []
        if kept and path is not None and self.call is not None:
            out.append(Publish(VoicemailLeft(
                at=now, box=self.box.number, message_id=self.message_id,
                caller=self.call.caller, caller_name=self.call.caller_name, path=path,
                seconds=seconds, call_id=self.call.call_id)))
        if self.state is _Leave.DONE:  # the caller hung up while recording
            return out
        return out + self._goodbye(["vm-message-saved" if kept else "vm-no-message",
                                    "goodbye"])

    def handle_hangup(self, now: float) -> list[Action]:
        # A recording still running is ended by the shell, which then reports it with
        # handle_recording_done: the message is kept if long enough.
        self.state = _Leave.DONE
        return []

    def _record(self) -> list[Action]:
        self.state = _Leave.RECORDING
        self._recording = self.next_id()
        return [Record(self._recording, self.path, self.box.max_seconds, stop_digits="#",
                       silence_seconds=self.box.silence_seconds, beep=True)]

    def _goodbye(self, parts: list[PromptPart]) -> list[Action]:
        self.state = _Leave.GOODBYE
        self._playing = self.next_id()
        return [Play(self._playing, parts)]


class _Main(enum.Enum):
    PIN = "pin"
    SUMMARY = "summary"
    MESSAGE = "message"  # a message is playing
    MENU = "menu"  # the after-message menu is playing or waiting for a key
    GOODBYE = "goodbye"
    DONE = "done"


MAX_PIN_TRIES = 3
MENU_TIMEOUT = 10.0


class MailboxFlow(FlowBase):
    """The owner listening to a box (`messages`: a snapshot of the box, any order)."""

    def __init__(self, box: VoicemailBox, messages: Sequence[StoredMessage]) -> None:
        super().__init__()
        self.box = box
        order = {Folder.NEW: 0, Folder.OLD: 1, Folder.SAVED: 2}
        # stable sort: the snapshot's own order (arrival) within a folder
        self.messages = sorted(messages, key=lambda m: order[m.folder])
        self.index = 0
        self.state = _Main.PIN
        self.tries = 0
        self.pin = ""
        self.lang = "en"
        self._playing: int | None = None
        self._deadline: float | None = None
        self._deleted: set[str] = set()
        self._heard: set[str] = set()

    def start(self, call: CallInfo, now: float) -> list[Action]:
        self.lang = call.language
        if not self.box.pin:
            if call.caller not in self.box.owners:
                return [Answer(), *self._goodbye(["feature-not-permitted"])]
            return [Answer(), *self._summary()]
        return [Answer(), self._play(["vm-enter-password"], "0123456789#*")]

    def handle_digit(self, digit: str, now: float) -> list[Action]:
        out: list[Action] = []
        if self.state is _Main.PIN:
            if self._playing is not None:
                out.append(StopPlayback(self._playing))
                self._playing = None
            if digit != "#":
                self.pin += digit
                self._deadline = now + MENU_TIMEOUT
                return out
            return out + self._check_pin()
        if self.state in (_Main.MESSAGE, _Main.MENU, _Main.SUMMARY):
            if self._playing is not None:
                out.append(StopPlayback(self._playing))
                self._playing = None
            self._deadline = None
            return out + self._menu_key(digit, now)
        return []

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        if play_id != self._playing:
            return []
        self._playing = None
        if interrupted:
            return []
        if self.state is _Main.PIN:
            self._deadline = now + MENU_TIMEOUT
            return []
        if self.state is _Main.SUMMARY:
            return self._play_current()
        if self.state is _Main.MESSAGE:
            out: list[Action] = []
            msg = self.messages[self.index]
            if msg.folder is Folder.NEW and msg.message_id not in self._heard:
                self._heard.add(msg.message_id)
                out.append(Publish(VoicemailHeard(now, self.box.number, msg.message_id)))
            self.state = _Main.MENU
            return out + [self._play(["vm-message-options"], "0123456789#*")]
        if self.state is _Main.MENU:
            self._deadline = now + MENU_TIMEOUT
            return []
        if self.state is _Main.GOODBYE:
            self.state = _Main.DONE
            return [Hangup()]
        return []

    def handle_timer(self, now: float) -> list[Action]:
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        if self.state is _Main.PIN:
            return self._check_pin()
        if self.state is _Main.MENU:
            return self._goodbye(["goodbye"])
        return []

    def handle_hangup(self, now: float) -> list[Action]:
        self.state = _Main.DONE
        self._deadline = None
        return []

    def next_deadline(self) -> float | None:
        return self._deadline

    # -- rules

    def _check_pin(self) -> list[Action]:
        entered, self.pin = self.pin, ""
        self._deadline = None
        if entered == self.box.pin:
            return self._summary()
        self.tries += 1
        if self.tries >= MAX_PIN_TRIES:
            return self._goodbye(["vm-incorrect-password", "goodbye"])
        return [self._play(["vm-incorrect-password", "vm-enter-password"], "0123456789#*")]

    def _live(self) -> list[StoredMessage]:
        return [m for m in self.messages if m.message_id not in self._deleted]

    def _summary(self) -> list[Action]:
        self.state = _Main.SUMMARY
        live = self._live()
        new = sum(1 for m in live if m.folder is Folder.NEW)
        old = len(live) - new
        parts: list[PromptPart] = ["vm-you-have", say_number(new, self.lang), "vm-new-messages",
                                   "vm-and", say_number(old, self.lang), "vm-old-messages"]
        if not live:
            self.state = _Main.GOODBYE
            self._playing = self.next_id()
            return [Play(self._playing, [*parts, "goodbye"])]
        return [self._play(parts, "0123456789#*")]

    def _play_current(self) -> list[Action]:
        msg = self.messages[self.index]
        self.state = _Main.MESSAGE
        parts: list[PromptPart] = ["vm-message", say_number(self.index + 1, self.lang)]
        if msg.caller.isdigit():
            parts += ["vm-from", say_digits(msg.caller, self.lang)]
        parts.append(msg.path)
        return [self._play(parts, "0123456789#*")]

    def _menu_key(self, digit: str, now: float) -> list[Action]:
        if digit == "#":
            return self._goodbye(["goodbye"])
        if self.state is _Main.SUMMARY:  # any other key skips the summary
            return self._play_current()
        msg = self.messages[self.index]
        if digit == "5":
            return self._play_current()
        if digit == "6":
            return self._step(+1, [])
        if digit == "4":
            return self._step(-1, [])
        if digit == "7":
            self._deleted.add(msg.message_id)
            return self._step(+1, [Publish(VoicemailDeleted(now, self.box.number,
                                                            msg.message_id))],
                              said=["vm-message-deleted"])
        if digit == "9":
            return self._step(+1, [Publish(VoicemailSaved(now, self.box.number,
                                                          msg.message_id))],
                              said=["vm-message-saved"])
        self.state = _Main.MENU
        return [self._play(["invalid-entry", "vm-message-options"], "0123456789#*")]

    def _step(self, direction: int, out: list[Action],
              said: list[PromptPart] | None = None) -> list[Action]:
        i = self.index + direction
        while 0 <= i < len(self.messages) and self.messages[i].message_id in self._deleted:
            i += direction
        if not 0 <= i < len(self.messages):
            parts: list[PromptPart] = list(said or [])
            parts.append("vm-no-more-messages" if direction > 0 else "vm-first-message")
            parts.append("vm-message-options")
            self.state = _Main.MENU
            return out + [self._play(parts, "0123456789#*")]
        self.index = i
        if said:
            self.state = _Main.SUMMARY  # the confirmation, then the next message
            return out + [self._play(said, "0123456789#*")]
        return out + self._play_current()

    def _play(self, parts: list[PromptPart], interrupt: str = "") -> Play:
        self._playing = self.next_id()
        return Play(self._playing, parts, interrupt_digits=interrupt)

    def _goodbye(self, parts: list[PromptPart]) -> list[Action]:
        self.state = _Main.GOODBYE
        self._deadline = None
        self._playing = self.next_id()
        return [Play(self._playing, parts)]
