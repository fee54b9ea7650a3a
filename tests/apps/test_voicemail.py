"""Voicemail flows in virtual time: leaving a message and listening (softswitch.apps.voicemail)."""

from __future__ import annotations

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
    Hangup,
    Play,
    Publish,
    Record,
    StopPlayback,
)
from softswitch.apps.voicemail import (
    Folder,
    LeaveMessageFlow,
    MailboxFlow,
    StoredMessage,
    VoicemailBox,
)

BOX = VoicemailBox(number="1001", name="Alice", owners=("1001",), pin="4321")
CALLER = CallInfo("c1", "1002", "Bob", "1001", "en")


def only(actions: list[Action], kind: type) -> list[object]:
    return [a for a in actions if isinstance(a, kind)]


def flat(play: object) -> list[str]:
    assert isinstance(play, Play)
    out: list[str] = []
    for part in play.parts:
        out += [part] if isinstance(part, str) else part
    return out


def done(flow: object, actions: list[Action], now: float) -> list[Action]:
    play = only(actions, Play)[-1]
    assert isinstance(play, Play)
    return flow.handle_playback_done(play.play_id, False, now)  # type: ignore[attr-defined]


# -- leaving a message


def test_greeting_then_recording_then_saved_message_published() -> None:
    flow = LeaveMessageFlow(BOX, "m1", "/vm/1001/m1.wav", messages_in_box=0)
    out = flow.start(CALLER, 0.0)
    assert isinstance(out[0], Answer)
    words = flat(only(out, Play)[0])
    assert words[:1] == ["vm-the-person-at-extension"] and "num-1" in words
    assert words[-1] == "vm-leave-message-after-tone"
    out = done(flow, out, 5.0)
    rec = only(out, Record)[0]
    assert isinstance(rec, Record)
    assert (rec.path, rec.max_seconds, rec.stop_digits, rec.beep) == (
        "/vm/1001/m1.wav", 180.0, "#", True)
    out = flow.handle_recording_done(rec.record_id, "/vm/1001/m1.wav", 7.5, 12.5)
    event = only(out, Publish)[0]
    assert isinstance(event, Publish)
    assert event.event == VoicemailLeft(at=12.5, box="1001", message_id="m1", caller="1002",
                                        caller_name="Bob", path="/vm/1001/m1.wav",
                                        seconds=7.5, call_id="c1")
    assert flat(only(out, Play)[0]) == ["vm-message-saved", "goodbye"]
    assert done(flow, out, 14.0) == [Hangup()]


def test_custom_greeting_and_pound_skips_to_the_tone() -> None:
    box = VoicemailBox(number="1001", name="Alice", owners=("1001",), greeting="/g/alice.wav")
    flow = LeaveMessageFlow(box, "m1", "/vm/m1.wav", 0)
    out = flow.start(CALLER, 0.0)
    play = only(out, Play)[0]
    assert isinstance(play, Play) and flat(play)[0] == "/g/alice.wav"
    out = flow.handle_digit("#", 1.0)
    assert out[0] == StopPlayback(play.play_id)
    assert isinstance(out[1], Record)


def test_short_recording_is_discarded() -> None:
    flow = LeaveMessageFlow(BOX, "m1", "/vm/m1.wav", 0)
    rec = only(done(flow, flow.start(CALLER, 0.0), 5.0), Record)[0]
    assert isinstance(rec, Record)
    out = flow.handle_recording_done(rec.record_id, "/vm/m1.wav", 0.4, 5.4)
    assert only(out, Publish) == []
    assert flat(only(out, Play)[0]) == ["vm-no-message", "goodbye"]


def test_hangup_while_recording_keeps_the_message() -> None:
    flow = LeaveMessageFlow(BOX, "m1", "/vm/m1.wav", 0)
    rec = only(done(flow, flow.start(CALLER, 0.0), 5.0), Record)[0]
    assert isinstance(rec, Record)
    assert flow.handle_hangup(9.0) == []
    out = flow.handle_recording_done(rec.record_id, "/vm/m1.wav", 4.0, 9.0)
    assert [type(a) for a in out] == [Publish]


def test_full_box_says_so_and_records_nothing() -> None:
    box = VoicemailBox(number="1001", name="Alice", owners=("1001",), max_messages=2)
    flow = LeaveMessageFlow(box, "m3", "/vm/m3.wav", messages_in_box=2)
    out = flow.start(CALLER, 0.0)
    assert flat(only(out, Play)[0]) == ["vm-mailbox-full", "goodbye"]
    assert done(flow, out, 3.0) == [Hangup()]


# -- listening

