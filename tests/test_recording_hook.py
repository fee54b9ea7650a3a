"""Call recording (softswitch.calls.recording): the `recording` config section, migration 3
(cdr.recording, queue_calls.recording), where files go and what happens when they cannot be
written. Audio through real phones: tests/interop/test_recording.py."""

from __future__ import annotations

import random
import sqlite3
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acd.events import TaskJoined
from media import MediaEngine
from softswitch.calls.recording import (
    CallRecordings,
    RecordingConfig,
    RecordingStarted,
    safe_name,
)
from softswitch.config import ConfigError, parse_config
from softswitch.events import EventBus
from softswitch.reports.rows import ReportRows
from softswitch.store import CallRecord, Disposition, Store
from softswitch.store.migrations import MIGRATIONS

BASE = """\
sip:
  listen: [udp:127.0.0.1:0]
  domain: example.com
extensions:
  - {number: "1001", name: Alice, password: secret-1001}
"""


def issues(text: str, config_dir: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + text, "sw.yaml", config_dir)
    return [str(i) for i in err.value.issues]


# -- config ------------------------------------------------------------------------------

def test_recording_defaults_to_every_call_into_var_recordings(tmp_path: Path) -> None:
    cfg = parse_config(BASE, "sw.yaml", tmp_path)
    assert cfg.recording == RecordingConfig(True, str(tmp_path / "var/recordings"), True, True)


def test_recording_section_keys(tmp_path: Path) -> None:
    cfg = parse_config(BASE + "recording:\n  enabled: true\n  path: rec\n  extensions: false\n"
                              "  queues: true\n", "sw.yaml", tmp_path)
    assert cfg.recording == RecordingConfig(True, str(tmp_path / "rec"), False, True)
    cfg = parse_config(BASE + "recording: {enabled: false, path: /srv/rec}\n", "sw.yaml",
                       tmp_path)
    assert cfg.recording == RecordingConfig(False, "/srv/rec", True, True)


def test_recording_errors_name_file_line_and_key(tmp_path: Path) -> None:
    assert issues("recording:\n  enabled: yes please\n  pth: x\n  queues: 1\n") == [
        "sw.yaml:7: recording.enabled: expected true or false, got 'yes please'",
        "sw.yaml:8: recording.pth: unknown key 'pth' (did you mean 'path'?)",
        "sw.yaml:9: recording.queues: expected true or false, got '1'",
    ]
    assert issues("recording:\n  path: ''\n") == [
        "sw.yaml:7: recording.path: expected a directory, got an empty value"]
    (tmp_path / "afile").write_text("x")
    assert issues("recording:\n  path: afile\n", tmp_path) == [
        f"sw.yaml:7: recording.path: expected a directory, but "
        f"'{tmp_path / 'afile'}' is a file"]
    assert issues("recording: true\n") == [
        "sw.yaml:6: recording: expected a mapping with keys enabled, path, extensions, queues,"
        " got 'true'"]


def test_example_config_documents_recording() -> None:
    root = Path(__file__).resolve().parents[1]
    text = (root / "config.example.yaml").read_text()
    core = text[text.index("# --- core (softswitch) begin ---"):
                text.index("# --- core (softswitch) end ---")]
    assert "\nrecording:\n" in core
    cfg = parse_config(text, "config.example.yaml", root)
    assert cfg.recording == RecordingConfig(True, str(root / "var/recordings"), True, True)


# -- migration ---------------------------------------------------------------------------

