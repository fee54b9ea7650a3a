"""The recording state of answered queue calls in the live state (queue-manager-agent.md
§3.3.3 recording icon; softswitch.web.live QueueTracker): the row's ``recording`` follows the
recording's start (which may come before the answer), pause and resume, and is forgotten
when the call ends."""

from __future__ import annotations

from acd.events import CallEnded, CallStatus, LeaveReason, TaskJoined, TaskLeft
from softswitch.calls.recording import RecordingChanged, RecordingStarted
from softswitch.web.live import QueueTracker


def answered(tracker: QueueTracker, task: str) -> None:
    tracker.apply(TaskJoined(1.0, task, "6400", "3000", 1))
    tracker.apply(TaskLeft(2.0, task, "6400", CallStatus.ANSWERED, LeaveReason.ANSWERED,
                           1.0, "2000"))


def test_a_recording_started_before_the_answer_shows_on_the_answered_row() -> None:
    tracker = QueueTracker(lambda t: 1000.0 + t, 1000.0)
    tracker.apply(TaskJoined(1.0, "c1", "6400", "3000", 1))
    tracker.apply(RecordingStarted(1.5, "c1", "6400", "/r/c1.wav"))
    tracker.apply(TaskLeft(2.0, "c1", "6400", CallStatus.ANSWERED, LeaveReason.ANSWERED,
                           1.0, "2000"))
    assert tracker.active["c1"].as_json(None)["recording"] == "recording"


def test_pause_and_resume_change_the_row_and_the_end_forgets_it() -> None:
    tracker = QueueTracker(lambda t: 1000.0 + t, 1000.0)
    answered(tracker, "c1")
    assert tracker.active["c1"].as_json(None)["recording"] is None  # nothing records
    tracker.apply(RecordingStarted(2.1, "c1", "6400", "/r/c1.wav"))
    tracker.apply(RecordingChanged(3.0, "c1", "6400", "paused"))
    assert tracker.active["c1"].as_json(None)["recording"] == "paused"
    tracker.apply(RecordingChanged(4.0, "c1", "6400", "recording"))
    assert tracker.active["c1"].recording == "recording"
    tracker.apply(CallEnded(5.0, "c1", "6400", "2000", 3.0))
    assert "c1" not in tracker.active and tracker.recordings == {}


def test_extension_call_recordings_are_not_queue_rows() -> None:
    tracker = QueueTracker(lambda t: t, 0.0)
    tracker.apply(RecordingStarted(1.0, "x1", "", "/r/x1.wav"))
    assert tracker.recordings == {}
