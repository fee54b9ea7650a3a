"""softswitch.calls.records with a real store: a call's row from start (open) to end
(closed), the dialogs kept while it is open, migration 5 keeping older rows, and the
start-up sweep after a crash (rows closed INTERRUPTED, a BYE over real loopback UDP to each
persisted leg, the leg's row removed once it answered)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from softswitch.calls.records import (
    CSEQ_GAP,
    CallRecords,
    bye_request,
    close_interrupted_calls,
    dialog_row,
    hang_up_interrupted,
)
from softswitch.sip import Dialog, Peer, Request, ServerTransaction, SipEndpoint, parse_message
from softswitch.store import CallRecord, Disposition, Store
from softswitch.store.migrations import MIGRATIONS

CDR = ("SELECT state, call_id, caller, callee, start_time, answer_time, end_time, duration,"
       " billsec, disposition, hangup_side, hangup_cause FROM cdr ORDER BY id")


def caller_dialog(phone_port: int, cseq: int = 101, call_id: str = "crash-1@127.0.0.1"
                  ) -> Dialog:
    """The switch's dialog with a caller at 127.0.0.1:`phone_port` (our 200 confirmed it)."""
    invite = parse_message(
        b"INVITE sip:1002@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKinv1;rport\r\n"
        b"From: \"Alice\" <sip:1001@127.0.0.1>;tag=alice1\r\n"
        b"To: <sip:1002@127.0.0.1>\r\n"
        b"Call-ID: %s\r\n"
        b"CSeq: %d INVITE\r\n"
        b"Contact: <sip:1001@127.0.0.1:%d>\r\n"
        b"Record-Route: <sip:127.0.0.1:%d;lr>\r\n"
        b"Content-Length: 0\r\n\r\n" % (phone_port, call_id.encode(), cseq, phone_port,
                                           phone_port))
    assert isinstance(invite, Request)
    ok = invite.create_response(200, to_tag="switchtag",
                                headers=[("Contact", "<sip:1002@127.0.0.1:5060>")])
    return Dialog.create_uas(invite, ok)