OWNER = CallInfo("c2", "1001", "Alice", "*97", "en")
MESSAGES = [
    StoredMessage("old1", "1003", "/vm/old1.wav", 4.0, Folder.OLD),
    StoredMessage("new1", "1002", "/vm/new1.wav", 6.0, Folder.NEW),
    StoredMessage("new2", "5551234", "/vm/new2.wav", 3.0, Folder.NEW),
]


def login(flow: MailboxFlow) -> list[Action]:
    flow.start(OWNER, 0.0)
    for d in "4321":
        flow.handle_digit(d, 1.0)
    return flow.handle_digit("#", 2.0)


def test_pin_then_summary_counts_new_and_old() -> None:
    flow = MailboxFlow(BOX, MESSAGES)
    out = flow.start(OWNER, 0.0)
    assert flat(only(out, Play)[0]) == ["vm-enter-password"]
    out = login(MailboxFlow(BOX, MESSAGES))
    assert flat(only(out, Play)[0]) == ["vm-you-have", "num-2", "vm-new-messages", "vm-and",
                                         "num-1", "vm-old-messages"]


def test_three_wrong_pins_hang_up() -> None:
    flow = MailboxFlow(BOX, MESSAGES)
    flow.start(OWNER, 0.0)
    out: list[Action] = []
    for attempt in range(3):
        flow.handle_digit("9", 1.0 + attempt)
        out = flow.handle_digit("#", 1.5 + attempt)
    assert flat(only(out, Play)[-1]) == ["vm-incorrect-password", "goodbye"]
    assert done(flow, out, 9.0) == [Hangup()]


def test_new_messages_first_and_heard_when_played_to_the_end() -> None:
    flow = MailboxFlow(BOX, MESSAGES)
    out = done(flow, login(flow), 5.0)  # summary over -> first message
    first = flat(only(out, Play)[0])
    assert first[0] == "vm-message" and first[-1] == "/vm/new1.wav"
    assert "vm-from" in first  # caller 1002 said digit by digit
    out = done(flow, out, 12.0)
    assert only(out, Publish) == [Publish(VoicemailHeard(12.0, "1001", "new1"))]
    assert flat(only(out, Play)[0]) == ["vm-message-options"]
    out = flow.handle_digit("6", 13.0)  # next
    assert flat(only(out, Play)[0])[-1] == "/vm/new2.wav"


def test_delete_and_save_publish_and_move_on() -> None:
    flow = MailboxFlow(BOX, MESSAGES)
    done(flow, login(flow), 5.0)
    out = flow.handle_digit("7", 6.0)  # delete new1 while it plays
    assert isinstance(out[0], StopPlayback)
    assert Publish(VoicemailDeleted(6.0, "1001", "new1")) in out
    assert flat(only(out, Play)[0]) == ["vm-message-deleted"]
    out = done(flow, out, 7.0)
    assert flat(only(out, Play)[0])[-1] == "/vm/new2.wav"
    out = flow.handle_digit("9", 8.0)
    assert Publish(VoicemailSaved(8.0, "1001", "new2")) in out
    out = done(flow, out, 9.0)
    assert flat(only(out, Play)[0])[-1] == "/vm/old1.wav"
    out = flow.handle_digit("6", 10.0)
    assert flat(only(out, Play)[0]) == ["vm-no-more-messages", "vm-message-options"]
    out = flow.handle_digit("4", 11.0)  # previous skips the deleted one
    assert flat(only(out, Play)[0])[-1] == "/vm/new2.wav"


def test_menu_times_out_with_goodbye() -> None:
    flow = MailboxFlow(BOX, MESSAGES)
    out = done(flow, login(flow), 5.0)
    out = done(flow, out, 10.0)  # message over -> options
    done(flow, out, 12.0)  # options over: wait for a key
    assert flow.next_deadline() == 22.0
    out = flow.handle_timer(22.0)
    assert flat(only(out, Play)[0]) == ["goodbye"]


def test_box_without_pin_opens_only_for_its_owner() -> None:
    box = VoicemailBox(number="1001", name="Alice", owners=("1001",), pin="")
    out = MailboxFlow(box, MESSAGES).start(OWNER, 0.0)
    assert flat(only(out, Play)[0])[0] == "vm-you-have"
    out = MailboxFlow(box, MESSAGES).start(CALLER, 0.0)
    assert flat(only(out, Play)[0]) == ["feature-not-permitted"]


def test_empty_box_says_zero_and_goodbye() -> None:
    flow = MailboxFlow(BOX, [])
    out = login(flow)
    assert flat(only(out, Play)[0])[-1] == "goodbye"
    assert done(flow, out, 5.0) == [Hangup()]
