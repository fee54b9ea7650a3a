"""NOTIFY bodies are well-formed XML with the fields phones read (RFC 4235 §4.1, RFC 3863)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from blf_helpers import DI, PIDF

from softswitch.presence import (
    CallState,
    DialogElement,
    DialogView,
    ExtensionCall,
    PresenceView,
    dialog_info_xml,
    pidf_xml,
)
from softswitch.presence.resources import extension_views

ENTITY = "sip:1002@pbx.example"


def test_dialog_info_document_shape() -> None:
    body = dialog_info_xml(ENTITY, 7, DialogView((
        DialogElement(id="c1", state="confirmed", direction="initiator", call_id="c1",
                      local_tag="lt", remote_tag="rt", local_identity=ENTITY,
                      remote_identity="sip:+4930123@pbx.example",
                      remote_display="Müller & <Söhne>", held=True),)))
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == f"{DI}dialog-info"
    assert (root.get("version"), root.get("state"), root.get("entity")) == ("7", "full", ENTITY)
    [d] = root
    assert d.tag == f"{DI}dialog"
    assert {k: d.get(k) for k in ("id", "call-id", "local-tag", "remote-tag", "direction")} == {
        "id": "c1", "call-id": "c1", "local-tag": "lt", "remote-tag": "rt",
        "direction": "initiator"}
    # RFC 4235 schema order: state, (duration, replaces, referred-by, route-set), local, remote
    assert [c.tag for c in d] == [f"{DI}state", f"{DI}local", f"{DI}remote"]
    assert d.findtext(f"{DI}state") == "confirmed"
    param = d.find(f"{DI}local/{DI}target/{DI}param")
    assert param is not None and param.attrib == {"pname": "+sip.rendering", "pvalue": "no"}
    ident = d.find(f"{DI}remote/{DI}identity")
    assert ident is not None and ident.get("display") == "Müller & <Söhne>"
    assert ident.text == "sip:+4930123@pbx.example"
    # no namespace prefixes: phones with naive parsers look for <dialog-info xmlns=...>
    assert b"ns0:" not in body
    assert b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"' in body


def test_extension_views_cover_ringing_outgoing_answered_held() -> None:
    calls = (
        ExtensionCall("in", "recipient", CallState.EARLY, "lt1", "rt1", "sip:1004@x"),
        ExtensionCall("out", "initiator", CallState.PROCEEDING, "lt2", None, "sip:1005@x"),
        ExtensionCall("held", "initiator", CallState.HELD, "lt3", "rt3", "sip:1001@x"),
    )
    dialog, presence = extension_views(ENTITY, True, calls)
    root = ET.fromstring(dialog_info_xml(ENTITY, 0, dialog))
    got = [(d.get("id"), d.get("direction"), d.findtext(f"{DI}state")) for d in root]
    assert got == [("in", "recipient", "early"), ("out", "initiator", "proceeding"),
                   ("held", "initiator", "confirmed")]
    assert root[1].get("remote-tag") is None  # not known yet: left out, not empty
    assert presence.basic == "open" and presence.note == "On hold"
    idle, offline = extension_views(ENTITY, False, ())
    [d] = ET.fromstring(dialog_info_xml(ENTITY, 0, idle))
    assert d.findtext(f"{DI}state") == "terminated"
    assert (offline.basic, offline.note) == ("closed", "Offline")


def test_pidf_document_shape_and_tuple_id_is_an_xml_id() -> None:
    body = pidf_xml("sip:*071001*6400*01@pbx.example",
                    PresenceView("closed", "Agent 1001 paused: Lunch & more"))
    root = ET.fromstring(body)
    assert root.tag == f"{PIDF}presence"
    assert root.get("entity") == "sip:*071001*6400*01@pbx.example"
    tup = root.find(f"{PIDF}tuple")
    assert tup is not None
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", tup.get("id", ""))
    assert tup.findtext(f"{PIDF}status/{PIDF}basic") == "closed"
    assert tup.findtext(f"{PIDF}note") == "Agent 1001 paused: Lunch & more"
