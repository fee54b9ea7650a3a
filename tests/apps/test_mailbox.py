"""Voicemail boxes: rows, RFC 3842 lamps and e-mail for each message event
(softswitch.apps.mailbox)."""

from __future__ import annotations

import datetime as dt

from softswitch.apps.events import VoicemailDeleted, VoicemailHeard, VoicemailLeft, VoicemailSaved
from softswitch.apps.mailbox import (
    DeleteFile,
    DeleteRow,
    Mailboxes,
    SendEmail,
    UpdateLamp,
    WriteRow,
)
from softswitch.apps.voicemail import Folder, VoicemailBox
from softswitch.presence.bodies import message_summary

ALICE = VoicemailBox("1001", "Alice", ("1001",), emails=("alice@example.com",))
SALES = VoicemailBox("8100", "Sales team", ("1001", "1002"), attach_audio=False,
                     emails=("sales@example.com",))
WALL = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC).timestamp()


def left(box: str, mid: str) -> VoicemailLeft:
    return VoicemailLeft(1.0, box, mid, "1003", "Carol", f"/vm/{mid}.wav", 12.4, "c-" + mid)


def lamps(effects: list[object]) -> dict[str, bytes]:
    return {e.extension: e.body for e in effects if isinstance(e, UpdateLamp)}


def test_message_summary_body_is_rfc3842() -> None:
    assert message_summary("sip:1001@pbx", 2, 1) == (
        b"Messages-Waiting: yes\r\nMessage-Account: sip:1001@pbx\r\n"
        b"Voice-Message: 2/1 (0/0)\r\n")
    assert message_summary("sip:1001@pbx", 0, 3).startswith(b"Messages-Waiting: no\r\n")


def test_new_message_writes_a_row_lights_the_lamp_and_mails_the_wav() -> None:
    boxes = Mailboxes({"1001": ALICE}, "pbx")
    out = boxes.handle(left("1001", "m1"), WALL)
    row = next(e for e in out if isinstance(e, WriteRow)).row
    assert (row.box, row.folder, row.created_at, row.path) == ("1001", Folder.NEW, WALL,
                                                               "/vm/m1.wav")
    assert lamps(out) == {"1001": message_summary("sip:1001@pbx", 1, 0)}
    (mail,) = [e for e in out if isinstance(e, SendEmail)]
    assert mail.to == "alice@example.com" and mail.attachment == "/vm/m1.wav"
    assert "Carol <1003>" in mail.subject and "2026-12-02 09:30:00 UTC" in mail.body
    assert "Length: 0:12" in mail.body


def test_group_box_lights_every_member_with_their_sum() -> None:
    boxes = Mailboxes({"1001": ALICE, "8100": SALES}, "pbx")
    boxes.handle(left("1001", "m1"), WALL)
    out = boxes.handle(left("8100", "g1"), WALL + 5)
    assert lamps(out) == {"1001": message_summary("sip:1001@pbx", 2, 0),
                          "1002": message_summary("sip:1002@pbx", 1, 0)}
    (mail,) = [e for e in out if isinstance(e, SendEmail)]
    assert mail.attachment is None


def test_heard_saved_deleted_move_the_counts() -> None:
    boxes = Mailboxes({"1001": ALICE}, "pbx")
    boxes.handle(left("1001", "m1"), WALL)
    boxes.handle(left("1001", "m2"), WALL + 1)
    out = boxes.handle(VoicemailHeard(2.0, "1001", "m1"), WALL + 2)
    assert lamps(out) == {"1001": message_summary("sip:1001@pbx", 1, 1)}
    out = boxes.handle(VoicemailSaved(3.0, "1001", "m2"), WALL + 3)
    assert lamps(out) == {"1001": message_summary("sip:1001@pbx", 0, 2)}
    assert boxes.handle(VoicemailHeard(4.0, "1001", "m2"), WALL + 4) == []  # stays saved
    out = boxes.handle(VoicemailDeleted(5.0, "1001", "m1"), WALL + 5)
    assert DeleteRow("m1") in out and DeleteFile("/vm/m1.wav") in out
    assert lamps(out) == {"1001": message_summary("sip:1001@pbx", 0, 1)}
    assert [m.message_id for m in boxes.messages("1001")] == ["m2"]


def test_load_restores_boxes_in_arrival_order() -> None:
    boxes = Mailboxes({"1001": ALICE}, "pbx")
    first = boxes.handle(left("1001", "m1"), WALL)
    second = boxes.handle(left("1001", "m2"), WALL - 60)
    rows = [e.row for e in first + second if isinstance(e, WriteRow)]
    again = Mailboxes({"1001": ALICE}, "pbx")
    again.load(rows)
    assert [m.message_id for m in again.messages("1001")] == ["m2", "m1"]
    assert again.counts("1001") == (2, 0)


def test_message_for_a_removed_box_is_deleted() -> None:
    boxes = Mailboxes({}, "pbx")
    assert boxes.handle(left("1001", "m1"), WALL) == [DeleteFile("/vm/m1.wav")]
