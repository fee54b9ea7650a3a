"""Crash-safe call records: the call's CDR row from its first moment, and what ending its
legs needs from a new process (DESIGN.md "Storage": open call records survive a restart).

The shells (softswitch.calls.b2bua, softswitch.queue.controller) call one `CallRecords`
method at each step of a call:

- `open` when the call starts: its `cdr` row, state 'open' (returns the row's uid);
- `answered` when the switch confirms the caller's dialog (our 200 OK): the answer time,
  and for each leg the switch holds a dialog on, the state an in-dialog BYE needs
  (RFC 3261 §12.2.1.1: Call-ID, tags and URIs, remote target, route set, next CSeq, and
  where the leg is reached); `leg_confirmed` for a leg confirmed later (a queue's agent);
- `complete` when the call ends: the row gets its disposition, times and statistics, and
  the dialogs are forgotten.

Every write goes through the store's write-behind queue: a call start or answer never
waits for the disk. The queue is committed in order, within one writer round trip (a few
milliseconds; longer only behind a burst). What a SIGKILL in that window loses: a call
started or answered less than one commit before the crash has no open row (so no CDR) or
no dialog rows (so its parties get no BYE after the restart); nothing already committed
is lost.

At start-up (Switch.start), before the SIP listeners are bound, `close_interrupted_calls`:

- closes every row left open with disposition INTERRUPTED, hangup side `switch`, cause
  `switch restart`. Decision: the end time stays NULL (so do duration and billsec, billsec
  0 when the call was never answered): the switch cannot know when the call really ended
  (the parties may have talked on, or hung up into the void), and a report must not
  invent a duration from the crash or restart time;
- reads the persisted legs. Once the listeners are bound (on the port the legs' dialogs
  point to), before the switch is ready, `hang_up_interrupted` sends each a BYE (a UAC
  non-INVITE transaction through the endpoint), logs its outcome (200, 481 when the phone
  already ended the dialog, 408/503 when it cannot be reached), and then deletes that
  leg's row. A leg whose outcome never comes (the switch
  stops again within Timer F) keeps its row: the next start-up tries again.

Decisions and gaps:
- The BYE's CSeq is the persisted next CSeq plus `CSEQ_GAP`: requests the switch relayed
  in the dialog after it was written (re-INVITEs, INFO) used numbers the rows do not know,
  and a BYE with a lower number would be refused with 500 (§12.2.2). A gap is legal: the
  remote side only requires a higher number (§12.2.2: "not an error condition").
- A target refresh after the answer (a phone re-INVITEs with a new Contact) is not
  re-persisted: the BYE goes to the Contact and address of the answer.
- A leg reached over TCP is re-contacted at the address its connection came from (a phone
  rarely listens there; the outcome is then 503 and logged).
- Queue calls persist the caller's leg at answer and the agent's leg when it is connected;
  a callback customer's or a transfer target's leg is not persisted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from softswitch.log import get_logger
from softswitch.sip.dialog import Dialog, DialogState
from softswitch.sip.headers import Address
from softswitch.sip.message import Request, Response
from softswitch.sip.transaction import Peer
from softswitch.sip.uri import SipUri
from softswitch.store.records import CallRecord, DialogRow

__all__ = ["CSEQ_GAP", "INTERRUPTED_CAUSE", "CallRecords", "InterruptedCalls", "bye_request",
           "close_interrupted_calls", "dialog_row", "hang_up_interrupted"]

log = get_logger("calls.records")

CSEQ_GAP = 10_000
INTERRUPTED_CAUSE = "switch restart"

Leg = tuple[str, Dialog | None, Peer | None]  # (leg name, its dialog, where it is reached)


def dialog_row(record_uid: str, leg: str, dialog: Dialog, peer: Peer) -> DialogRow:
    """The persisted form of one leg's dialog (what `bye_request` needs)."""
    return DialogRow(record_uid, leg, dialog.call_id, str(dialog.local_address),
                     str(dialog.remote_address), str(dialog.remote_target),
                     tuple(str(r) for r in dialog.route_set), dialog.local_cseq + 1,
                     peer.transport, peer.host, peer.port)


def bye_request(row: DialogRow) -> Request:
    """The BYE (§15.1.1) a new process sends to a persisted leg: From/To/Call-ID/Route and
    Request-URI as the dialog had them, CSeq `CSEQ_GAP` above the persisted next number."""
    dialog = Dialog(call_id=row.call_id, local_address=Address.parse(row.local_address),
                    remote_address=Address.parse(row.remote_address),
                    remote_target=SipUri.parse(row.remote_target),
                    route_set=[Address.parse(r) for r in row.route_set],
                    local_cseq=row.next_cseq - 1 + CSEQ_GAP, remote_cseq=None,
                    local_target=None, secure=False, state=DialogState.CONFIRMED,
                    is_uac=True)
    return dialog.create_request("BYE")


