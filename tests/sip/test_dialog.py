"""Dialogs (RFC 3261 §12): ids, route sets, remote target, CSeq rules, in-dialog requests,
ACK for 2xx, CANCEL (§9.1)."""

from __future__ import annotations

from softswitch.sip import (
    Dialog,
    DialogId,
    DialogState,
    Request,
    Response,
    Via,
    create_cancel,
    dialog_id_of,
    parse_message,
)

INVITE = (
    b"INVITE sip:1002@switch.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKinv1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Route: <sip:edge.example.com;lr>\r\n"
    b"From: \"Alice\" <sip:1001@switch.example.com>;tag=alice1\r\n"
    b"To: <sip:1002@switch.example.com>\r\n"
    b"Call-ID: dlg-1@10.0.0.5\r\n"
    b"CSeq: 101 INVITE\r\n"
    b"Contact: <sip:1001@10.0.0.5:5062>\r\n"
    b"Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n"
    b"Proxy-Authorization: Digest username=\"1001\", realm=\"r\", nonce=\"n\", "
    b"uri=\"sip:1002@switch.example.com\", response=\"x\"\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def with_via(req: Request) -> bytes:
    """The request as the endpoint would send it (it adds the Via)."""
    req.insert_via(Via("UDP", "10.0.0.6", 5070, {"branch": "z9hG4bKdlg"}))
    return bytes(req)


def invite() -> Request:
    m = parse_message(INVITE)
    assert isinstance(m, Request)
    return m


def answer(req: Request, status: int = 200) -> Response:
    resp = req.create_response(status, to_tag="bob9", headers=[
        ("Contact", "<sip:1002@10.0.0.6:5070;transport=udp>")])
    return resp


def test_uas_dialog_from_invite_and_our_200() -> None:
    req = invite()
    d = Dialog.create_uas(req, answer(req))
    assert d.id == DialogId("dlg-1@10.0.0.5", "bob9", "alice1")
    assert d.id == dialog_id_of(req.create_response(200, to_tag="bob9"), uas=True)
    assert d.state is DialogState.CONFIRMED
    assert str(d.remote_target) == "sip:1001@10.0.0.5:5062"
    assert [r.uri.host for r in d.route_set] == ["p2.example.com", "p1.example.com"]
    assert d.remote_cseq == 101 and d.local_cseq == 0
    bye = d.create_request("BYE")
    assert str(bye.uri) == "sip:1001@10.0.0.5:5062"
    assert [r.uri.host for r in bye.routes] == ["p2.example.com", "p1.example.com"]
    assert bye.from_.tag == "bob9" and bye.to.tag == "alice1"
    assert bye.to.display_name == "Alice"
    assert (bye.cseq.number, bye.cseq.method) == (1, "BYE")
    assert not bye.has("Via")  # the endpoint adds it
    assert d.next_hop().host == "p2.example.com"
    again = parse_message(with_via(bye))
    assert again.call_id == "dlg-1@10.0.0.5"


def test_uac_dialog_route_set_is_reversed_and_target_from_contact() -> None:
    req = invite()
    resp = parse_message(bytes(answer(req)))
    assert isinstance(resp, Response)
    d = Dialog.create_uac(req, resp)
    assert d.id == DialogId("dlg-1@10.0.0.5", "alice1", "bob9")
    assert d.id == dialog_id_of(resp, uas=False)
    assert [r.uri.host for r in d.route_set] == ["p1.example.com", "p2.example.com"]
    assert d.remote_target.port == 5070 and d.local_cseq == 101
    reinvite = d.create_request("INVITE", body=b"v=0\r\n")
    assert reinvite.cseq.number == 102 and reinvite.content_type == "application/sdp"
    assert reinvite.get("Contact") == "<sip:1001@10.0.0.5:5062>"  # target refresh carries it
    ack = d.create_ack(req)
    assert (ack.cseq.number, ack.cseq.method) == (101, "ACK")
    assert ack.get("Proxy-Authorization") == req.get("Proxy-Authorization")
    assert d.local_cseq == 102  # ACK does not take a number


def test_lower_cseq_is_rejected_with_500() -> None:
    req = invite()
    d = Dialog.create_uas(req, answer(req))
    info = with_via(d.create_request("INFO"))  # a template for incoming requests
    incoming = parse_message(info.replace(b"CSeq: 1 INFO", b"CSeq: 100 INFO"))
    assert isinstance(incoming, Request)
    resp = d.receive_request(incoming)
    assert resp is not None and resp.status == 500
    ok = parse_message(info.replace(b"CSeq: 1 INFO", b"CSeq: 102 INFO"))
    assert isinstance(ok, Request)
    assert d.receive_request(ok) is None and d.remote_cseq == 102


def test_reinvite_refreshes_remote_target_and_bye_terminates() -> None:
    req = invite()
    d = Dialog.create_uas(req, answer(req))
    reinv = parse_message(INVITE.replace(b"CSeq: 101", b"CSeq: 102").replace(
        b"Contact: <sip:1001@10.0.0.5:5062>", b"Contact: <sip:1001@10.0.0.99:5062>"))
    assert isinstance(reinv, Request)
    assert d.receive_request(reinv) is None
    assert d.remote_target.host == "10.0.0.99"
    bye = parse_message(INVITE.replace(b"INVITE", b"BYE").replace(b"CSeq: 101", b"CSeq: 103"))
    assert isinstance(bye, Request)
    assert d.receive_request(bye) is None and d.state is DialogState.TERMINATED


def test_early_dialog_confirmed_by_2xx() -> None:
    req = invite()
    ringing = parse_message(bytes(answer(req, 180)))
    assert isinstance(ringing, Response)
    d = Dialog.create_uac(req, ringing)
    assert d.state is DialogState.EARLY
    ok = parse_message(bytes(req.create_response(200, to_tag="bob9", headers=[
        ("Contact", "<sip:1002@10.0.0.7>")])).replace(b"Record-Route: <sip:p2.example.com;lr>,"
                                                       b" <sip:p1.example.com;lr>\r\n", b""))
    assert isinstance(ok, Response)
    d.receive_response(ok)
    assert d.state is DialogState.CONFIRMED
    assert d.route_set == [] and d.remote_target.host == "10.0.0.7"
    # An error final ends an early dialog.
    d2 = Dialog.create_uac(req, ringing)
    d2.receive_response(req.create_response(486, to_tag="bob9"))
    assert d2.state is DialogState.TERMINATED


def test_strict_route_puts_the_route_in_the_request_uri() -> None:
    req = invite()
    resp = answer(req)
    resp.set("Record-Route", "<sip:strict.example.com>")
    d = Dialog.create_uac(req, resp)
    bye = d.create_request("BYE")
    assert bye.uri.host == "strict.example.com"
    assert [r.uri.host for r in bye.routes] == ["10.0.0.6"]  # the remote target goes last


def test_cancel_matches_the_invite() -> None:
    req = invite()
    cancel = create_cancel(req)
    assert cancel.method == "CANCEL" and str(cancel.uri) == str(req.uri)
    assert cancel.via.branch == req.via.branch and len(cancel.vias) == 1
    assert (cancel.cseq.number, cancel.cseq.method) == (101, "CANCEL")
    assert cancel.call_id == req.call_id and cancel.from_.tag == "alice1"
    assert cancel.to.tag is None
    assert [r.uri.host for r in cancel.routes] == ["edge.example.com"]
    assert parse_message(bytes(cancel)).method == "CANCEL"  # type: ignore[union-attr]