async def test_migration_3_adds_nullable_recording_to_cdr_and_queue_calls(
        tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    old = [m for m in MIGRATIONS if m.version <= 2]
    store = await Store.open(path, old)  # a database of the switch before recordings
    await store.close()
    con = sqlite3.connect(path)  # rows as that switch wrote them (no recording column)
    con.execute("INSERT INTO cdr (call_id, caller, callee, start_time, answer_time, end_time,"
                " duration, billsec, disposition, hangup_side, hangup_cause, sip_code)"
                " VALUES ('old', '1001', '1002', 1, 2, 5, 4, 3, 'ANSWERED', 'caller', 'BYE',"
                " 200)")
    con.execute("INSERT INTO queue_calls (call_uid, task, queue, caller, joined_at)"
                " VALUES ('u1', 'old', '6400', '1001', 1.0)")
    con.commit()
    con.close()

    store = await Store.open(path)  # brought forward through migration 3 (and later ones)
    assert await store.schema_version() == MIGRATIONS[-1].version
    store.write_cdr(CallRecord("new", "1001", "1002", 10.0, 11.0, 15.0, Disposition.ANSWERED,
                               "callee", "BYE", 200, recording="/rec/2026/01/02/new.wav"))
    await store.flush()
    old_row, new_row = await store.call_records()
    assert (old_row.call_id, old_row.recording) == ("old", None)
    assert (new_row.call_id, new_row.recording) == ("new", "/rec/2026/01/02/new.wav")
    assert await store.fetch("SELECT recording FROM queue_calls") == [(None,)]
    await store.close()
    con = sqlite3.connect(path)
    cols = {r[1]: r for r in con.execute("PRAGMA table_info(cdr)")}
    assert cols["recording"][2] == "TEXT" and cols["recording"][3] == 0  # nullable


async def test_queue_calls_row_gets_the_recording_path(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    rows = ReportRows({"6400": 20.0}, wall_offset=1000.0)
    writes = rows.handle(TaskJoined(5.0, "call-1", "6400", "1001", 1))
    writes += rows.handle(RecordingStarted(9.0, "call-1", "6400", "/rec/x.wav"))
    writes += rows.handle(RecordingStarted(9.0, "other-call", "", "/rec/y.wav"))  # extension
    for sql, params in writes:
        store.write(sql, params)
    await store.flush()
    assert await store.fetch("SELECT task, recording FROM queue_calls") == [
        ("call-1", "/rec/x.wav")]
    await store.close()


# -- files -------------------------------------------------------------------------------

@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    base = random.randrange(20000, 31800, 2)  # the engine skips ports in use
    eng = MediaEngine("127.0.0.1", (base, base + 199))  # clock not started: ticked by hand
    try:
        yield eng
    finally:
        await eng.stop()


def wav_info(path: Path) -> tuple[int, int, float]:
    with wave.open(str(path), "rb") as w:
        return w.getnchannels(), w.getframerate(), w.getnframes() / w.getframerate()


NOON = time.mktime((2026, 3, 7, 12, 0, 0, 0, 0, -1))


async def test_file_per_call_under_date_directories(engine: MediaEngine,
                                                    tmp_path: Path) -> None:
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    recs = CallRecordings(engine, RecordingConfig(path=str(tmp_path)), events=bus,
                          clock=lambda: NOON)
    a, b = await engine.open_leg("c/a"), await engine.open_leg("c/b")
    path = recs.start("extension", "abc@host/1", a, b, at=7.0)
    assert path == str(tmp_path / "2026" / "03" / "07" / "abc_host_1.wav")
    assert seen == [RecordingStarted(7.0, "abc@host/1", "", path)]
    for i in range(50):  # one second of the media clock
        engine.tick(i * 0.02)
    recs.stop("abc@host/1")
    assert wav_info(Path(path)) == (2, 8000, 1.0)  # finished: the header has the length
    assert recs.active() == []
    # a later call re-using the Call-ID does not overwrite the first file
    c, d = await engine.open_leg("c2/a"), await engine.open_leg("c2/b")
    again = recs.start("queue", "abc@host/1", c, d, queue="6400")
    assert again == str(tmp_path / "2026" / "03" / "07" / "abc_host_1-2.wav")


async def test_disabled_kinds_are_not_recorded(engine: MediaEngine, tmp_path: Path) -> None:
    a, b = await engine.open_leg("c/a"), await engine.open_leg("c/b")
    off = CallRecordings(engine, RecordingConfig(enabled=False, path=str(tmp_path)))
    assert off.start("extension", "c", a, b) is None
    assert off.start("queue", "c", a, b) is None
    queues_only = CallRecordings(engine, RecordingConfig(path=str(tmp_path), extensions=False))
    assert queues_only.start("extension", "c", a, b) is None
    assert queues_only.start("queue", "c", a, b) is not None
    assert list(tmp_path.rglob("*.wav")) != []


async def test_unwritable_directory_is_logged_and_the_call_goes_on(
        engine: MediaEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    recs = CallRecordings(engine, RecordingConfig(path=str(blocker)))
    a, b = await engine.open_leg("c/a"), await engine.open_leg("c/b")
    assert recs.start("extension", "call-9", a, b) is None
    out = capsys.readouterr()
    assert "recording failed" in out.out + out.err
    engine.bridge(a, b)  # the legs are untouched: the call's media still works
    engine.tick(0.0)
    recs.stop("call-9")  # nothing to stop: no error
    await a.close()
    await b.close()


async def test_close_all_finishes_open_files_and_leg_close_is_harmless(
        engine: MediaEngine, tmp_path: Path) -> None:
    recs = CallRecordings(engine, RecordingConfig(path=str(tmp_path)), clock=lambda: NOON)
    legs = [await engine.open_leg(f"l{i}") for i in range(4)]
    p1 = recs.start("extension", "one", legs[0], legs[1])
    p2 = recs.start("queue", "two", legs[2], legs[3], queue="6400")
    for i in range(25):
        engine.tick(i * 0.02)
    await legs[0].close()  # a leg closing first also ends its file (media engine)
    recs.close_all()  # shutdown: the other one is finished here
    assert recs.active() == []
    assert p1 is not None and p2 is not None
    assert wav_info(Path(p1)) == (2, 8000, 0.5)
    assert wav_info(Path(p2)) == (2, 8000, 0.5)


def test_safe_name() -> None:
    assert safe_name("a1b2@10.0.0.1") == "a1b2_10.0.0.1"
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name("..") == "call"
    assert len(safe_name("x" * 500)) == 120


async def test_write_failure_mid_call_is_logged_once_and_the_media_clock_goes_on(
        engine: MediaEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recs = CallRecordings(engine, RecordingConfig(path=str(tmp_path)), clock=lambda: NOON)
    a, b = await engine.open_leg("c/a"), await engine.open_leg("c/b")
    path = recs.start("extension", "full", a, b)
    assert path is not None
    for i in range(50):  # one second reaches the file
        engine.tick(i * 0.02)

    def disk_full(data: bytes) -> None:
        raise OSError(28, "No space left on device")

    recs._active["full"]._core._wav.writeframes = disk_full  # fault injection
    capsys.readouterr()
    for i in range(50, 200):  # the media clock's ticks never raise (they would every tick)
        engine.tick(i * 0.02)
    out = capsys.readouterr()
    assert (out.out + out.err).count("recording failed") == 1
    assert "No space left on device" in out.out + out.err
    assert recs.active() == []
    recs.stop("full")
    await a.close()  # the legs still close (ports freed)
    await b.close()
    assert engine.legs == {}
    channels, rate, seconds = wav_info(Path(path))
    assert (channels, rate, seconds) == (2, 8000, 1.0)  # what was written before the failure
