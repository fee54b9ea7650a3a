"""Voicemail messages and call-flow toggles in the store (migration 5): the rows behind
`softswitch.apps.mailbox` and `softswitch.apps.call_flow`. Writes are queued like every
other (`Store.write`); loading happens once at start-up."""

from __future__ import annotations

from softswitch.apps.mailbox import MessageRow
from softswitch.apps.voicemail import Folder
from softswitch.store import Store

_UPSERT_MESSAGE = (
    "INSERT INTO voicemail_messages (message_id, box, caller, caller_name, path, seconds,"
    " folder, created_at, call_id) VALUES (?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (message_id) DO UPDATE SET folder=excluded.folder")
_DELETE_MESSAGE = "DELETE FROM voicemail_messages WHERE message_id=?"
_SELECT_MESSAGES = (
    "SELECT message_id, box, caller, caller_name, path, seconds, folder, created_at, call_id"
    " FROM voicemail_messages ORDER BY created_at")
_UPSERT_MODE = (
    "INSERT INTO call_flow_modes (call_flow, forced, changed_at, changed_by) VALUES (?,?,?,?)"
    " ON CONFLICT (call_flow) DO UPDATE SET forced=excluded.forced,"
    " changed_at=excluded.changed_at, changed_by=excluded.changed_by")
_DELETE_MODE = "DELETE FROM call_flow_modes WHERE call_flow=?"


def save_message(store: Store, row: MessageRow) -> None:
    store.write(_UPSERT_MESSAGE, (row.message_id, row.box, row.caller, row.caller_name,
                                  row.path, row.seconds, row.folder.value, row.created_at,
                                  row.call_id))


def delete_message(store: Store, message_id: str) -> None:
    store.write(_DELETE_MESSAGE, (message_id,))


async def load_messages(store: Store) -> list[MessageRow]:
    rows = await store.fetch(_SELECT_MESSAGES)
    return [MessageRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), float(r[5]),
                       Folder(r[6]), float(r[7]), str(r[8])) for r in rows]


def save_call_flow_mode(store: Store, call_flow: str, forced: str, at: float,
                        by: str) -> None:
    """`forced` "" = back to the schedule (the row goes)."""
    if forced:
        store.write(_UPSERT_MODE, (call_flow, forced, at, by))
    else:
        store.write(_DELETE_MODE, (call_flow,))


async def load_call_flow_modes(store: Store) -> dict[str, str]:
    rows = await store.fetch("SELECT call_flow, forced FROM call_flow_modes")
    return {str(r[0]): str(r[1]) for r in rows}
