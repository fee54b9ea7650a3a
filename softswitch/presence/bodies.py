"""NOTIFY bodies: dialog-info+xml (RFC 4235 §4) and PIDF (RFC 3863), built with ElementTree
so every value is escaped and the document is well-formed whatever a display name holds."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

DIALOG_INFO_NS = "urn:ietf:params:xml:ns:dialog-info"
PIDF_NS = "urn:ietf:params:xml:ns:pidf"
DIALOG_INFO_TYPE = "application/dialog-info+xml"
PIDF_TYPE = "application/pidf+xml"
MESSAGE_SUMMARY_TYPE = "application/simple-message-summary"

DialogStateName = Literal["trying", "proceeding", "early", "confirmed", "terminated"]
Direction = Literal["initiator", "recipient"]
Basic = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class DialogElement:
    """One <dialog> of RFC 4235 §4.1. Tags are from the observed UA's point of view
    (`local_tag` is the watched extension's tag). `held=True` adds the local target
    parameter `+sip.rendering="no"` (RFC 4235 §4.1.6.2, RFC 3840), which phones show as a
    held call (a blinking lamp on most models)."""

    id: str
    state: DialogStateName
    direction: Direction | None = None
    call_id: str | None = None
    local_tag: str | None = None
    remote_tag: str | None = None
    local_identity: str | None = None
    remote_identity: str | None = None
    remote_display: str | None = None
    held: bool = False


@dataclass(frozen=True, slots=True)
class DialogView:
    """The full state of a resource for the dialog package."""

    dialogs: tuple[DialogElement, ...]


@dataclass(frozen=True, slots=True)
class PresenceView:
    """The full state of a presentity for the presence package (one tuple)."""

    basic: Basic
    note: str
    contact: str | None = None


@dataclass(frozen=True, slots=True)
class MessageSummaryView:
    """The full state of a mailbox lamp for the message-summary package (RFC 3842 §5.2):
    the body as `softswitch.apps.mailbox.message_summary` renders it."""

    body: bytes


def message_summary(account: str, new: int, old: int) -> bytes:
    """RFC 3842 §5.2 body for a mailbox with `new` and `old` voice messages (no urgent
    ones: the switch has none)."""
    lines = [f"Messages-Waiting: {'yes' if new else 'no'}",
             f"Message-Account: {account}",
             f"Voice-Message: {new}/{old} (0/0)"]
    return ("\r\n".join(lines) + "\r\n").encode()


def dialog_info_xml(entity: str, version: int, view: DialogView) -> bytes:
    """A full-state dialog-info document (RFC 4235 §4.1); `version` counts NOTIFYs of one
    subscription from 0 (§4.1.1)."""
    root = ET.Element("dialog-info", {
        "xmlns": DIALOG_INFO_NS, "version": str(version), "state": "full", "entity": entity})
    for d in view.dialogs:
        attrs = {"id": d.id}
        if d.call_id is not None:
            attrs["call-id"] = d.call_id
        if d.local_tag is not None:
            attrs["local-tag"] = d.local_tag
        if d.remote_tag is not None:
            attrs["remote-tag"] = d.remote_tag
        if d.direction is not None:
            attrs["direction"] = d.direction
        el = ET.SubElement(root, "dialog", attrs)
        ET.SubElement(el, "state").text = d.state
        if d.local_identity is not None or d.held:
            local = ET.SubElement(el, "local")
            if d.local_identity is not None:
                ET.SubElement(local, "identity").text = d.local_identity
            target = ET.SubElement(local, "target",
                                   {"uri": d.local_identity or entity})
            if d.held:
                ET.SubElement(target, "param",
                              {"pname": "+sip.rendering", "pvalue": "no"})
        if d.remote_identity is not None:
            remote = ET.SubElement(el, "remote")
            ident = ET.SubElement(remote, "identity")
            ident.text = d.remote_identity
            if d.remote_display:
                ident.set("display", d.remote_display)
            ET.SubElement(remote, "target", {"uri": d.remote_identity})
    return _serialize(root)


_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def pidf_xml(entity: str, view: PresenceView) -> bytes:
    """A PIDF document (RFC 3863 §4) with one tuple: basic status, optional contact, note."""
    root = ET.Element("presence", {"xmlns": PIDF_NS, "entity": entity})
    # tuple id is an xs:ID: it must start with a letter or '_' and holds no '*' or '@'.
    tuple_id = "t-" + _NOT_ID_CHARS.sub("_", entity.split(":", 1)[-1])
    tup = ET.SubElement(root, "tuple", {"id": tuple_id})
    status = ET.SubElement(tup, "status")
    ET.SubElement(status, "basic").text = view.basic
    if view.contact is not None:
        ET.SubElement(tup, "contact").text = view.contact
    ET.SubElement(tup, "note").text = view.note
    ET.SubElement(root, "note").text = view.note
    return _serialize(root)


def _serialize(root: ET.Element) -> bytes:
    # Tags are unqualified and the root carries xmlns: ElementTree then writes the default
    # namespace phones expect (no ns0: prefixes) without a global register_namespace.
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"