async def test_a_call_row_is_open_from_the_start_and_completed_at_the_end(
        tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    records = CallRecords(store)
    uid = records.open("c1", "1001", "1002", 1000.0)
    await store.flush()
    assert await store.fetch(CDR) == [
        ("open", "c1", "1001", "1002", 1000.0, None, None, None, None, None, None, None)]
    assert await store.call_records() == []  # an open call is not a record yet

    dialog = caller_dialog(5062)
    dialog.create_request("INFO")  # the switch used CSeq 1 in this dialog before the answer
    records.answered(uid, 1002.5, [("caller", dialog, Peer("udp", "127.0.0.1", 5062)),
                                   ("callee", None, None)])  # a leg without a dialog: none
    await store.flush()
    assert (await store.fetch("SELECT state, answer_time FROM cdr")) == [("open", 1002.5)]
    [row] = await store.call_dialogs()
    assert row == dialog_row(uid, "caller", dialog, Peer("udp", "127.0.0.1", 5062))
    assert (row.call_id, row.next_cseq, row.route_set) == (
        "crash-1@127.0.0.1", 2, ("<sip:127.0.0.1:5062;lr>",))

    records.complete(uid, CallRecord("c1", "1001", "1002", 1000.0, 1002.5, 1010.0,
                                     Disposition.ANSWERED, "callee", "BYE", 200))
    await store.flush()
    assert await store.fetch(CDR) == [
        ("closed", "c1", "1001", "1002", 1000.0, 1002.5, 1010.0, 10.0, 7.5, "ANSWERED",
         "callee", "BYE")]
    assert await store.call_dialogs() == []  # nothing left to hang up
    await store.close()


async def test_a_completed_call_whose_open_row_was_lost_is_still_recorded(
        tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    CallRecords(store).complete("never-opened", CallRecord(
        "c2", "1001", "1003", 5.0, None, 6.0, Disposition.BUSY, "callee", "486", 486))
    await store.flush()
    assert [(r.call_id, r.disposition) for r in await store.call_records()] == [("c2", "BUSY")]
    await store.close()


async def test_without_a_store_or_after_close_nothing_breaks_the_call(tmp_path: Path) -> None:
    CallRecords(None).complete(CallRecords(None).open("c", "a", "b", 1.0), CallRecord(
        "c", "a", "b", 1.0, None, 2.0, Disposition.FAILED, "switch", "x"))
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    await store.close()
    records = CallRecords(store)
    uid = records.open("late", "a", "b", 1.0)  # logged, not raised
    records.complete(uid, CallRecord("late", "a", "b", 1.0, None, 2.0, Disposition.FAILED,
                                     "switch", "x"))


async def test_migration_5_keeps_older_rows_and_allows_open_and_interrupted_ones(
        tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    store = await Store.open(path, [m for m in MIGRATIONS if m.version <= 4])
    store.write("INSERT INTO cdr (call_id, caller, callee, start_time, answer_time, end_time,"
                " duration, billsec, disposition, hangup_side, hangup_cause, sip_code)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                ("old", "1001", "1002", 1.0, None, 3.0, 2.0, 0.0, "NO ANSWER", "switch",
                 "no-answer timeout", 480))
    await store.close()
    store = await Store.open(path)
    assert await store.schema_version() == MIGRATIONS[-1].version
    [old] = await store.call_records()
    assert (old.call_id, old.disposition, old.duration) == ("old", "NO ANSWER", 2.0)
    records = CallRecords(store)
    records.open("new", "1001", "1002", 10.0)
    await store.flush()
    assert [r[:2] for r in await store.fetch(CDR)] == [("closed", "old"), ("open", "new")]
    await store.close()
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError):  # a closed row must say how it ended
        con.execute("UPDATE cdr SET state='closed' WHERE call_id='new'")


class Phone:
    """A SIP endpoint on loopback standing for a phone still in the call: answers 200."""

    def __init__(self) -> None:
        self.requests: asyncio.Queue[Request] = asyncio.Queue()
        self.ep = SipEndpoint(self._on_request)

    def _on_request(self, txn: ServerTransaction, request: Request) -> None:
        self.requests.put_nowait(request)
        self.ep.send_response(txn, request.create_response(200))


async def test_start_up_sweep_closes_open_rows_and_sends_bye_to_each_persisted_leg(
        tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    phone = Phone()
    phone_peer = await phone.ep.listen("udp", "127.0.0.1", 0)
    # the run that crashed: an answered call (its caller leg persisted) and a ringing one
    store = await Store.open(path)
    records = CallRecords(store)
    answered = records.open("c-answered", "1001", "1002", 100.0)
    dialog = caller_dialog(phone_peer.port)
    records.answered(answered, 101.0, [("caller", dialog, phone_peer)])
    records.open("c-ringing", "1003", "1002", 102.0)
    await store.close()  # (a SIGKILL leaves the committed rows exactly like this)

    store = await Store.open(path)
    swept = await close_interrupted_calls(store)  # before the switch listens
    assert (swept.closed, swept.byes) == (2, 1)
    switch = SipEndpoint(lambda txn, req: None)
    await switch.listen("udp", "127.0.0.1", 0)
    try:
        hang_up_interrupted(store, switch, swept)
        assert await store.fetch(CDR) == [
            ("closed", "c-answered", "1001", "1002", 100.0, 101.0, None, None, None,
             "INTERRUPTED", "switch", "switch restart"),
            ("closed", "c-ringing", "1003", "1002", 102.0, None, None, None, 0.0,
             "INTERRUPTED", "switch", "switch restart")]
        [interrupted, _] = await store.call_records()
        assert (interrupted.end_time, interrupted.duration, interrupted.billsec) == (
            None, None, None)

        bye = await asyncio.wait_for(phone.requests.get(), 5)
        # the caller's dialog as the phone knows it (RFC 3261 §12.2.1.1)
        assert (bye.method, str(bye.uri), bye.call_id) == (
            "BYE", f"sip:1001@127.0.0.1:{phone_peer.port}", "crash-1@127.0.0.1")
        assert (bye.from_.tag, bye.to.tag) == ("switchtag", "alice1")
        assert bye.get_all("Route") == [f"<sip:127.0.0.1:{phone_peer.port};lr>"]
        assert bye.cseq.number == 1 + CSEQ_GAP
        # its 200 came back: the leg's row is gone, nothing is left to hang up
        for _ in range(50):
            await store.flush()
            if not await store.call_dialogs():
                break
            await asyncio.sleep(0.02)
        assert await store.call_dialogs() == []
        # a second start-up finds nothing to do
        again = await close_interrupted_calls(store)
        assert (again.closed, again.byes) == (0, 0)
    finally:
        await switch.close()
        await phone.ep.close()
        await store.close()


def test_bye_built_from_a_row_continues_the_dialog_above_any_request_relayed_since() -> None:
    dialog = caller_dialog(5062)
    row = dialog_row("uid", "caller", dialog, Peer("udp", "127.0.0.1", 5062))
    for _ in range(3):
        dialog.create_request("INFO")  # relayed after the row was written: not persisted
    bye = bye_request(row)
    assert bye.cseq.number > dialog.local_cseq
    assert (bye.cseq.method, str(bye.to), str(bye.get("From"))) == (
        "BYE", str(dialog.remote_address), str(dialog.local_address))


class Unreachable:
    """An endpoint whose requests never get an answer until the test says how they ended
    (the transaction layer's 408 after Timer F, or nothing: the switch stopped first)."""

    def __init__(self) -> None:
        self.sent: list[tuple[Request, Peer, object]] = []

    def send_request(self, request: Request, peer: Peer, *, on_response: object) -> None:
        self.sent.append((request, peer, on_response))


async def test_an_unreachable_leg_is_given_up_at_timeout_and_retried_if_the_switch_stopped_first(
        tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    store = await Store.open(path)
    records = CallRecords(store)
    for n in ("c1", "c2"):
        uid = records.open(n, "1001", "1002", 1.0)
        records.answered(uid, 2.0, [("caller", caller_dialog(5062, call_id=f"{n}@phone"),
                                     Peer("udp", "10.9.9.9", 5062))])
    await store.close()

    store = await Store.open(path)
    endpoint = Unreachable()
    swept = await close_interrupted_calls(store)
    assert swept.byes == 2
    hang_up_interrupted(store, endpoint, swept)
    (first, _, gave_up), (second, _, _) = endpoint.sent
    gave_up(first.create_response(408))  # Timer F: nobody there any more
    await store.flush()
    await store.close()  # the switch stops before the second BYE's outcome

    store = await Store.open(path)
    endpoint = Unreachable()
    swept = await close_interrupted_calls(store)
    assert (swept.closed, swept.byes) == (0, 1)  # rows already closed; one leg to retry
    hang_up_interrupted(store, endpoint, swept)
    assert [r.call_id for r, _, _ in endpoint.sent] == [second.call_id]
    assert first.call_id != second.call_id
    await store.close()
