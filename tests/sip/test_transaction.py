"""The four transaction state machines (RFC 3261 §17, RFC 6026) driven against each other
in virtual time: two `TransactionLayer`s and a network that serialises, parses, delivers or
drops every message. No test sleeps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from softswitch.sip import (
    AckReceived,
    CancelReceived,
    ClientInviteTransaction,
    Message,
    Peer,
    Request,
    RequestReceived,
    Response,
    ResponseReceived,
    SendMessage,
    ServerInviteTransaction,
    ServerTransaction,
    StrayResponse,
    TransactionLayer,
    TransactionState,
    TransactionTerminated,
    TransactionTimedOut,
    Via,
    create_cancel,
    new_branch,
    parse_message,
)

T1 = 0.5


class Net:
    """Two layers, A (client side) and B (server side), on one virtual clock."""

    def __init__(self, transport: str = "udp") -> None:
        self.transport = transport
        self.a_addr = Peer(transport, "10.0.0.1", 5061)
        self.b_addr = Peer(transport, "10.0.0.2", 5062)
        self.a = TransactionLayer()
        self.b = TransactionLayer()
        self.now = 0.0
        self.wire: list[tuple[str, float, Message]] = []  # (sender, time, message)
        self.events: dict[str, list[object]] = {"a": [], "b": []}
        self.drop: Callable[[str, Message], bool] = lambda side, msg: False
        self.on_b_request: Callable[[ServerTransaction, Request], None] | None = None

    def request(self, method: str = "OPTIONS", cseq: int = 1, call_id: str = "c1") -> Request:
        a = self.a_addr
        return Request(
            method,
            f"sip:bob@{self.b_addr.host}:{self.b_addr.port}",
            [
                ("Via", Via(self.transport.upper(), a.host, a.port,
                            {"branch": new_branch(), "rport": None})),
                ("Max-Forwards", "70"),
                ("From", "<sip:alice@example.com>;tag=fa"),
                ("To", "<sip:bob@example.com>"),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} {method}"),
            ],
        )

    def _drain(self, side: str) -> bool:
        layer = self.a if side == "a" else self.b
        moved = False
        for out in layer.pop_outputs():
            moved = True
            if isinstance(out, SendMessage):
                sent = out.message
                if isinstance(sent, bytes):  # a stored final response, re-sent
                    sent = parse_message(sent)
                self.wire.append((side, self.now, sent))
                if self.drop(side, sent):
                    continue
                data = parse_message(bytes(sent), stream=self.transport != "udp")
                if side == "a":
                    self.b.receive(data, self.a_addr, self.now)
                else:
                    self.a.receive(data, self.b_addr, self.now)
            else:
                self.events[side].append(out)
                if (side == "b" and isinstance(out, RequestReceived)
                        and self.on_b_request is not None):
                    self.on_b_request(out.transaction, out.request)
        return moved

    def pump(self) -> None:
        while self._drain("a") | self._drain("b"):
            pass

    def run_until(self, t: float) -> None:
        """Advance virtual time to `t`, firing every timer on the way at its deadline."""
        while True:
            deadlines = [d for d in (self.a.next_deadline(), self.b.next_deadline())
                         if d is not None and d <= t]
            if not deadlines:
                break
            self.now = min(deadlines)
            self.a.handle_timers(self.now)
            self.b.handle_timers(self.now)
            self.pump()
        self.now = t

    def sent(self, side: str, what: str) -> list[float]:
        """Times at which `side` sent a request of method `what` or a response of status
        `what`."""
        out = []
        for s, t, m in self.wire:
            if s != side:
                continue
            if isinstance(m, Request) and m.method == what:
                out.append(t)
            if isinstance(m, Response) and str(m.status) == what:
                out.append(t)
        return out

    def of(self, side: str, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events[side] if isinstance(e, kind)]


# -- non-INVITE ------------------------------------------------------------------------


def test_non_invite_retransmits_with_timer_e_and_times_out_with_timer_f() -> None:
    net = Net()
    net.drop = lambda side, msg: True
    txn = net.a.send_request(net.request(), net.b_addr, net.now)
    net.pump()
    net.run_until(40.0)
    # E doubles from T1 up to T2 = 4 s (§17.1.2.2), F = 64*T1 = 32 s.
    assert net.sent("a", "OPTIONS") == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5,
                                        31.5]
    (timeout,) = net.of("a", TransactionTimedOut)
    assert timeout.transaction is txn and timeout.timer == "F"
    assert txn.state is TransactionState.TERMINATED
    assert net.a.transaction_count == 0


def test_lost_final_response_is_resent_for_the_retransmission_and_absorbed() -> None:
    net = Net()
    net.on_b_request = lambda txn, req: net.b.send_response(txn, req.create_response(200,
                                                           to_tag="tb"), net.now)
    drops = {"count": 0}

    def drop_first_200(side: str, msg: Message) -> bool:
        if side == "b" and isinstance(msg, Response) and drops["count"] == 0:
            drops["count"] += 1
            return True
        return False

    net.drop = drop_first_200
    net.a.send_request(net.request(), net.b_addr, net.now)
    net.pump()
    net.run_until(0.6)
    # One request reached the TU; the retransmission got the stored 200.
    assert len(net.of("b", RequestReceived)) == 1
    assert net.sent("b", "200") == [0.0, 0.5]
    finals = net.of("a", ResponseReceived)
    assert [e.response.status for e in finals] == [200]
    # Timer K (T4 = 5 s) ends the client, Timer J (64*T1) the server.
    net.run_until(5.6)
    assert net.a.transaction_count == 0 and net.b.transaction_count == 1
    net.run_until(33.0)
    assert net.b.transaction_count == 0


def test_provisional_moves_client_to_proceeding_and_e_runs_at_t2() -> None:
    net = Net()
    holder: dict[str, ServerTransaction] = {}

    def answer_later(txn: ServerTransaction, req: Request) -> None:
        holder["txn"] = txn
        net.b.send_response(txn, req.create_response(180), net.now)

    net.on_b_request = answer_later
    net.drop = lambda side, msg: side == "b" and isinstance(msg, Response) and net.now > 0
    txn = net.a.send_request(net.request("MESSAGE"), net.b_addr, net.now)
    net.pump()
    assert txn.state is TransactionState.PROCEEDING
    net.run_until(10.0)
    # Timer E keeps its running deadline, then is reset to T2 in Proceeding (§17.1.2.2);
    # each retransmission gets the 180 again.
    assert net.sent("a", "MESSAGE") == [0, 0.5, 4.5, 8.5]
    assert net.sent("b", "180") == [0, 0.5, 4.5, 8.5]


def test_reliable_transport_never_retransmits() -> None:
    net = Net("tcp")
    net.drop = lambda side, msg: True
    txn = net.a.send_request(net.request(), net.b_addr, net.now)
    net.pump()
    net.run_until(40.0)
    assert net.sent("a", "OPTIONS") == [0]
    assert net.of("a", TransactionTimedOut)[0].timer == "F"
    assert txn.state is TransactionState.TERMINATED


def test_reliable_transport_terminates_at_once_after_final() -> None:
    net = Net("tcp")
    net.on_b_request = lambda txn, req: net.b.send_response(txn, req.create_response(200),
                                                           net.now)
    net.a.send_request(net.request(), net.b_addr, net.now)
    net.pump()
    # Timers J and K are zero over TCP.
    assert net.a.transaction_count == 0 and net.b.transaction_count == 0
    assert net.a.next_deadline() is None and net.b.next_deadline() is None


# -- INVITE ----------------------------------------------------------------------------


def test_invite_timer_a_doubles_and_timer_b_times_out() -> None:
    net = Net()
    net.drop = lambda side, msg: True
    txn = net.a.send_request(net.request("INVITE"), net.b_addr, net.now)
    net.pump()
    net.run_until(40.0)
    assert net.sent("a", "INVITE") == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    (timeout,) = net.of("a", TransactionTimedOut)
    assert timeout.timer == "B" and timeout.transaction is txn


def _answering(net: Net, *codes: int) -> None:
    def on_request(txn: ServerTransaction, req: Request) -> None:
        for code in codes:
            net.b.send_response(txn, req.create_response(code, to_tag="tb"), net.now)

    net.on_b_request = on_request


def test_invite_success_with_2xx_retransmitted_until_ack() -> None:
    net = Net()
    _answering(net, 180, 200)
    drops = {"ack": 2}

    def lose_two_acks(side: str, msg: Message) -> bool:
        if isinstance(msg, Request) and msg.method == "ACK" and drops["ack"] > 0:
            drops["ack"] -= 1
            return True
        return False

    net.drop = lose_two_acks
    invite = net.request("INVITE")
    txn = net.a.send_request(invite, net.b_addr, net.now)
    assert isinstance(txn, ClientInviteTransaction)
    net.pump()
    # The server sent 100 itself (§17.2.1), then the TU's 180 and 200.
    assert net.sent("b", "100") == [0] and net.sent("b", "180") == [0]
    statuses = [e.response.status for e in net.of("a", ResponseReceived)]
    assert statuses == [100, 180, 200]
    assert txn.state is TransactionState.ACCEPTED
    # The TU acknowledges the 2xx; the txn re-sends that ACK for each retransmitted 2xx.
    ok = net.of("a", ResponseReceived)[-1].response
    ack = Request("ACK", invite.uri, [
        ("Via", Via("UDP", "10.0.0.1", 5061, {"branch": new_branch()})),
        ("From", invite.get("From") or ""), ("To", str(ok.to)), ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.number} ACK"), ("Max-Forwards", "70"),
    ])
    net.a.send_stateless(ack, net.b_addr)
    txn.set_ack(ack)
    net.pump()
    net.run_until(5.0)
    # 2xx at 0, T1, 2*T1 ...; the first two ACKs are lost, the third stops it (§13.3.1.4).
    assert net.sent("b", "200") == [0, 0.5, 1.5]
    assert len(net.sent("a", "ACK")) == 3
    acks = net.of("b", AckReceived)
    assert len(acks) == 1 and acks[0].transaction is not None
    # 2xx retransmissions were not passed to A's TU again.
    assert [e.response.status for e in net.of("a", ResponseReceived)] == [100, 180, 200]
    net.run_until(40.0)
    assert net.a.transaction_count == 0 and net.b.transaction_count == 0
    assert not net.of("b", TransactionTimedOut)


def test_2xx_without_ack_times_out_with_timer_l() -> None:
    net = Net()
    _answering(net, 200)
    net.drop = lambda side, msg: isinstance(msg, Request) and msg.method == "ACK"
    net.a.send_request(net.request("INVITE"), net.b_addr, net.now)
    net.pump()
    net.run_until(40.0)
    (timeout,) = net.of("b", TransactionTimedOut)
    assert timeout.timer == "L"
    # Without a registered ACK, A's TU sees each 2xx retransmission (RFC 6026 §8.4).
    assert len([e for e in net.of("a", ResponseReceived) if e.response.status == 200]) > 3
    times = net.sent("b", "200")
    assert times[:6] == [0, 0.5, 1.5, 3.5, 7.5, 11.5]


def test_invite_failure_is_acked_by_the_transaction_and_absorbed() -> None:
    net = Net()
    _answering(net, 486)
    lost = {"n": 1}

    def lose_first_ack(side: str, msg: Message) -> bool:
        if isinstance(msg, Request) and msg.method == "ACK" and lost["n"]:
            lost["n"] -= 1
            return True
        return False

    net.drop = lose_first_ack
    txn = net.a.send_request(net.request("INVITE"), net.b_addr, net.now)
    net.pump()
    assert [e.response.status for e in net.of("a", ResponseReceived)] == [100, 486]
    assert txn.state is TransactionState.COMPLETED
    net.run_until(1.0)
    # Timer G re-sent the 486, A answered with the same ACK; B is Confirmed.
    assert net.sent("b", "486") == [0, 0.5]
    acks = [m for s, _t, m in net.wire if s == "a" and isinstance(m, Request)
            and m.method == "ACK"]
    assert len(acks) == 2 and acks[0].via.branch == acks[1].via.branch == txn.key[0]
    assert acks[0].to.tag == "tb" and acks[0].cseq.method == "ACK"
    # The ACK of a non-2xx final is not a TU event (§17.2.1).
    assert not net.of("b", AckReceived)
    server = net.of("b", RequestReceived)[0].transaction
    assert server.state is TransactionState.CONFIRMED
    # Retransmitted 486 stay absorbed at A.
    assert [e.response.status for e in net.of("a", ResponseReceived)] == [100, 486]
    net.run_until(40.0)
    assert net.a.transaction_count == 0 and net.b.transaction_count == 0


def test_non_2xx_final_without_ack_times_out_with_timer_h() -> None:
    net = Net()
    _answering(net, 404)
    net.drop = lambda side, msg: isinstance(msg, Request) and msg.method == "ACK"
    net.a.send_request(net.request("INVITE"), net.b_addr, net.now)
    net.pump()
    net.run_until(40.0)
    assert net.sent("b", "404") == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [e.timer for e in net.of("b", TransactionTimedOut)] == ["H"]


def test_retransmitted_invite_gets_the_last_provisional() -> None:
    net = Net()
    _answering(net, 180)
    net.drop = lambda side, msg: side == "b" and net.now == 0  # lose 100 and 180
    net.a.send_request(net.request("INVITE"), net.b_addr, net.now)
    net.pump()
    net.run_until(0.5)
    assert len(net.of("b", RequestReceived)) == 1
    assert net.sent("b", "180") == [0, 0.5]
    assert [e.response.status for e in net.of("a", ResponseReceived)] == [180]
    net.run_until(10.0)
    # Proceeding: no more INVITE retransmissions, no timeout.
    assert net.sent("a", "INVITE") == [0, 0.5]
    assert not net.of("a", TransactionTimedOut)


def test_cancel_of_a_ringing_invite() -> None:
    net = Net()
    _answering(net, 180)
    invite = net.request("INVITE")
    inv_txn = net.a.send_request(invite, net.b_addr, net.now)
    net.pump()
    net.run_until(1.0)
    cancel_txn = net.a.send_request(create_cancel(invite), net.b_addr, net.now)
    net.pump()
    (cancel_ev,) = net.of("b", CancelReceived)
    server = cancel_ev.transaction
    assert isinstance(server, ServerInviteTransaction)
    assert server.request.call_id == invite.call_id
    # The layer answered the CANCEL itself; the TU answers the INVITE with 487.
    cancel_final = [e for e in net.of("a", ResponseReceived) if e.transaction is cancel_txn]
    assert [e.response.status for e in cancel_final] == [200]
    net.b.send_response(server, server.request.create_response(487, to_tag="tb"), net.now)
    net.pump()
    inv_final = [e.response.status for e in net.of("a", ResponseReceived)
                 if e.transaction is inv_txn]
    assert inv_final == [100, 180, 487]
    assert server.state is TransactionState.CONFIRMED  # ACKed by A's transaction


def test_cancel_without_invite_gets_481() -> None:
    net = Net()
    invite = net.request("INVITE")
    net.a.send_request(create_cancel(invite), net.b_addr, net.now)
    net.pump()
    assert [e.response.status for e in net.of("a", ResponseReceived)] == [481]
    assert net.of("b", CancelReceived)[0].transaction is None


def test_rfc2543_request_without_branch_matches_its_retransmission() -> None:
    net = Net()
    req = net.request()
    req.via.params.clear()  # no branch: RFC 2543 peer
    data = parse_message(bytes(req))
    net.b.receive(data, net.a_addr, 0.0)
    net.b.receive(parse_message(bytes(req)), net.a_addr, 0.3)
    assert len([e for e in net.b.pop_outputs() if isinstance(e, RequestReceived)]) == 1


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    net = Net()
    req = net.request()
    other = parse_message(bytes(req).replace(b"Call-ID: c1", b"Call-ID: c2"))
    assert isinstance(other, Request)
    other.via.host = "10.9.9.9"
    net.b.receive(parse_message(bytes(req)), net.a_addr, 0.0)
    net.b.receive(other, Peer("udp", "10.9.9.9", 5060), 0.0)
    assert len([e for e in net.b.pop_outputs() if isinstance(e, RequestReceived)]) == 2


def test_received_and_rport_are_stamped_on_the_top_via() -> None:
    layer = TransactionLayer()
    req = Net().request()
    layer.receive(parse_message(bytes(req)), Peer("udp", "192.0.2.44", 40000), 0.0)
    (ev,) = [e for e in layer.pop_outputs() if isinstance(e, RequestReceived)]
    assert ev.request.via.params["received"] == "192.0.2.44"
    assert ev.request.via.params["rport"] == "40000"
    assert ev.transaction.peer == Peer("udp", "192.0.2.44", 40000)


def test_stray_response_is_reported() -> None:
    layer = TransactionLayer()
    resp = Net().request().create_response(200)
    layer.receive(parse_message(bytes(resp)), Peer("udp", "10.0.0.2", 5062), 0.0)
    assert isinstance(layer.pop_outputs()[0], StrayResponse)


def test_terminated_events_and_no_leaks_after_many_transactions() -> None:
    net = Net()
    _answering(net, 200)
    for i in range(200):
        net.a.send_request(net.request(call_id=f"c{i}"), net.b_addr, net.now)
        net.pump()
    net.run_until(100.0)
    assert net.a.transaction_count == 0 and net.b.transaction_count == 0
    assert len(net.of("a", TransactionTerminated)) == 200
    assert net.a.next_deadline() is None and net.b.next_deadline() is None


def test_completed_non_invite_transactions_keep_only_bytes() -> None:
    net = Net()
    _answering(net, 200)
    client = net.a.send_request(net.request(), net.b_addr, net.now)
    net.pump()
    server = net.of("b", RequestReceived)[0].transaction
    assert server.state is TransactionState.COMPLETED
    assert server.last_response is None and server.method == "OPTIONS"
    with pytest.raises(RuntimeError):
        _ = server.request
    assert client.state is TransactionState.COMPLETED
    with pytest.raises(RuntimeError):
        _ = client.request
    # A retransmitted request still gets the stored 200.
    retrans = net.wire[0][2]
    net.b.receive(parse_message(bytes(retrans)), net.a_addr, 1.0)
    (again,) = [o for o in net.b.pop_outputs() if isinstance(o, SendMessage)]
    assert isinstance(again.message, bytes) and again.message.startswith(b"SIP/2.0 200 ")


def test_answering_twice_is_refused() -> None:
    net = Net()
    _answering(net, 200)
    net.a.send_request(net.request(), net.b_addr, net.now)
    net.pump()
    server = net.of("b", RequestReceived)[0].transaction
    with pytest.raises(RuntimeError):
        net.b.send_response(server, server.request.create_response(500), net.now)


def test_merged_request_gets_482() -> None:
    """§8.2.2.2: the same request (From tag, Call-ID, CSeq) arriving with another branch."""
    layer = TransactionLayer()
    first = Net().request("OPTIONS")

    def copy_with_new_branch() -> Request:
        m = parse_message(bytes(first))
        assert isinstance(m, Request)
        m.via.params["branch"] = new_branch()
        return m

    layer.receive(parse_message(bytes(first)), Peer("udp", "10.0.0.1", 5061), 0.0)
    (ev,) = [o for o in layer.pop_outputs() if isinstance(o, RequestReceived)]
    layer.receive(copy_with_new_branch(), Peer("udp", "10.0.0.7", 5061), 0.1)
    outs = layer.pop_outputs()
    assert not [o for o in outs if isinstance(o, RequestReceived)]
    assert [o.message.status for o in outs  # type: ignore[union-attr]
            if isinstance(o, SendMessage)] == [482]
    # Once the first is answered (here with a 401), the same CSeq with a new branch is a new
    # attempt (phones that re-use the CSeq after a challenge), not a merge.
    layer.send_response(ev.transaction, ev.request.create_response(401), 0.2)
    layer.pop_outputs()
    layer.receive(copy_with_new_branch(), Peer("udp", "10.0.0.1", 5061), 0.3)
    assert [o for o in layer.pop_outputs() if isinstance(o, RequestReceived)]
    layer.handle_timers(40.0)
    assert layer.transaction_count == 1 and len(layer._merge_index) == 1