class CallRecords:
    """The shells' hooks into the crash-safe records (see the module docstring). Every time
    is wall-clock epoch seconds, passed in by the caller. Without a store (shell unit tests)
    nothing is recorded. A store that refuses a write (closed at shutdown) costs the record,
    logged, never the call."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def open(self, call_id: str, caller: str, callee: str, start_time: float) -> str:
        """The call started: writes its open row; returns the row's uid for later steps."""
        uid = uuid.uuid4().hex
        self._write(call_id, lambda: self.store.open_cdr(uid, call_id, caller, callee,
                                                          start_time))
        return uid

    def answered(self, record_uid: str, at: float, legs: Iterable[Leg]) -> None:
        """The caller's dialog is confirmed at `at`; `legs` are the confirmed legs."""
        self._write(record_uid, lambda: self.store.answer_cdr(record_uid, at))
        for leg, dialog, peer in legs:
            self.leg_confirmed(record_uid, leg, dialog, peer)

    def leg_confirmed(self, record_uid: str, leg: str, dialog: Dialog | None,
                      peer: Peer | None) -> None:
        """Persist what a BYE to this leg needs (nothing when it has no dialog)."""
        if dialog is None or peer is None or not record_uid:
            return
        self._write(record_uid, lambda: self.store.save_dialog(
            dialog_row(record_uid, leg, dialog, peer)))

    def complete(self, record_uid: str, record: CallRecord) -> None:
        """The call ended: its row completed, its legs' dialogs forgotten."""
        self._write(record.call_id, lambda: self.store.write_cdr(record, record_uid or None))

    def _write(self, what: str, write: Any) -> None:
        if self.store is None:
            return
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - (a closed store) lose the record, not the call
            log.error("call record not written", call=what, error=repr(exc))


@dataclass(frozen=True, slots=True)
class InterruptedCalls:
    """What the last run left behind: how many open rows were closed, and the legs to hang
    up."""

    closed: int
    legs: tuple[DialogRow, ...]

    @property
    def byes(self) -> int:
        return len(self.legs)


async def close_interrupted_calls(store: Any,
                                  cause: str = INTERRUPTED_CAUSE) -> InterruptedCalls:
    """Close the rows a crash left open and read the persisted legs (module docstring).
    Runs before the SIP listeners are bound, so no new call's row can be taken for one the
    crash left."""
    closed = await store.interrupt_open_calls(cause)
    for record_uid, call_id, caller, callee in closed:
        log.warning("interrupted call closed", call_id=call_id, caller=caller, callee=callee,
                    record=record_uid)
    return InterruptedCalls(len(closed), tuple(await store.call_dialogs()))


def hang_up_interrupted(store: Any, endpoint: Any, interrupted: InterruptedCalls) -> None:
    """BYE every persisted leg; each outcome is logged as it comes and the leg's row then
    deleted. Needs the endpoint listening on the address the legs' dialogs point to."""
    for row in interrupted.legs:
        _send_bye(store, endpoint, row)


def _send_bye(store: Any, endpoint: Any, row: DialogRow) -> None:
    peer = Peer(row.transport, row.host, row.port)
    where = f"{row.transport}:{row.host}:{row.port}"
    try:
        request = bye_request(row)
    except Exception as exc:  # noqa: BLE001 - an unreadable row must not stop the others
        log.error("interrupted call leg not hung up: bad dialog row", leg=row.leg,
                  call_id=row.call_id, error=repr(exc))
        store.delete_dialog(row.record_uid, row.leg)
        return

    def outcome(response: Response) -> None:
        if response.status < 200:
            return
        log.info("interrupted call leg hung up" if response.status < 300 else
                 "interrupted call leg: BYE refused or unanswered", leg=row.leg,
                 call_id=row.call_id, peer=where, status=response.status,
                 reason=response.reason)
        try:
            store.delete_dialog(row.record_uid, row.leg)
        except RuntimeError:
            pass  # the switch is stopping: the next start-up tries again

    log.info("BYE to a leg of an interrupted call", leg=row.leg, call_id=row.call_id,
             peer=where)
    endpoint.send_request(request, peer, on_response=outcome)
